"""The results, generated from the committed metrics/*.json: the full block of docs/results.md,
and the README's headline (the machine, and four of the full block's claims).

    python scripts/results_table.py           # print the full block
    python scripts/results_table.py --write   # replace both blocks between their markers

tests/test_readme.py fails when either block and the committed metrics disagree, so every
figure in them comes from a metrics file of the same commit.
"""

import json
import subprocess
import sys
from pathlib import Path

from bert_int8.backends import BACKENDS, build_key, libraries
from bert_int8.core.errors import PipelineError
from bert_int8.core.machine import cpu_id_words
from bert_int8.core.reports import Call, Evaluation
from bert_int8.model import roles
from bert_int8.stats.ranking import named

ROOT = Path(__file__).resolve().parent.parent
METRICS = ROOT / "metrics"
START, END = "<!-- results:start (scripts/results_table.py --write) -->", "<!-- results:end -->"
HEAD_START, HEAD_END = "<!-- headline:start (scripts/results_table.py --write) -->", "<!-- headline:end -->"
RESULTS = ROOT / "docs" / "results.md"
# The README's headline: the full block's first line (the machine), then its claims with these labels
HEADLINE = (
    "- **Fastest on this machine, trained default**",
    "- **Against the best baseline",
    "- **Bytes",
    "- **The classical floor**",
    "- **The student**",
)
MIB = 1024 * 1024
# Every model's name in words, from the backends: "ONNX Runtime int8 (dynamic)".
NAMES = {
    b.prefix + b.folder(precision, method): (
        f"{b.label} {precision.upper() if precision != 'int8' else f'int8 ({b.int8_label(method)})'}"
    )
    for b in BACKENDS.values()
    for precision, method in [*b.layout(), ("bf16", None)]
}
NAMES.update({f"student_{name}": f"Student {words}" for name, words in list(NAMES.items())})
# quantize.json's budget keys (backends.build_key) -> the int8 model's name; and every int8 name
BUILT = {build_key(b.name, m): b.prefix + b.folder("int8", m) for b in BACKENDS.values() for m in b.int8_methods}
INT8 = set(BUILT.values()) | {f"student_{name}" for name in BUILT.values()}


def load(name, rev=None):
    """metrics/<name>.json of the workspace, or as committed at git revision `rev` ({} if absent)."""
    if rev is None:
        path = METRICS / f"{name}.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    shown = subprocess.run(
        ["git", "show", f"{rev}:metrics/{name}.json"], cwd=ROOT, capture_output=True, text=True, encoding="utf-8"
    )
    return json.loads(shown.stdout) if shown.returncode == 0 else {}


def load_params_at(rev=None):
    """params.yaml of the workspace, or as committed at `rev`."""
    import yaml

    if rev is None:
        text = (ROOT / "params.yaml").read_text(encoding="utf-8")
    else:
        text = subprocess.run(["git", "show", f"{rev}:params.yaml"], cwd=ROOT, capture_output=True, text=True).stdout
    return yaml.safe_load(text) or {}


def train_seed(rev=None):
    """train.seed of params.yaml in the workspace or at `rev` (the seed this run's model has)."""
    return load_params_at(rev).get("train", {}).get("seed", 42)


def ci(row, key, fmt):
    """'value [lo, hi]' of a figure and its 95% interval."""
    return f"{row[key]:{fmt}} [{row[f'{key}_lo']:{fmt}}, {row[f'{key}_hi']:{fmt}}]"


def called(label):
    """A winners call in words: a model's name, or "tie: A, B"."""
    said = Call.parse(label)
    return NAMES[said.winner] if said.winner else Call(None, tuple(NAMES[n] for n in said.tied)).text()


def machine(setup):
    versions = ", ".join(f"{k} {setup[k]}" for k in libraries() if setup.get(k))
    exactly = f" ({cpu_id_words(setup['cpu_id'])})" if setup.get("cpu_id") else ""
    return (
        f"{setup['cpu']}{exactly}, {setup['logical_cpus']} logical CPUs, ISA: {setup['isa']}; BF16 {setup['bf16']}; "
        f"{setup['threads']} threads; {versions}"
    )


def accuracy_table(ev):
    """Test-split accuracy with its interval, and each model against FP32 on the same titles."""
    f = ev.models["fp32"]
    lines = [
        f"Accuracy on the test split ({ev.test_examples:,} titles). Intervals are 95%: Wilson for accuracy and "
        "agreement, a paired bootstrap (the same resampled titles for both models) for the drops; McNemar's exact "
        "test on the titles only one of the two models gets right gives the verdict at 5%:",
        "",
        "| model | accuracy | macro-F1 | macro-F1 drop vs FP32 | accuracy drop vs FP32 | only FP32 / only it right | "
        "McNemar p | verdict | agrees with FP32 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| {NAMES['fp32']} | {ci(f, 'accuracy', '.4f')} | {f['macro_f1']:.4f} | - | - | - | - | - | - |",
    ]
    for name in NAMES:
        vs = ev.versus(name, "fp32")
        if not vs:
            continue
        e = ev.models[name]
        lines.append(
            f"| {NAMES[name]} | {ci(e, 'accuracy', '.4f')} | {e['macro_f1']:.4f} | {ci(vs, 'macro_f1_drop', '+.4f')} | "
            f"{ci(vs, 'accuracy_drop', '+.4f')} | {vs['only_fp32_right']} / {vs['only_model_right']} | "
            f"{vs['mcnemar_p']:.3g} | {vs['verdict']} | {_agreement(vs)} |"
        )
    return lines


def _agreement(vs):
    return f"{vs['prediction_agreement']:.2%} [{vs['agreement_lo']:.2%}, {vs['agreement_hi']:.2%}]"


def alone(setup):
    """Where each model was timed: metrics from before benchmark.processes had one process each."""
    n = setup.get("processes", 1)
    return "a fresh process" if n == 1 else f"{n} fresh processes, in turn with the other models"


def trained_table(ev, bench, train):
    setup = bench["setup"]
    real = bench["real_titles"]
    several = setup.get("processes", 1) > 1
    lines = [
        f"Speed of the trained default model ({train['train_examples']:,} titles, {train['epochs']:g} epochs, "
        f"{train['wall_seconds'] / 60:.1f} min of training), each model timed alone in {alone(setup)}; median "
        f"[interval, as above] of {setup['repeats']} passes{' in all' * several}; cold: the first pass over unseen "
        f"shapes{', the median over the processes' * several}, what a server that has just started meets; real titles: {setup['title_samples']:,} test titles, length-sorted batches of "
        f"{setup['batch_size']} padded per batch (up to the length bucket, for models served with them), tokenizing included; one per call: the first "
        f"{setup['title_latency_samples']:,} of them, one title per call in test order, tokenizing included (p50 and p95 "
        "of each pass's calls; new length: the mean first call of each length in the first such pass):",
        "",
        f"| model | file MiB | weights in memory MiB | batch-1 p50 ms | batch-{setup['batch_size']} seq/s | "
        "real titles/s | one per call p50 ms | one per call p95 ms | cold real titles/s | new length, first call ms | "
        "cold first call ms |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, b in bench["trained"].items():
        r = real[name]
        mark = " (disturbed)" if b["disturbed"] else ""
        weights = f"{b['weight_bytes'] / MIB:.1f}" if "weight_bytes" in b else "= file"
        lines.append(
            f"| {NAMES[name]}{mark} | {b['file_bytes'] / MIB:.1f} | {weights} | {ci(b, 'latency_ms_p50', '.3f')} | "
            f"{ci(b, 'throughput_seq_per_s', ',.0f')} | {ci(r, 'dynamic_titles_per_s', ',.0f')} | "
            f"{ci(r, 'title_latency_ms_p50', '.3f')} | {ci(r, 'title_latency_ms_p95', '.3f')} | "
            f"{r['cold_titles_per_s']:,.0f} | {r['cold_new_length_ms_mean']:.3f} | {b['cold_latency_ms']:.1f} |"
        )
    return lines


def load_table(load_test):
    """The service under load: titles/s (p99 ms) per concurrency, single titles and batches."""
    setup = load_test["setup"]
    runs = [f"c{c}" for c in setup["concurrency"]] + [
        f"c{c}_batch{k}" for k in setup["texts_per_request"] if k != 1 for c in setup["concurrency"]
    ]
    heads = [r.replace("_batch", " x ") for r in runs]
    lines = [
        f"The service (`bert-int8 serve`, {setup['threads']} threads, dynamic batching up to {setup['max_batch']} "
        f"titles or {setup['max_wait_ms']:g} ms) under load: titles/s (p99 ms) at N concurrent clients "
        "(cN: one title per request; cN x K: K titles per request), and at the most clients, the share of "
        "the model's own real-title rate; the load generator used "
        f"{max(r['client_cpu_seconds'] for m, v in load_test.items() if m != 'setup' for r in v.values() if isinstance(r, dict) and 'client_cpu_seconds' in r):.1f} "
        "CPU seconds at most per run:",
        "",
        "| model | shares batches | "
        + " | ".join(heads)
        + f" | share of model rate ({runs[len(setup['concurrency']) - 1]}) | resident MiB at start / after | "
        "start to first answer s |",
        "| --- | --- | " + " | ".join("---" for _ in runs) + " | --- | --- | --- |",
    ]
    top = runs[len(setup["concurrency"]) - 1]
    layouts, disturbed = None, []
    for name, v in load_test.items():
        if name == "setup":
            continue
        shares = "yes" if v["shares_batches"] else "no (dynamic int8)"
        cells = [
            f"{v[r]['titles_per_s']:.0f} ({v[r]['latency_ms_p99']})" if v[r]["requests"] else "errors" for r in runs
        ]
        disturbed += [f"{name} {r}" for r in runs if v[r].get("disturbed")]
        lines.append(
            f"| {NAMES[name]} | {shares} | " + " | ".join(cells) + f" | {v[top]['share_of_model_rate']:.0%} | "
            f"{v['rss_mib_at_start']:.0f} / {v['rss_mib_after_sweep']:.0f} | {v['start_to_first_answer_s']:.2f} |"
        )
        layouts = v.get("layouts", layouts)
    if layouts:
        lines += ["", layout_sentence(layouts)]
    if disturbed:
        lines += ["", f"Load-test runs marked disturbed (others used the CPU beside them): {', '.join(disturbed)}."]
    return lines


def layout_sentence(layouts):
    """The serving layouts of the best int8 model: each one's median titles/s over its runs, with
    its interval, p99 and memory, and which served most."""
    names = layouts["order"]  # the first is what the others are taken against

    def words(k):
        v = layouts[k]
        streams = f" with {v['streams_per_worker']} streams" if v["streams_per_worker"] > 1 else ""
        thread = "thread" if v["threads_per_worker"] == 1 else "threads"
        return f"{v['workers']} worker{'s' * (v['workers'] > 1)} x {v['threads_per_worker']} {thread}{streams}"

    said = "; ".join(
        f"{words(k)} {layouts[k]['titles_per_s']:,.0f} [{layouts[k]['titles_per_s_lo']:,.0f}, "
        f"{layouts[k]['titles_per_s_hi']:,.0f}] titles/s (p99 {layouts[k]['latency_ms_p99']} ms, "
        f"{layouts[k]['rss_mib']:.0f} MiB)"
        for k in names
    )
    winner = named(layouts["faster"])
    verdict = (
        f"{words(winner[0])} served most"
        if len(winner) == 1
        else f"a tie between {' and '.join(words(k) for k in winner)}"
    )
    ratios = ", ".join(
        f"{words(k)} {r['titles_per_s']:.2f}x [{r['titles_per_s_lo']:.2f}, {r['titles_per_s_hi']:.2f}]"
        for k in names[1:]
        for r in [layouts[f"{k}_over_{names[0]}"]]
    )
    return (
        f"Serving layouts ({NAMES[layouts['model']]}, {layouts['concurrency']} single-title clients, "
        f"median of {layouts['runs']} runs each, taking turns; intervals cover "
        f"{layouts['interval_coverage']:.1%}): {said}. {verdict[0].upper() + verdict[1:]}; "
        f"against {words(names[0])}: {ratios}."
    )


def shape_label(bench):
    """What the reference shape was: bert-base-chinese's, or model.finetuned / model.pretrained's."""
    return f"{bench.get('reference_shape_config', {}).get('config', 'bert-base-chinese')} shape"


def shape_table(bench):
    base, batch = bench["reference_shape"], bench["setup"]["batch_size"]
    lines = [
        f"{shape_label(bench)} (random weights, the same recipes, each model alone in {alone(bench['setup'])}; ratios from "
        "all pairs of passes of one run, with their 95% intervals; the best baseline is the fastest non-int8 model, FP32 "
        "or BF16, of the same run):",
        "",
        f"| model | file MiB | weights in memory MiB | batch-1 p50 ms | batch-{batch} seq/s | batch-1 latency vs "
        f"PyTorch FP32 | batch-{batch} throughput vs PyTorch FP32 | vs best baseline (batch 1 / batch {batch}) | "
        "share of the int8 GEMM rate |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, b in base.items():
        v = b.get("vs_fp32")
        lat = ci(v, "latency_p50", ".2f") + "x" if v else "1"
        thr = ci(v, "throughput", ".2f") + "x" if v else "1"
        best = b.get("vs_best_baseline")
        best = f"{best['latency_p50']:.2f}x / {best['throughput']:.2f}x" if best else "-"
        share = f"{b['share_of_int8_matmul_rate']:.0%}" if "share_of_int8_matmul_rate" in b else "-"
        weights = f"{b['weight_bytes'] / MIB:.1f}" if "weight_bytes" in b else "= file"
        mark = " (disturbed)" if b["disturbed"] else ""
        lines.append(
            f"| {NAMES[name]}{mark} | {b['file_bytes'] / MIB:.1f} | {weights} | {ci(b, 'latency_ms_p50', '.1f')} | "
            f"{ci(b, 'throughput_seq_per_s', '.1f')} | {lat} | {thr} | {best} | {share} |"
        )
    return lines


def speed_claims(bench):
    """Who is fastest (or which models tie), and the headline ratios with their intervals."""
    setup, batch = bench["setup"], bench["setup"]["batch_size"]
    out = []
    for group, label in (("trained", "trained default"), ("reference_shape", shape_label(bench))):
        w = bench["winners"].get(group)
        if not w:
            continue
        real = (
            f"; on real titles {called(w['real_titles'])}, int8 {called(w['int8_real_titles'])}; one real title per "
            f"call {called(w['real_titles_batch_1'])}, int8 {called(w['int8_real_titles_batch_1'])}"
            if "real_titles" in w
            else ""
        )
        out.append(
            f"- **Fastest on this machine, {label}** (a model is named only when its interval clears the "
            f"runner-up's): batch 1 {called(w['batch_1'])}; batch {batch} {called(w[f'batch_{batch}'])}; int8 at "
            f"batch 1 {called(w['int8_batch_1'])}, at batch {batch} {called(w[f'int8_batch_{batch}'])}; baseline at "
            f"batch 1 {called(w['baseline_batch_1'])}, at batch {batch} {called(w[f'baseline_batch_{batch}'])}{real}."
        )
    base = bench.get("reference_shape", {})
    if base:
        h = bench["headline"]["reference_shape"]
        best, b1 = base[h[f"int8_batch_{batch}"]], base[h["int8_batch_1"]]
        lat_base, thr_base = b1["vs_best_baseline"], best["vs_best_baseline"]
        out.append(
            f"- **Against the best baseline, not only FP32:** on the {shape_label(bench)} the fastest int8 at batch "
            f"{batch} ({called(h[f'int8_batch_{batch}_call'])}) gives {ci(h, f'vs_baseline_batch_{batch}_throughput', '.2f')}x "
            f"the throughput of the fastest baseline ({called(thr_base['throughput_baseline_call'])}) and "
            f"{ci(h, f'vs_fp32_batch_{batch}_throughput', '.2f')}x that of PyTorch FP32; at batch 1, the fastest int8 "
            f"({called(h['int8_batch_1_call'])}) takes {ci(h, 'vs_baseline_batch_1_latency_p50', '.2f')}x the latency "
            f"of the fastest baseline ({called(lat_base['latency_baseline_call'])}). Where a call is a tie, the ratio "
            f"is taken between the first-named of each (the fastest by median). {NAMES[h[f'int8_batch_{batch}']]} runs at "
            f"{best['share_of_int8_matmul_rate']:.0%} of the {bench['kernel']['int8_matmul_gops']:.0f} GOP/s that one "
            "int8 matrix product reaches here (ONNX Runtime MatMulInteger, 2048x768 by 768x3072)."
        )
        smallest = min(
            (n for n in base if n in INT8 and not n.startswith("student_")),
            key=lambda n: base[n]["file_bytes"],
        )
        out.append(
            f"- **Bytes** (bert-base-chinese shape): the reference's PyTorch recipe gives {base['fp32']['file_bytes'] / MIB:.0f} -> "
            f"{base['int8']['file_bytes'] / MIB:.1f} MiB on disk ({base['int8']['vs_fp32']['file_bytes']:.1%}: the "
            f"embedding tables stay FP32); the smallest int8 artifact is {NAMES[smallest]} at "
            f"{base[smallest]['file_bytes'] / MIB:.1f} MiB ({base[smallest]['vs_fp32']['file_bytes']:.1%} of FP32). "
            f"Counted from the state_dict, the PyTorch int8 weights take {base['int8']['weight_bytes'] / MIB:.1f} MiB "
            f'in memory; summing `parameters()` would miss every packed int8 weight (the reference\'s "63.55 MB").'
        )
    shares = [s for group in setup["others_cpu_share"].values() for s in group.values() if s is not None]
    disturbed = [
        n for group in ("trained", "reference_shape") for n, r in bench.get(group, {}).items() if r["disturbed"]
    ]
    out.append(
        f"- **A quiet machine:** while each model was timed, other processes took at most {max(shares, default=0):.1%} "
        f"of the CPU (threshold {setup['disturbed_share']:.0%}, from /proc/stat less the benchmark's own processes); "
        + (f"marked disturbed: {', '.join(disturbed)}." if disturbed else "no figure is marked disturbed.")
        + f" The benchmark stage took {setup['stage_seconds'] / 60:.1f} min."
    )
    return out


def bucket_claim(bench):
    """What length buckets buy the models served with them, and cost (each bucket's first
    single-title call), and would buy or cost the others, one real title per call; None where
    the metrics predate them."""
    real = bench["real_titles"]
    rows = {n: r for n, r in real.items() if "buckets_over_none" in r}
    if not rows:
        return None
    served = [n for n, r in rows.items() if r["length_buckets"]]
    others = [n for n in rows if n not in served]

    def says(names):
        return "; ".join(f"{NAMES[n]} {ci(rows[n], 'buckets_over_none', '.2f')}x" for n in names)

    if not served:
        return f"- **Length buckets:** no model is served with them; one real title per call they would give {says(others)}."
    met = all(rows[n]["buckets_over_none"] <= 1 and rows[n]["buckets_over_none_lo"] <= 1 for n in served)
    lengths = sorted({tuple(rows[n]["length_buckets"]) for n in served})
    cold = "; ".join(f"{NAMES[n]} {rows[n]['cold_new_length_ms_mean']:.1f} ms" for n in served)
    return (
        f"- **Length buckets** (one real title per call, the bucketed p50 over the unbucketed one, from the same "
        f"processes; below 1: buckets win): served with buckets of {', '.join(' / '.join(map(str, x)) for x in lengths)} "
        f"tokens: {says(served)}. Target (no higher by median, the interval reaching 1 or below): "
        f"**{'met' if met else 'missed'}**. The cost: OpenVINO compiles a static-shape model for each bucket at its "
        f"first single title (the mean first call of each width: {cold}), which `serve` pays in its warm-up and a "
        f"one-off `predict` pays on its call; the fixed-shape batch-1 figures run on the static [1, "
        f"{bench['setup']['seq_len']}] model too, and so do the unbucketed titles whose length is a bucket. Served "
        f"without them, buckets would give: {says(others)}."
    )


def canary_claim(bench):
    """How many timed passes the canary retimed and marked; None where the metrics predate it or
    ran without it."""
    groups = bench["setup"].get("canary")
    slowdown = bench["setup"].get("canary_slowdown")
    if not groups or slowdown is None:
        return None
    models = [m for g in groups.values() for m in g["models"].values()]
    checked, retimed, marked = (sum(m[k] for m in models) for k in ("checked", "retimed", "marked"))
    return (
        f"- **Slow phases:** a canary timed before and after each of the {checked:,} timed passes in the model's own "
        f"process ran more than {slowdown:.0%} slower than the process's fastest canary around {retimed} of them; "
        f"those passes were timed once more and the second timing kept, {marked} of them marked because its canary "
        "was slow again. Three back-to-back runs, with and without it: docs/run_spread.md."
    )


def own_fp32(name):
    """The FP32 model a model is compared with: its role's (the student's for a student model)."""
    return roles.fp32_name(roles.split(name)[0])


def accuracy_claims(ev, setup, bench, data):
    out = []
    for n in NAMES:  # each int8 model against its own FP32: what int8 cost (the student's: on top of distilling)
        own = own_fp32(n)
        vs = ev.versus(n, own)
        if vs and n in INT8:
            out.append(
                f"- **{NAMES[n]}** against {NAMES[own]}: macro-F1 drop {ci(vs, 'macro_f1_drop', '+.4f')}, "
                f"{vs['verdict']}; loses at most {vs['loses_at_most'] * 100:.2f} point at 95%."
            )
    f = ev.models["fp32"]
    out.append(
        f"- **FP32's own test accuracy** is {ci(f, 'accuracy', '.4f')} (95%, Wilson): the scale any drop above is on."
    )
    bf16 = [n for n in ev.models if n.endswith("bf16") and n in NAMES]
    if bf16:
        out.append(
            "- **BF16:** "
            + ", ".join(
                f"{NAMES[n]} agrees with {NAMES[own]} on {ev.versus(n, own)['prediction_agreement']:.2%} of test titles"
                for n, own in ((n, own_fp32(n)) for n in bf16)
            )
            + "."
        )
    else:
        out.append(f"- **BF16:** {setup['bf16']} on this CPU, so no BF16 model was timed.")
    dyn = {n: r["dynamic_over_padded"] for n, r in bench["real_titles"].items()}
    out.append(
        f"- **Padding:** on real test titles, length-sorted batches padded per batch (up to the length bucket where a "
        f"model is served with them) run {min(dyn.values()):.2f}x to "
        f"{max(dyn.values()):.2f}x the titles/s of the same models padded to {setup['seq_len']} tokens (medians of "
        f"paired passes; titles average {data['tokenizer']['train_tokens_per_title_mean']} tokens)."
    )
    return out


def verdict_words(vs, what):
    """Which of the two is better in test macro-F1, by the paired test of `vs` (a comparison
    against the teacher's FP32)."""
    if vs["verdict"] == "no significant change":
        return (
            f"{what} and the teacher's FP32 do not differ significantly in accuracy (McNemar p {vs['mcnemar_p']:.3g})"
        )
    better = vs["macro_f1_drop"] < 0
    return (
        f"{what} is significantly {'more' if better else 'less'} accurate than the teacher's FP32 "
        f"(McNemar p {vs['mcnemar_p']:.3g})"
    )


def ratio_target(head, key, bound, at_least):
    """Whether a ratio meets its target ("met" / "missed") and whether its whole 95% interval
    does."""
    value, lo, hi = head[key], head[f"{key}_lo"], head[f"{key}_hi"]
    met = value >= bound if at_least else value <= bound
    sure = lo >= bound if at_least else hi <= bound
    return ("met" if met else "missed") + (", its whole interval too" if sure else "")


def floor_and_student_claims(ev, bench, distill, classical, train):
    """The classical floor against the teacher, and the best student model against the teacher's
    best model, with the issue's targets said met or missed from the same figures."""
    out, real, batch = [], bench["real_titles"], bench["setup"]["batch_size"]
    teacher_real = [n for n in real if not n.startswith("student_")]
    best_teacher = max(teacher_real, key=lambda n: real[n]["dynamic_titles_per_s"])
    floor, vs = ev.models.get("classical"), ev.versus("classical", "fp32")
    rate = bench.get("classical")
    if floor and vs and rate:
        out.append(
            f"- **The classical floor** (TF-IDF of character {classical['ngram']}-grams, {classical['model']}, trained in "
            f"{classical['train_seconds']:.0f} s): test accuracy {ci(floor, 'accuracy', '.4f')} against the teacher's "
            f"FP32 {ci(ev.models['fp32'], 'accuracy', '.4f')}; macro-F1 drop {ci(vs, 'macro_f1_drop', '+.4f')}: "
            f"{verdict_words(vs, 'the floor')}. It scores {ci(rate, 'dynamic_titles_per_s', ',.0f')} real titles/s in "
            f"one thread, against {real[best_teacher]['dynamic_titles_per_s']:,.0f} for the teacher's fastest model "
            f"({NAMES[best_teacher]}, on {bench['setup']['threads']} threads): "
            + (
                "the floor is faster"
                if rate["dynamic_titles_per_s"] > real[best_teacher]["dynamic_titles_per_s"]
                else "the teacher's model is faster"
            )
            + "."
        )
    h = bench["headline"].get("student")
    if h and distill:
        s = h["real_titles_student"]
        loss = ev.versus(s, "fp32")
        out.append(
            f"- **The student** ({distill['layers']} of the teacher's layers, "
            f"{'from its layer' if len(distill['from_teacher_layers']) == 1 else 'from its layers'} "
            f"{', '.join(map(str, distill['from_teacher_layers']))}, hidden {distill['hidden']}; "
            f"{distill['parameters']:,} parameters against {distill['teacher_parameters']:,}; trained in "
            f"{distill['wall_seconds'] / 60:.1f} min on the teacher's soft labels): its best model on real titles, "
            f"{NAMES[s]}, gives {ci(h, 'real_titles_titles_per_s', '.2f')}x the real titles/s of the teacher's best "
            f"({NAMES[h['real_titles_teacher']]}); at batch 1 the best student model ({NAMES[h['batch_1_student']]}) "
            f"takes {ci(h, 'batch_1_latency_p50', '.2f')}x the latency of the teacher's best "
            f"({NAMES[h['batch_1_teacher']]}); at batch {batch}, {ci(h, f'batch_{batch}_throughput', '.2f')}x the "
            f"throughput; one real title per call, the best student model ({NAMES[h['real_titles_batch_1_student']]}) "
            f"takes {ci(h, 'real_titles_batch_1_latency_p50', '.2f')}x the p50 of the teacher's best "
            f"({NAMES[h['real_titles_batch_1_teacher']]}). {NAMES[s]}'s test macro-F1 drop against the teacher's FP32 is "
            f"{ci(loss, 'macro_f1_drop', '+.4f')}: it loses at most {loss['loses_at_most'] * 100:.2f} point at 95%, "
            f"{loss['verdict']}."
        )
        targets = [
            ("≥ 2.0x the teacher's best real titles/s", ratio_target(h, "real_titles_titles_per_s", 2.0, True)),
            ("≤ 0.6x its batch-1 latency", ratio_target(h, "batch_1_latency_p50", 0.6, False)),
            ("loses at most 0.5 point of macro-F1", "met" if loss["loses_at_most"] <= 0.005 else "missed"),
        ]
        if train.get("wall_seconds"):
            faster = distill["wall_seconds"] <= train["wall_seconds"]
            targets.append(
                (
                    "trains in no more time than its teacher",
                    f"{'met' if faster else 'missed'} ({distill['wall_seconds'] / 60:.1f} against "
                    f"{train['wall_seconds'] / 60:.1f} min)",
                )
            )
        out.append(
            "- **The student's targets** (issue 28, the best student model at each figure): "
            + "; ".join(f"{what}: {verdict}" for what, verdict in targets)
            + "."
        )
    r = bench["headline"].get("reference_shape_student")
    if r:
        layers = bench["reference_shape_config"].get("student_layers")
        out.append(
            f"- **A {layers}-layer student of the {shape_label(bench)}** (random weights: speed only; its layers cut "
            f"from 12 as `distill` cuts the trained model's): its best model at batch {batch} "
            f"({NAMES[r[f'batch_{batch}_student']]}) gives {ci(r, f'batch_{batch}_throughput', '.2f')}x the "
            f"throughput of the shape's best ({NAMES[r[f'batch_{batch}_teacher']]}), target ≥ 3.3x: "
            f"{ratio_target(r, f'batch_{batch}_throughput', 3.3, True)}; at batch 1 its best "
            f"({NAMES[r['batch_1_student']]}) takes {ci(r, 'batch_1_latency_p50', '.2f')}x the latency of the "
            f"shape's best ({NAMES[r['batch_1_teacher']]}), target ≤ 0.35x: "
            f"{ratio_target(r, 'batch_1_latency_p50', 0.35, False)}. What such a student keeps in accuracy was "
            "not measured here (no hub access, and a student must be distilled from a fine-tuned teacher); "
            "published figures for one of this size: HFL's RBT3 (3 of RoBERTa-wwm-ext's 12 layers, further "
            "pre-trained, then fine-tuned) keeps 96.1% of its teacher's TNEWS dev accuracy (55.39 against 57.66; "
            "TNEWS: news titles, 15 classes) and 98.9% on ChnSentiCorp (93.86 against 94.89), and HFL give it "
            "2.8x the teacher's speed (github.com/iflytek/MiniRBT, README: fine-tuned results on dev sets, the "
            "best of several epoch counts, averaged over 3 seeds or more)."
        )
    return out


def qat_claim(case, ev, quantized):
    """The case made for post-training int8 to lose (metrics/qat_case.json), what quantization-aware
    training won back of it, and whether this run's quantize stages needed it."""
    post, qat = case["post_training"], case["qat"]
    int8 = [n for n in NAMES if n in INT8 and n in ev.models]
    losers = [n for n in int8 if ev.versus(n, own_fp32(n))["verdict"] == "significant loss"]
    trained = sorted(
        NAMES[f"{role}{BUILT[key]}"]
        for role, q in quantized.items()
        for key, b in q.get("budget", {}).items()
        if isinstance(b, dict) and b.get("method") == "quantization-aware training"
    )
    said = {True: "met", False: "missed"}
    titles = "title" if case["calibration_items"] == 1 else "titles"
    return (
        "- **Quantization-aware training** (NNCF: `nncf.quantize` on the torch model, then training with its "
        "quantizers in place on distill's loss against the FP32 model, exported to OpenVINO IR). "
        + (
            "No int8 model of this run loses significantly against its own FP32 model, so the case is made "
            if not losers
            else f"{', '.join(NAMES[n] for n in losers)} lose significantly against their own FP32 model; the case "
            "below is made "
        )
        + f"(`metrics/qat_case.json`): the student's OpenVINO int8 calibrated on {case['calibration_items']} train "
        f"{titles}"
        + ("" if post["verdict"] == "significant loss" else " (which did not make post-training int8 lose here)")
        + ". Post-training, its test macro-F1 drop against the student's FP32 is "
        f"{ci(post, 'macro_f1_drop', '+.4f')}: it loses at most {post['loses_at_most'] * 100:.2f} point at 95%, "
        f"{post['verdict']}. After {qat['recipe']['qat']['steps']} steps of quantization-aware training "
        f"({qat['build_seconds']:.0f} s), {ci(qat, 'macro_f1_drop', '+.4f')}: at most "
        f"{qat['loses_at_most'] * 100:.2f} point, {qat['verdict']}: it won back "
        f"{case['recovered_loss_bound'] * 100:.2f} point of the loss bound. Target (issue 28: where post-training "
        f'int8 loses significantly, "no significant change", or at most half its bound): '
        f"{said[bool(case['qat_recovers'])]}. "
        + (
            f"In this run quantize trained {', '.join(trained)} with its quantizers: post-training int8 missed "
            "`quantize.max_f1_drop` there."
            if trained
            else "In this run every int8 model met `quantize.max_f1_drop` after post-training quantization, so "
            "quantize trained none (it tries quantization-aware training, where the runtime has it, before "
            "layers fall back to FP32)."
        )
    )


def seed_claim(seeds, ev, bench, train_seed):
    """The seed-to-seed spread (scripts/seed_spread.py), where a retrain elsewhere should land,
    and where this run landed when it ran on another CPU than the spread's."""
    sp, n = seeds["spread"], len(seeds["seeds"])
    acc, f1 = sp["accuracy"], sp["macro_f1"]
    drops = ", ".join(
        f"{NAMES[k.removesuffix('_f1_drop')]} {sp[k]['mean']:+.4f} ± {sp[k]['std']:.4f}"
        for k in sp
        if k.endswith("_f1_drop")
    )
    line = (
        f"- **Seed to seed ({n} seeds: {', '.join(seeds['seeds'])}; all on {seeds['environment']['cpu']} "
        f"({seeds['environment']['isa']}), same versions, params and prepared data; code of commits {', '.join(sorted({r['commit'] for r in seeds['seeds'].values()}))}):** "
        f"test accuracy {acc['mean']:.4f} ± {acc['std']:.4f}, macro-F1 {f1['mean']:.4f} ± {f1['std']:.4f} "
        f"(mean ± sample std); int8 macro-F1 drop {drops}. A retrain on other hardware should land within "
        f"about two std of the mean: test accuracy {acc['mean'] - 2 * acc['std']:.4f} to {acc['mean'] + 2 * acc['std']:.4f}."
    )
    other = seeds.get("cross_machine")
    if other and acc["std"]:
        line += (
            f" The {other['cpu']} retrain of {other['source']} gave {other['test_accuracy']:.4f} against "
            f"{other['committed_test_accuracy']:.4f} committed then, a difference of "
            f"{abs(other['test_accuracy'] - other['committed_test_accuracy']) / acc['std']:.1f} std."
        )
    here, there = bench["setup"]["isa"], seeds["environment"]["isa"]
    seed = str(train_seed)
    same_seed = seeds["seeds"].get(seed)
    if here != there and same_seed and acc["std"]:
        line += (
            f" This run ({here}) gives test accuracy {ev.models['fp32']['accuracy']:.4f} for seed {seed} against "
            f"{same_seed['accuracy']:.4f} on the spread's machine, a difference of "
            f"{abs(ev.models['fp32']['accuracy'] - same_seed['accuracy']) / acc['std']:.1f} std."
        )
    return line


def render(rev=None):
    """The block, from the workspace's metrics or those committed at `rev`."""
    ev, bench, train, data, load_test, seeds, distill, classical = (
        load(n, rev)
        for n in ("evaluate", "benchmark", "train", "data", "load_test", "seed_spread", "distill", "classical")
    )
    where = "metrics/evaluate.json" if rev is None else f"{rev}:metrics/evaluate.json"
    if not ev:
        raise PipelineError(f"{where}: not found (the pipeline writes it: dvc repro)")
    ev = Evaluation.from_json(ev, where)
    if classical:
        p = load_params_at(rev).get("classical", {})
        classical = {**classical, "ngram": f"{p.get('ngram_min', 1)}-{p.get('ngram_max', 3)}"}
        classical["model"] = {"linear_svm": "a linear SVM", "logistic_regression": "logistic regression"}.get(
            p.get("model", "linear_svm"), p.get("model")
        )
    setup = bench["setup"]
    lines = [f"Measured on: {machine(setup)}. Timing intervals: {setup['interval']}.", ""]
    lines += accuracy_table(ev) + [""] + accuracy_claims(ev, setup, bench, data) + [""]
    lines += trained_table(ev, bench, train)
    if load_test:
        lines += [""] + load_table(load_test)
    if "reference_shape" in bench:
        lines += [""] + shape_table(bench)
    lines += [""] + speed_claims(bench)
    lines += [c for c in (bucket_claim(bench), canary_claim(bench)) if c]
    lines += floor_and_student_claims(ev, bench, distill, classical, train)
    case = load("qat_case", rev)
    if case:
        quantized = {"": load("quantize", rev), "student_": load("quantize_student", rev)}
        lines += [qat_claim(case, ev, quantized)]
    lines += [seed_claim(seeds, ev, bench, train_seed(rev))] if seeds else []
    return "\n".join(lines) + "\n"


def headline(rev=None):
    """The README's block: the machine, then the claims of HEADLINE, from the full block."""
    full = render(rev).split("\n")
    return "\n".join([full[0], ""] + [line for line in full if line.startswith(HEADLINE)]) + "\n"


def between(path, start, end):
    """The text between two markers of a file."""
    return path.read_text(encoding="utf-8").split(start, 1)[1].split(end, 1)[0]


def _replace(path, start, end, text):
    head, rest = path.read_text(encoding="utf-8").split(start, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{start}\n{text}{end}{tail}", encoding="utf-8")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--write" not in argv:
        print(text, end="")
        return
    _replace(RESULTS, START, END, text)
    _replace(ROOT / "README.md", HEAD_START, HEAD_END, headline())


if __name__ == "__main__":
    main()
