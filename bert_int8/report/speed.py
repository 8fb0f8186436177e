"""speed.svg: batch throughput and batch-1 latency per model with 95% intervals, trained model and
reference shape, real test titles (steady and cold first pass), the machine, the calls (a tie
says "tie") and any model whose figures were disturbed."""

import textwrap

import numpy as np

from bert_int8.report.plotting import error_lengths, interval, model_color, pyplot, save
from bert_int8.stats.ranking import named

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
        color=[model_color(n) for n in names],
        alpha=alpha,
        xerr=error_lengths(values) if errors else None,
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
    plt = pyplot()
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
            [interval(models[n], "throughput_seq_per_s") for n in names],
            disturbed,
            f"{title}\nbatch-{setup['batch_size']} sequences/s (higher is better)",
        )
        _hbars(
            row[1],
            names,
            [interval(models[n], "latency_ms_p50") for n in names],
            disturbed,
            f"{title}\nbatch-1 p50 latency, ms (lower is better)",
        )
        if ncols == 3:
            if group == "trained":
                disturbed.update(_real_titles(row[2], names, real, title))
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
    return save(fig, out)


def _real_titles(ax, names, real, title):
    """The real-title bars (steady and cold) of the trained models; returns which were disturbed."""
    titled = [n for n in names if n in real] + [n for n in real if n not in names]
    marked = {n: bool(real[n].get("disturbed")) for n in titled}
    steady = [interval(real[n], "dynamic_titles_per_s") for n in titled]
    _hbars(ax, titled, steady, marked, "", -0.2, 0.4, label="steady: median of the timed passes")
    cold = [(real[n].get("cold_titles_per_s", 0.0),) * 3 for n in titled]
    _hbars(ax, titled, cold, marked, "", 0.2, 0.4, 0.4, "cold: first pass, shapes unseen", False)
    ax.set_title(f"{title}\nreal test titles, titles/s (higher is better)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=1, fontsize=7)
    return marked
