"""Models compared from one run: each timed alone (bert_int8.measure.launcher), every figure and every
ratio with its 95% interval, and a winner named only when its interval clears the runner-up's
(bert_int8.stats.ranking); otherwise the call is a tie that names the tied models.

A ratio compares two sets of passes timed in different processes, so it comes from all pairs
of passes (intervals.ratio_interval), not from pass i against pass i: nothing ties one model's
i-th pass to another's. Each set is every pass of that model's processes, pooled.
"""

import copy

from bert_int8.core.digest import model_sha256
from bert_int8.core.progress import progress
from bert_int8.measure.canary import UNCHECKED
from bert_int8.measure.launcher import time_in_processes
from bert_int8.measure.sizes import file_bytes
from bert_int8.model import roles
from bert_int8.stats.intervals import quantile_interval, ratio_interval, summarize
from bert_int8.stats.ranking import call, label

DIGITS = {
    "latency_ms_p50": 3,
    "latency_ms_p95": 3,
    "throughput_seq_per_s": 2,
    "dynamic_titles_per_s": 1,
    "dynamic_tokens_per_s": 1,
    "padded_titles_per_s": 1,
    "dynamic_over_padded": 4,
    "title_latency_ms_p50": 3,
    "title_latency_ms_p95": 3,
    "bucketed_title_latency_ms_p50": 3,
    "unbucketed_title_latency_ms_p50": 3,
}
FIXED = ("latency_ms_p50", "throughput_seq_per_s")
TITLES = (
    "dynamic_titles_per_s",
    "dynamic_tokens_per_s",
    "padded_titles_per_s",
    "dynamic_over_padded",
    "title_latency_ms_p50",  # one real title per call (timing.title_latency_passes)
    "title_latency_ms_p95",
)
# the one-title p50 the other way than the model is served (timing.title_latency_passes)
BUCKET_TRIAL = ("bucketed_title_latency_ms_p50", "unbucketed_title_latency_ms_p50")
COLD_DIGITS = {"cold_latency_ms": 3, "cold_batch_ms": 3, "cold_titles_per_s": 1}
# the real titles' cold figures, reported in real_titles beside the warm ones
TITLE_COLD_DIGITS = {
    "cold_titles_per_s": 1,
    "cold_title_latency_ms_mean": 3,
    "cold_title_latency_ms_max": 3,
    "cold_new_length_ms_mean": 3,
    "cold_new_lengths": 0,
}
# ratio name -> the figure it divides; lower latency and higher throughput are better
RATIOS = {"latency_p50": "latency_ms_p50", "throughput": "throughput_seq_per_s"}


def ratio(a, b, name):
    """{name: ratio, name_lo, name_hi}: a's passes over b's, with its 95% interval."""
    mid, lo, hi = ratio_interval(a, b)
    return {name: round(mid, 4), f"{name}_lo": round(lo, 4), f"{name}_hi": round(hi, 4)}


def p95(calls):
    """The p95 of every timed batch-1 call, with the order-statistic interval of a quantile."""
    mid, lo, hi = quantile_interval(calls, 0.95)
    return {"latency_ms_p95": round(mid, 3), "latency_ms_p95_lo": round(lo, 3), "latency_ms_p95_hi": round(hi, 3)}


def _ratios(passes, rows, a, b):
    out = {}
    for name, key in RATIOS.items():
        out.update(ratio(passes[a][key], passes[b][key], name))
    for key in ("file_bytes", "weight_bytes"):
        if key in rows[a] and key in rows[b]:
            out[key] = round(rows[a][key] / rows[b][key], 4)
    return out


def time_models(model_dirs, vocab_size, params, titles=None, desc="benchmark"):
    """({name: per-pass figures}, {name: row}, {name: others' worst CPU share}, {name: {path,
    sha256}}, {name: its canary's counts}): every model (name -> ModelDir) in
    `params.processes` fresh processes of its own, round-robin over the models
    (bert_int8.measure.launcher), its figures from all their passes."""
    passes, rows, shares, artifacts, canary = {}, {}, {}, {}, {}
    with progress(len(model_dirs) * params.processes, desc, "processes") as bar:
        timed = time_in_processes(model_dirs, params, vocab_size, titles, done=bar.update)
    for name, model_dir in model_dirs.items():
        p, extra, share, disturbed = timed[name]
        passes[name], shares[name] = p, share
        row = {"file_bytes": file_bytes(model_dir.files)}
        if "weight_bytes" in extra:
            row["weight_bytes"] = extra["weight_bytes"]
        row.update(summarize({k: p[k] for k in FIXED}, DIGITS))
        row.update(p95(p["latency_ms_calls"]))
        cold_digits = {**COLD_DIGITS, **TITLE_COLD_DIGITS}
        row.update({k: round(v, cold_digits[k] or None) for k, v in extra.items() if k in cold_digits})
        row["disturbed"] = disturbed
        rows[name] = row
        canary[name] = {k.removeprefix("canary_"): v for k, v in extra.items() if k.startswith("canary_")}
        artifacts[name] = {"path": str(model_dir.path), "sha256": model_sha256(model_dir)}
    return passes, rows, shares, artifacts, canary


def compare_models(model_dirs, vocab_size, params, titles=None, desc="benchmark"):
    """{models, winners, headline, real_titles, others_cpu_share, artifacts}. models: each model's size, batch-1
    latency and batch throughput with intervals and cold figures, its ratios to PyTorch FP32
    ("fp32") and, for int8 models, to the best baseline (the fastest non-int8 model, FP32 or
    BF16, of the same run: a speedup against slow PyTorch eager FP32 alone would flatter).
    winners: the calls per batch size, overall, int8 and baseline. headline: the point-fastest
    int8 against the point-fastest baseline and against PyTorch FP32, each beside its call
    (a name, or the tie it belongs to). real_titles (with `titles`: a titles file and its tokenizer directory): each
    model's real-title figures, with intervals. others_cpu_share: the worst share of the CPU
    other processes took while each model was timed. artifacts: each model's path and digest.
    canary: per model, its canary's counts (passes checked, retimed, marked), and `without`:
    the winners and headlines from the passes as first timed, what a run without the canary
    would have reported (bert_int8.measure.canary)."""
    passes, report, shares, artifacts, canary = time_models(model_dirs, vocab_size, params, titles, desc)
    # each figure as first timed (where the canary had a pass retimed, its first timing)
    first = {
        n: {k: p.get(UNCHECKED + k, v) for k, v in p.items() if not k.startswith(UNCHECKED)} for n, p in passes.items()
    }
    first_rows = {n: {**copy.deepcopy(report[n]), **summarize({k: first[n][k] for k in FIXED}, DIGITS)} for n in first}
    out = _compare(passes, report, model_dirs, params, titles)
    without = _compare(first, first_rows, model_dirs, params, titles)
    out.update(
        others_cpu_share=shares,
        artifacts=artifacts,
        canary={"models": canary, "without": {k: without[k] for k in ("winners", "headline", "student")}},
    )
    return out


def _compare(passes, report, model_dirs, params, titles):
    """{models, winners, headline, student, real_titles} of compare_models from the passes and
    the rows of time_models (the rows gain their ratios; their real-title cold figures move to
    real_titles)."""
    # the calls and the headline are the teacher's models'; the student's have their own section
    names = [n for n in report if model_dirs[n].role == roles.TEACHER]
    fp32 = roles.fp32_name(roles.TEACHER)
    int8 = [n for n in names if model_dirs[n].precision == "int8"]
    base = [n for n in names if model_dirs[n].precision != "int8"]
    batch = f"batch_{params.batch_size}"
    calls = {
        "batch_1": (names, "latency_ms_p50", True),
        batch: (names, "throughput_seq_per_s", False),
        "int8_batch_1": (int8, "latency_ms_p50", True),
        f"int8_{batch}": (int8, "throughput_seq_per_s", False),
        "baseline_batch_1": (base, "latency_ms_p50", True),
        f"baseline_{batch}": (base, "throughput_seq_per_s", False),
    }
    winners = {k: label(*call(report, ns, key, lowest)) for k, (ns, key, lowest) in calls.items()}
    # the point-fastest of each set: what a ratio is taken against, tie or not
    fastest = {k: (call(report, ns, key, lowest)[1] or [None])[0] for k, (ns, key, lowest) in calls.items()}
    for name in report:
        row = report[name]
        if name != fp32 and fp32 in report:
            row["vs_fp32"] = _ratios(passes, report, name, fp32)
        if name in int8 and base:
            lat, thr = fastest["baseline_batch_1"], fastest[f"baseline_{batch}"]
            lat_ratio = ratio(passes[name]["latency_ms_p50"], passes[lat]["latency_ms_p50"], "latency_p50")
            thr_ratio = ratio(passes[name]["throughput_seq_per_s"], passes[thr]["throughput_seq_per_s"], "throughput")
            # the ratio is against the point-fastest baseline; the call says whether it is a tie
            row["vs_best_baseline"] = {
                "latency_baseline": lat,
                "latency_baseline_call": winners["baseline_batch_1"],
                **lat_ratio,
                "throughput_baseline": thr,
                "throughput_baseline_call": winners[f"baseline_{batch}"],
                **thr_ratio,
            }
    headline = _headline(report, fastest, winners, int8, base, batch) if int8 and base else {}
    real = _real_titles(passes, report, model_dirs, names, int8, winners) if titles else {}
    students = [n for n in report if model_dirs[n].role == roles.STUDENT]
    return {
        "models": report,
        "winners": winners,
        "headline": headline,
        "student": student_headline(passes, report, real, names, students, batch) if students and names else {},
        "real_titles": real,
    }


def _headline(report, fastest, winners, int8, base, batch):
    """The int8 models' headline: the point-fastest at batch 1 and at the batch, with their calls
    and their ratios against the best baseline (and the batch one's against FP32)."""
    fp32 = roles.fp32_name(roles.TEACHER)
    b1, bn = fastest["int8_batch_1"], fastest[f"int8_{batch}"]
    headline = {
        "int8_batch_1": b1,
        "int8_batch_1_call": winners["int8_batch_1"],
        f"int8_{batch}": bn,
        f"int8_{batch}_call": winners[f"int8_{batch}"],
        **_prefixed(
            "vs_baseline_batch_1_", {k: v for k, v in report[b1]["vs_best_baseline"].items() if "latency" in k}
        ),
        **_prefixed(
            f"vs_baseline_{batch}_", {k: v for k, v in report[bn]["vs_best_baseline"].items() if "throughput" in k}
        ),
    }
    if fp32 in report and bn != fp32:
        headline.update(
            _prefixed(f"vs_fp32_{batch}_", {k: v for k, v in report[bn]["vs_fp32"].items() if "throughput" in k})
        )
    return headline


def _real_titles(passes, report, model_dirs, names, int8, winners):
    """Each model's real-title figures (its cold ones move here from its row), and their calls
    added to `winners`."""
    real = {}
    for name in report:
        real[name] = summarize({k: passes[name][k] for k in TITLES}, DIGITS)
        real[name].update(bucket_trial(passes[name], model_dirs[name].length_buckets))
        real[name].update({k: report[name].pop(k) for k in TITLE_COLD_DIGITS if k in report[name]})
        real[name]["disturbed"] = report[name]["disturbed"]
    winners["real_titles"] = label(*call(real, names, "dynamic_titles_per_s", False))
    winners["int8_real_titles"] = label(*call(real, int8, "dynamic_titles_per_s", False))
    winners["real_titles_batch_1"] = label(*call(real, names, "title_latency_ms_p50", True))
    winners["int8_real_titles_batch_1"] = label(*call(real, int8, "title_latency_ms_p50", True))
    return real


def bucket_trial(passes, lengths):
    """What length buckets buy or cost one model on one real title per call: the buckets it is
    served with (`lengths`, its directory's; None: none), its p50 the other way with its
    interval, and `buckets_over_none`, its bucketed p50 over its unbucketed one with the 95%
    interval of that ratio (below 1: buckets win). {} where the passes hold no other way (no
    real titles timed)."""
    (other,) = [k for k in BUCKET_TRIAL if k in passes] or [None]
    if other is None:
        return {}
    if other.startswith("unbucketed") != bool(lengths):
        raise ValueError(f"timed {other} for a model served {'with' if lengths else 'without'} buckets")
    served = passes["title_latency_ms_p50"]
    bucketed, unbucketed = (passes[other], served) if other.startswith("bucketed") else (served, passes[other])
    return {
        "length_buckets": list(lengths) if lengths else None,
        **summarize({other: passes[other]}, DIGITS),
        **ratio(bucketed, unbucketed, "buckets_over_none"),
    }


def student_headline(passes, rows, real, teacher, student, batch):
    """The best student model against the teacher's best model (any runtime or precision, each
    the point-fastest of its set, with the call that says whether it is a tie), at batch 1
    (latency), at the large batch (throughput) and on real titles (where timed): ratios of the
    student's figure over the teacher's, with their 95% intervals; on real titles both the
    batched rate and the latency of one title per call."""
    figures = [("batch_1", rows, "latency_ms_p50", True, "latency_p50")]
    figures.append((batch, rows, "throughput_seq_per_s", False, "throughput"))
    if real:
        figures.append(("real_titles", real, "dynamic_titles_per_s", False, "titles_per_s"))
        figures.append(("real_titles_batch_1", real, "title_latency_ms_p50", True, "latency_p50"))
    out = {}
    for what, table, key, lowest, ratio_name in figures:
        best = {}
        for side, names in (("student", student), ("teacher", teacher)):
            winner, tied = call(table, names, key, lowest)
            best[side] = tied[0]
            out[f"{what}_{side}"] = best[side]
            out[f"{what}_{side}_call"] = label(winner, tied)
        r = ratio(passes[best["student"]][key], passes[best["teacher"]][key], ratio_name)
        out.update(_prefixed(f"{what}_", r))
    return out


def _prefixed(prefix, d):
    return {prefix + k: v for k, v in d.items()}
