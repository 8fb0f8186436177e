"""Pictures a reviewer can see without a browser or network: the DVC plots' data rendered to
SVG with matplotlib (`dvc plots show` writes a page that loads vega from a CDN and renders blank
offline). Text stays text in the SVG, and the files carry no date, so a rerun with the same
metrics writes the same bytes.

- training.svg: training loss and dev accuracy per logged step (DVCLive's files);
- tradeoff.svg: test macro-F1 against size and against batch-1 latency, one labelled point per
  model, with 95% intervals (F1: paired bootstrap of the drop against FP32; latency: the timed
  passes); the F1 axis spans at least FP32's interval, and each model's verdict is printed below;
- frontier.svg: test macro-F1 against the real-title rate, every model (the teacher's, the
  student's and the classical floor), both with 95% intervals, and the frontier: the models no
  other model beats in both;
- confusion.svg: confusion matrices with counts, FP32 beside each int8 model;
- speed.svg: batch throughput and batch-1 latency per model with 95% intervals, trained model and
  reference shape, real test titles (steady and cold first pass), the machine, the calls (a tie
  says "tie") and any model whose figures were disturbed.
"""

import csv
import textwrap
from pathlib import Path

import numpy as np

from bert_int8.core import atomic, paths
from bert_int8.core.errors import PipelineError
from bert_int8.core.metrics_files import read_metrics
from bert_int8.core.reports import Figure
from bert_int8.data.splits import prepared_classes
from bert_int8.stats.ranking import named


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


def _rows(path, delimiter=","):
    """The rows of a CSV or TSV file with a header; one line naming the file if it is missing
    or unreadable (the stage's promise)."""
    try:
        with open(path, encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter=delimiter))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run the stage that writes it: dvc repro)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise PipelineError(f"{path}: cannot read it ({err})") from None


def _tsv(path, column):
    rows = _rows(path, "\t")
    try:
        return [int(r["step"]) for r in rows], [float(r[column]) for r in rows]
    except (KeyError, TypeError, ValueError) as err:
        raise PipelineError(f"{path}: no numeric step and {column} columns ({err!r})") from None


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


def _interval(row, key):
    """(value, lo, hi) of `row[key]` (reports.Figure)."""
    f = Figure.read(row, key)
    return f.value, f.lo, f.hi


def _err(values):
    """matplotlib's [[below], [above]] error lengths from (value, lo, hi) triples (never negative:
    an interval rounded to 4 digits can miss its own point by a hair)."""
    return [[max(0.0, v - lo) for v, lo, _ in values], [max(0.0, hi - v) for v, _, hi in values]]


def fp32_f1_span(evaluation):
    """(lo, hi) the F1 axis must cover at least, or None without FP32's accuracy interval.

    FP32's macro-F1 has no interval of its own in evaluate.json; its accuracy has a Wilson 95%
    interval over the same test titles, and macro-F1 on balanced classes moves with accuracy. So
    the span is FP32's accuracy interval moved onto its macro-F1 (the same distances below and
    above). A difference of a few titles then shows as what it is, noise inside that span, not a
    gap filling the plot."""
    fp32 = evaluation["fp32"]
    if "accuracy_lo" not in fp32 or "accuracy_hi" not in fp32:
        return None
    f1, acc = fp32["macro_f1"], fp32["accuracy"]
    return f1 - (acc - fp32["accuracy_lo"]), f1 + (fp32["accuracy_hi"] - acc)


def f1_interval(evaluation, name):
    """(macro-F1, lo, hi) of one model on test: FP32's macro-F1 minus the paired-bootstrap 95%
    interval of the model's drop (`<name>_vs_fp32`), i.e. F1_fp32 - drop_hi .. F1_fp32 - drop_lo;
    FP32 itself, or a model without that interval, has none (lo = hi = its F1)."""
    f1 = evaluation[name]["macro_f1"]
    versus = evaluation.get(f"{name}_vs_fp32") or {}
    if "macro_f1_drop_lo" not in versus or "macro_f1_drop_hi" not in versus:
        return f1, f1, f1
    base = evaluation["fp32"]["macro_f1"]
    return f1, base - versus["macro_f1_drop_hi"], base - versus["macro_f1_drop_lo"]


LABEL_OFFSETS = (8, -8, 22, -22)  # points above (+) or below (-) a model's dot


def _spots(points, xspan, yspan, share=0.03):
    """Groups of (x, y, [names]): a point within `share` of both axes' spans of a group's first
    point joins it (one label for models drawn on one spot); first come, first grouped."""
    groups = []
    for x, y, name in points:
        for gx, gy, names in groups:
            if abs(x - gx) <= share * xspan and abs(y - gy) <= share * yspan:
                names.append(name)
                break
        else:
            groups.append((x, y, [name]))
    return groups


def _verdict_line(name, versus):
    if "macro_f1_drop_lo" not in versus:
        return f"{name}: macro-F1 drop {versus['macro_f1_drop']:+.4f}"
    line = (
        f"{name}: macro-F1 drop {versus['macro_f1_drop']:+.4f} "
        f"[{versus['macro_f1_drop_lo']:+.4f}, {versus['macro_f1_drop_hi']:+.4f}]"
    )
    if "verdict" in versus:
        line += f", {versus['verdict']}"
    if "loses_at_most" in versus:
        line += f"; loses at most {100 * versus['loses_at_most']:.2f} point at 95%"
    return line


def tradeoff_figure(evaluation, benchmark):
    """The trade-off figure (see `tradeoff`), not yet saved: tests read its axes' limits."""
    plt = _pyplot()
    trained = {n: r for n, r in benchmark["trained"].items() if n in evaluation}
    names = list(trained)
    f1 = {n: f1_interval(evaluation, n) for n in names}
    span = fp32_f1_span(evaluation)
    lows = [lo for _, lo, _ in f1.values()] + ([span[0]] if span else [])
    highs = [hi for _, _, hi in f1.values()] + ([span[1]] if span else [])
    pad = 0.08 * max(max(highs) - min(lows), 1e-4)
    ylim = (min(lows) - pad, max(highs) + pad)  # covers every interval and FP32's span

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, key, label in (
        (axes[0], "file_bytes", "size on disk (MiB)"),
        (axes[1], "latency_ms_p50", "batch-1 p50 latency (ms)"),
    ):
        if key == "file_bytes":  # a size is exact: no interval
            xs = {n: (trained[n][key] / 2**20,) * 3 for n in names}
        else:
            xs = {n: _interval(trained[n], key) for n in names}
        if span:
            ax.axhspan(*span, color="0.85", zorder=0, label="FP32: its accuracy's 95% interval around its macro-F1")
        for name in names:
            color = _color(name)
            ax.errorbar(
                xs[name][0],
                f1[name][0],
                xerr=_err([xs[name]]),
                yerr=_err([f1[name]]),
                fmt="o",
                color=color,
                ecolor=color,
                elinewidth=1,
                capsize=3,
            )
        low = min(x[1] for x in xs.values())
        high = max(x[2] for x in xs.values())
        spots = _spots([(xs[n][0], f1[n][0], n) for n in names], high - low or 1.0, ylim[1] - ylim[0])
        # models within a few titles of each other sit on one line across the wide F1 axis: their
        # labels take turns above and below it, at growing distances, left to right
        for i, (x, y, group) in enumerate(sorted(spots, key=lambda s: s[0])):
            dy = LABEL_OFFSETS[i % len(LABEL_OFFSETS)]
            right = x > low + 0.6 * (high - low)  # labels on the right half run leftwards, inside the axes
            ax.annotate(
                ", ".join(group),
                (x, y),
                textcoords="offset points",
                xytext=(-3 if right else 3, dy),
                ha="right" if right else "left",
                va="bottom" if dy > 0 else "top",
                fontsize=7,
                arrowprops={"arrowstyle": "-", "color": "0.6", "linewidth": 0.5, "shrinkA": 0, "shrinkB": 3},
            )
        ax.ticklabel_format(axis="y", useOffset=False)
        ax.set(xlabel=label, ylim=ylim)
    axes[0].set_ylabel("test macro-F1")
    if span:
        axes[0].legend(loc="lower right", fontsize=7)
    fig.suptitle("macro-F1 against size and batch-1 latency (red: int8, green: bf16, blue: fp32)")
    fig.tight_layout()
    notes = [
        "error bars: F1, FP32's macro-F1 minus the paired-bootstrap 95% interval of each model's drop against FP32; "
        "latency, the 95% interval of the median over timed passes"
    ]
    notes += [_verdict_line(n, evaluation[f"{n}_vs_fp32"]) for n in names if f"{n}_vs_fp32" in evaluation]
    fig.text(0.01, -0.01, "\n".join(notes), ha="left", va="top", fontsize=7)
    return fig


def tradeoff(evaluation, benchmark, out):
    """Test macro-F1 against size and against batch-1 latency, with 95% intervals; the F1 axis
    spans at least FP32's interval (`fp32_f1_span`)."""
    return _save(tradeoff_figure(evaluation, benchmark), out)


def pareto_front(points):
    """The names of `points` ((name, rate, f1), higher is better in both) that no other point
    matches or beats in both with one strictly better, fastest first."""
    front, best_f1 = [], float("-inf")
    for name, _rate, f1 in sorted(points, key=lambda p: (-p[1], -p[2])):
        if f1 > best_f1:
            front.append(name)
            best_f1 = f1
    return front


def frontier_rows(evaluation, benchmark):
    """name -> ((titles/s, lo, hi), (macro-F1, lo, hi)) of every model with both figures: the
    timed models' real-title rates and the classical floor's."""
    rates = dict(benchmark.get("real_titles", {}))
    if "classical" in benchmark:
        rates["classical"] = benchmark["classical"]
    return {
        n: (_interval(r, "dynamic_titles_per_s"), f1_interval(evaluation, n))
        for n, r in rates.items()
        if n in evaluation
    }


def frontier(evaluation, benchmark, out):
    """Test macro-F1 against real titles/s (log scale), 95% intervals on both, every model, and
    the frontier through the models nothing beats in both."""
    plt = _pyplot()
    rows = frontier_rows(evaluation, benchmark)
    front = pareto_front([(n, rate[0], f1[0]) for n, (rate, f1) in rows.items()])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, (rate, f1) in rows.items():
        color = "tab:gray" if name == "classical" else "tab:orange" if name.startswith("student_") else _color(name)
        ax.errorbar(
            rate[0], f1[0], xerr=_err([rate]), yerr=_err([f1]), fmt="o", color=color, ecolor=color, elinewidth=1,
            capsize=3,
        )  # fmt: skip
        ax.annotate(name, (rate[0], f1[0]), textcoords="offset points", xytext=(4, 4), fontsize=7)
    xs = [rows[n][0][0] for n in front]
    ys = [rows[n][1][0] for n in front]
    ax.step(xs, ys, where="post", color="0.4", linewidth=1, linestyle="--", label="frontier: " + ", ".join(front))
    ax.set_xscale("log")
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set(xlabel="real test titles per second (log scale)", ylabel="test macro-F1")
    ax.legend(loc="lower left", fontsize=7)
    fig.suptitle(
        "macro-F1 against the real-title rate (blue fp32, green bf16, red int8: the teacher's; orange: the "
        "student's; gray: the classical floor)",
        fontsize=8,
    )
    fig.tight_layout()
    fig.text(
        0.01,
        -0.01,
        "error bars: F1, the teacher's FP32 macro-F1 minus the paired-bootstrap 95% interval of each model's drop "
        "against it; rate, the 95% interval of the median over timed passes",
        ha="left",
        va="top",
        fontsize=7,
    )
    return _save(fig, out)


def confusion_counts(csv_path, classes):
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=int)
    for n, row in enumerate(_rows(csv_path), start=2):
        try:
            m[index[row["actual"]], index[row["predicted"]]] += 1
        except KeyError:
            raise PipelineError(
                f"{csv_path}: line {n}: no actual/predicted column, or a label not in {classes}"
            ) from None
    return m


def confusion(confusion_dir, classes, out):
    plt = _pyplot()
    names = ["fp32"] + sorted(p.stem for p in Path(confusion_dir).glob("*.csv") if _is_int8(p.stem))
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


GROUP_TITLES = {"trained": "trained model", "reference_shape": "reference shape"}
CALL_ORDER = (
    "batch_1",
    "batch_64",
    "int8_batch_1",
    "int8_batch_64",
    "baseline_batch_1",
    "baseline_batch_64",
    "real_titles",
    "int8_real_titles",
    "real_titles_batch_1",
    "int8_real_titles_batch_1",
)


def _is_int8(name):
    """onnx_int8, onnx_int8_static, student_int8, ...: a name's words are its role, runtime
    prefix, precision and method (backends.model_name)."""
    return "int8" in name.split("_")


def _color(name):
    """Red for int8 models, green for BF16, blue for the rest."""
    return "tab:red" if _is_int8(name) else "tab:green" if "bf16" in name.split("_") else "tab:blue"


def _group_title(benchmark, group):
    if group == "reference_shape":
        config = (benchmark.get("reference_shape_config") or {}).get("config")
        return f"reference shape ({config}, random weights)" if config else "reference shape (random weights)"
    return GROUP_TITLES.get(group, group)


def _calls_line(benchmark, group):
    """ "<group>: fastest at 95%: batch 1: a; batch 64: tie: b, c; ..." from `winners` (a call is
    a model's name, or "tie: ..." naming the models whose intervals overlap the best one's)."""
    winners = (benchmark.get("winners") or {}).get(group) or {}
    keys = [k for k in CALL_ORDER if winners.get(k)] + sorted(k for k in winners if k not in CALL_ORDER and winners[k])
    if not keys:
        return None
    calls = []
    for key in keys:
        models = named(winners[key])
        said = winners[key] if len(models) == 1 else "tie: " + ", ".join(models)
        calls.append(f"{key.replace('_', ' ')}: {said}")
    return f"{_group_title(benchmark, group)}, fastest (intervals clear of the runner-up): " + "; ".join(calls)


def _hbars(ax, names, values, disturbed, title, offset=0.0, height=0.8, alpha=1.0, label=None, errors=True):
    """Horizontal bars, first model on top, with the 95% interval as error bars; a disturbed
    model's bar hatched."""
    ys = np.arange(len(names)) + offset
    bars = ax.barh(
        ys,
        [v for v, _, _ in values],
        height=height,
        color=[_color(n) for n in names],
        alpha=alpha,
        xerr=_err(values) if errors else None,
        error_kw={"elinewidth": 1, "capsize": 2, "ecolor": "black"},
        label=label,
    )
    for bar, name in zip(bars, names):
        if disturbed.get(name):
            bar.set_hatch("//")
    ax.set_yticks(np.arange(len(names)), [f"{n} (disturbed)" if disturbed.get(n) else n for n in names])
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_title(title)


def speed(benchmark, out):
    """Batch throughput and batch-1 latency per model (median, 95% interval) for the trained model
    and the reference shape; real titles (steady, with the interval, and the cold first pass) for
    the trained model; which calls are ties, and which figures were disturbed."""
    plt = _pyplot()
    setup = benchmark["setup"]
    groups = [g for g in ("trained", "reference_shape") if g in benchmark]
    real = benchmark.get("real_titles") or {}
    ncols = 3 if real else 2
    fig, axes = plt.subplots(len(groups), ncols, figsize=(5 * ncols, 3.4 * len(groups)), squeeze=False)
    notes, shares = [], setup.get("others_cpu_share") or {}
    for row, group in zip(axes, groups):
        models = benchmark[group]
        names = list(models)
        disturbed = {n: bool(models[n].get("disturbed")) for n in names}
        title = _group_title(benchmark, group)
        _hbars(
            row[0],
            names,
            [_interval(models[n], "throughput_seq_per_s") for n in names],
            disturbed,
            f"{title}\nbatch-{setup['batch_size']} sequences/s (higher is better)",
        )
        _hbars(
            row[1],
            names,
            [_interval(models[n], "latency_ms_p50") for n in names],
            disturbed,
            f"{title}\nbatch-1 p50 latency, ms (lower is better)",
        )
        if ncols == 3:
            if group == "trained":
                titled = [n for n in names if n in real] + [n for n in real if n not in names]
                marked = {n: bool(real[n].get("disturbed")) for n in titled}
                steady = [_interval(real[n], "dynamic_titles_per_s") for n in titled]
                _hbars(row[2], titled, steady, marked, "", -0.2, 0.4, label="steady: median of the timed passes")
                cold = [(real[n].get("cold_titles_per_s", 0.0),) * 3 for n in titled]
                _hbars(row[2], titled, cold, marked, "", 0.2, 0.4, 0.4, "cold: first pass, shapes unseen", False)
                row[2].set_title(f"{title}\nreal test titles, titles/s (higher is better)")
                row[2].legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, fontsize=7)
                disturbed.update(marked)
            else:
                row[2].axis("off")
        if line := _calls_line(benchmark, group):
            notes.append(line)
        for name in sorted(n for n, d in disturbed.items() if d):
            share = (shares.get(group) or {}).get(name)
            said = f" (others' worst share of the CPU while it was timed: {share:.0%})" if share is not None else ""
            notes.append(f"{title}: {name} disturbed{said}; its figures are marked (hatched)")
    if setup.get("interval"):
        notes.append("error bars: " + setup["interval"])
    fig.suptitle(
        f"{setup['cpu']} ({setup['isa']}), {setup['threads']} threads, seq {setup['seq_len']}\n"
        "red: int8, green: bf16, blue: fp32",
        fontsize=9,
    )
    fig.tight_layout()
    if notes:
        wrapped = [textwrap.fill(n, 170, subsequent_indent="    ") for n in notes]
        fig.text(0.01, -0.01, "\n".join(wrapped), ha="left", va="top", fontsize=7)
    return _save(fig, out)


def render_all(evaluation, benchmark, classes, dvclive_dir, confusion_dir, out_dir):
    out_dir, metrics = Path(out_dir), Path(dvclive_dir) / "plots" / "metrics"
    return [
        training(metrics / "loss.tsv", metrics / "eval" / "accuracy.tsv", out_dir / "training.svg"),
        tradeoff(evaluation, benchmark, out_dir / "tradeoff.svg"),
        frontier(evaluation, benchmark, out_dir / "frontier.svg"),
        confusion(confusion_dir, classes, out_dir / "confusion.svg"),
        speed(benchmark, out_dir / "speed.svg"),
    ]


def run():
    """The figures stage: every picture from the committed metrics and plots' data, written
    together to plots/images/."""
    evaluation = read_metrics(paths.METRICS / "evaluate.json")
    benchmark = read_metrics(paths.METRICS / "benchmark.json")
    classes = prepared_classes()
    with atomic.output_dir(paths.PLOTS / "images") as out:
        written = render_all(evaluation, benchmark, classes, paths.DVCLIVE_DIR, paths.PLOTS / "confusion", out)
    print(f"rendered {', '.join(p.name for p in written)} to {paths.PLOTS / 'images'}")
