"""Pictures a reviewer can see without a browser or network: the DVC plots' data rendered to
SVG with matplotlib (`dvc plots show` writes a page that loads vega from a CDN and renders blank
offline). Text stays text in the SVG, and the files carry no date, so a rerun with the same
metrics writes the same bytes.

- training.svg: training loss and dev accuracy per logged step (DVCLive's files);
- tradeoff.svg: test macro-F1 against size and against batch-1 latency, one labelled point per model;
- confusion.svg: confusion matrices with counts, FP32 beside each int8 model;
- speed.svg: batch throughput and batch-1 latency per model, trained and bert-base shape, with the machine.
"""

import csv
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "bert-int8", "font.size": 9})
    return plt


def _save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _tsv(path, column):
    with open(path, encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [int(r["step"]) for r in rows], [float(r[column]) for r in rows]


def training(loss_tsv, accuracy_tsv, out):
    """Loss and dev accuracy per logged step; a model passed on untrained (model.finetuned) has
    no loss, and says so."""
    plt = _pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3))
    if Path(loss_tsv).is_file():
        a.plot(*_tsv(loss_tsv, "loss"), marker=".")
    else:
        a.text(0.5, 0.5, "not trained here (model.finetuned)", ha="center", va="center", transform=a.transAxes)
    a.set(title="training loss", xlabel="logged step", ylabel="loss")
    b.plot(*_tsv(accuracy_tsv, "accuracy"), marker="o")
    b.set(title="dev accuracy", xlabel="logged step", ylabel="accuracy")
    return _save(fig, out)


def tradeoff(evaluation, benchmark, out):
    plt = _pyplot()
    trained = benchmark["trained"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in (
        (axes[0], "file_bytes", "size on disk (MiB)"),
        (axes[1], "latency_ms_p50", "batch-1 p50 (ms)"),
    ):
        points = {}  # models on (about) the same spot share one label, placed at their first point
        for name, r in trained.items():
            x = r[key] / 2**20 if key == "file_bytes" else r[key]
            y = evaluation[name]["macro_f1"]
            ax.scatter(x, y, color="tab:red" if name.endswith("int8") else "tab:blue")
            spot = (round(x) if key == "file_bytes" else round(x, 1), y)
            points.setdefault(spot, (x, y, []))[2].append(name)
        for x, y, names in points.values():
            ax.annotate(", ".join(names), (x, y), textcoords="offset points", xytext=(4, 3), fontsize=7)
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set(xlabel=label, ylabel="test macro-F1")
    fig.suptitle("macro-F1 against size and latency (red: int8)")
    fig.tight_layout()
    return _save(fig, out)


def confusion_counts(csv_path, classes):
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=int)
    with open(csv_path, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            m[index[row["actual"]], index[row["predicted"]]] += 1
    return m


def confusion(confusion_dir, classes, out):
    plt = _pyplot()
    names = ["fp32"] + sorted(p.stem for p in Path(confusion_dir).glob("*int8.csv"))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2))
    for ax, name in zip(np.atleast_1d(axes), names):
        m = confusion_counts(Path(confusion_dir) / f"{name}.csv", classes)
        ax.imshow(m, cmap="Blues")
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    str(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if m[i, j] > m.max() / 2 else "black",
                )
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set(title=name, xlabel="predicted", ylabel="actual")
    return _save(fig, out)


def speed(benchmark, out):
    plt = _pyplot()
    setup = benchmark["setup"]
    groups = [g for g in ("trained", "bert_base_shape") if g in benchmark]
    fig, axes = plt.subplots(len(groups), 2, figsize=(10, 3.2 * len(groups)), squeeze=False)
    for row, group in zip(axes, groups):
        names = list(benchmark[group])
        colors = ["tab:red" if n.endswith("int8") else "tab:green" if n.endswith("bf16") else "tab:blue" for n in names]
        thr = [benchmark[group][n]["throughput_seq_per_s"] for n in names]
        lat = [benchmark[group][n]["latency_ms_p50"] for n in names]
        row[0].barh(names, thr, color=colors)
        row[0].set(title=f"{group}: batch-{setup['batch_size']} sequences/s (higher is better)")
        row[1].barh(names, lat, color=colors)
        row[1].set(title=f"{group}: batch-1 p50 ms (lower is better)")
    fig.suptitle(f"{setup['cpu']} ({setup['isa']}), {setup['threads']} threads, seq {setup['seq_len']}", fontsize=9)
    fig.tight_layout()
    return _save(fig, out)


def render_all(evaluation, benchmark, classes, dvclive_dir, confusion_dir, out_dir):
    out_dir, metrics = Path(out_dir), Path(dvclive_dir) / "plots" / "metrics"
    return [
        training(metrics / "loss.tsv", metrics / "eval" / "accuracy.tsv", out_dir / "training.svg"),
        tradeoff(evaluation, benchmark, out_dir / "tradeoff.svg"),
        confusion(confusion_dir, classes, out_dir / "confusion.svg"),
        speed(benchmark, out_dir / "speed.svg"),
    ]
