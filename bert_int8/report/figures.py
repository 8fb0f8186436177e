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

from pathlib import Path

from bert_int8.core import atomic, paths
from bert_int8.core.errors import PipelineError
from bert_int8.core.metrics_files import read_metrics
from bert_int8.core.reports import Evaluation
from bert_int8.data.splits import prepared_classes
from bert_int8.model import roles
from bert_int8.report.confusion import confusion
from bert_int8.report.plotting import error_lengths, interval, model_color, pyplot, read_rows, save
from bert_int8.report.speed import speed

FP32 = roles.fp32_name(roles.TEACHER)  # what every drop is taken against


def _tsv(path, column):
    rows = read_rows(path, "\t")
    try:
        return [int(r["step"]) for r in rows], [float(r[column]) for r in rows]
    except (KeyError, TypeError, ValueError) as err:
        raise PipelineError(f"{path}: no numeric step and {column} columns ({err!r})") from None


def training(loss_tsv, accuracy_tsv, out):
    """Loss and dev accuracy per logged step; a model passed on untrained (model.finetuned) has
    no loss, and says so."""
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3))
    if Path(loss_tsv).is_file():
        a.plot(*_tsv(loss_tsv, "loss"), marker=".")
    else:
        a.text(0.5, 0.5, "not trained here (model.finetuned)", ha="center", va="center", transform=a.transAxes)
    a.set(title="training loss", xlabel="logged step", ylabel="loss")
    b.plot(*_tsv(accuracy_tsv, "accuracy"), marker="o")
    b.set(title="dev accuracy", xlabel="logged step", ylabel="accuracy")
    return save(fig, out)


def fp32_f1_span(evaluation):
    """(lo, hi) the F1 axis must cover at least, or None without FP32's accuracy interval.

    FP32's macro-F1 has no interval of its own in the Evaluation; its accuracy has a Wilson 95%
    interval over the same test titles, and macro-F1 on balanced classes moves with accuracy. So
    the span is FP32's accuracy interval moved onto its macro-F1 (the same distances below and
    above). A difference of a few titles then shows as what it is, noise inside that span, not a
    gap filling the plot."""
    fp32 = evaluation.models[FP32]
    if "accuracy_lo" not in fp32 or "accuracy_hi" not in fp32:
        return None
    f1, acc = fp32["macro_f1"], fp32["accuracy"]
    return f1 - (acc - fp32["accuracy_lo"]), f1 + (fp32["accuracy_hi"] - acc)


def f1_interval(evaluation, name):
    """(macro-F1, lo, hi) of one model on test: FP32's macro-F1 minus the paired-bootstrap 95%
    interval of the model's drop (`<name>_vs_fp32`), i.e. F1_fp32 - drop_hi .. F1_fp32 - drop_lo;
    FP32 itself, or a model without that interval, has none (lo = hi = its F1)."""
    f1 = evaluation.models[name]["macro_f1"]
    versus = evaluation.versus(name, FP32) or {}
    if "macro_f1_drop_lo" not in versus or "macro_f1_drop_hi" not in versus:
        return f1, f1, f1
    base = evaluation.models[FP32]["macro_f1"]
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
    plt = pyplot()
    trained = {n: r for n, r in benchmark["trained"].items() if n in evaluation.models}
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
            xs = {n: interval(trained[n], key) for n in names}
        if span:
            ax.axhspan(*span, color="0.85", zorder=0, label="FP32: its accuracy's 95% interval around its macro-F1")
        for name in names:
            color = model_color(name)
            ax.errorbar(
                xs[name][0],
                f1[name][0],
                xerr=error_lengths([xs[name]]),
                yerr=error_lengths([f1[name]]),
                fmt="o",
                color=color,
                ecolor=color,
                elinewidth=1,
                capsize=3,
            )
        _label_points(ax, xs, f1, names, ylim)
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
    notes += [_verdict_line(n, evaluation.versus(n, FP32)) for n in names if evaluation.versus(n, FP32)]
    fig.text(0.01, -0.01, "\n".join(notes), ha="left", va="top", fontsize=7)
    return fig


def _label_points(ax, xs, f1, names, ylim):
    """Each model's name beside its point; models drawn on one spot share one label."""
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


def tradeoff(evaluation, benchmark, out):
    """Test macro-F1 against size and against batch-1 latency, with 95% intervals; the F1 axis
    spans at least FP32's interval (`fp32_f1_span`)."""
    return save(tradeoff_figure(evaluation, benchmark), out)


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
    if roles.CLASSICAL in benchmark:
        rates[roles.CLASSICAL] = benchmark[roles.CLASSICAL]
    return {
        n: (interval(r, "dynamic_titles_per_s"), f1_interval(evaluation, n))
        for n, r in rates.items()
        if n in evaluation.models
    }


def frontier(evaluation, benchmark, out):
    """Test macro-F1 against real titles/s (log scale), 95% intervals on both, every model, and
    the frontier through the models nothing beats in both."""
    plt = pyplot()
    rows = frontier_rows(evaluation, benchmark)
    front = pareto_front([(n, rate[0], f1[0]) for n, (rate, f1) in rows.items()])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for name, (rate, f1) in rows.items():
        color = (
            "tab:gray"
            if name == roles.CLASSICAL
            else "tab:orange"
            if roles.split(name)[0] == roles.STUDENT
            else model_color(name)
        )
        ax.errorbar(
            rate[0], f1[0], xerr=error_lengths([rate]), yerr=error_lengths([f1]), fmt="o", color=color, ecolor=color, elinewidth=1,
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
    return save(fig, out)


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
    evaluation = Evaluation.read(paths.METRICS / "evaluate.json")
    benchmark = read_metrics(paths.METRICS / "benchmark.json")
    classes = prepared_classes()
    with atomic.output_dir(paths.PLOTS / "images") as out:
        written = render_all(evaluation, benchmark, classes, paths.DVCLIVE_DIR, paths.PLOTS / "confusion", out)
    print(f"rendered {', '.join(p.name for p in written)} to {paths.PLOTS / 'images'}")
