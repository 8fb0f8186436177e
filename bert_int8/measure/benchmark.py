"""The benchmark stage's work: the trained models on fixed shapes and on real test titles, then
(benchmark.reference_shape) a reference shape with random weights, every model in a fresh
process of its own (bert_int8.measure.comparison), and the trade-off table for the figures."""

import tempfile
import time
from pathlib import Path

from bert_int8 import backends
from bert_int8.backends.model_dir import built_models
from bert_int8.core import atomic, paths
from bert_int8.core.machine import environment, native_bf16
from bert_int8.core.reports import Evaluation
from bert_int8.data.splits import load_prepared
from bert_int8.data.tokenizer import load_tokenizer
from bert_int8.measure.comparison import compare_models
from bert_int8.measure.disturbance import CpuWatch
from bert_int8.measure.launcher import process_shares
from bert_int8.measure.reference_shape import benchmark_shape, reference_config, student_shape
from bert_int8.model import roles
from bert_int8.stats.intervals import interval_coverage, order_statistic, summarize
from bert_int8.train.classical import ClassicalModel, time_titles

TRADEOFF_HEADER = "model,macro_f1,file_mib,latency_ms_p50,latency_ms_p50_lo,latency_ms_p50_hi"


def run(all_params, say=print):
    """benchmark.json's report, and plots/tradeoff.csv's text."""
    from transformers import AutoConfig

    params = all_params.benchmark
    started = time.monotonic()
    evaluation = Evaluation.read(paths.METRICS / "evaluate.json")  # before minutes of timing
    built = built_models()
    titles = load_prepared("test")[1].texts[: params.title_samples]
    vocab_size = AutoConfig.from_pretrained(paths.FP32_DIR).vocab_size
    say(
        f"benchmark: timing {len(built)} trained models, each in {params.processes} fresh processes "
        f"({', '.join(built)})"
    )
    with tempfile.TemporaryDirectory() as tmp:
        titles_file = Path(tmp) / "titles.txt"
        titles_file.write_text("\n".join(titles), encoding="utf-8")
        trained = compare_models(built, vocab_size, params, (titles_file, paths.FP32_DIR), "benchmark: trained models")
    report = {
        "setup": {
            **params.model_dump(),
            **environment(backends.libraries()),
            "interval": interval_note(params),
            "others_cpu_share": {"trained": trained.pop("others_cpu_share")},
            "canary": {"trained": trained.pop("canary")},
        },
        "trained": trained["models"],
        "real_titles": trained["real_titles"],
        "winners": {"trained": trained["winners"]},
        "headline": {"trained": trained["headline"], "student": trained["student"]},
        "artifacts": trained["artifacts"],
        roles.CLASSICAL: time_classical(titles, params, say),
    }
    if params.reference_shape:
        _add_reference(report, *reference(all_params, titles, say))
    report["setup"]["stage_seconds"] = round(time.monotonic() - started)
    rows = [TRADEOFF_HEADER] + [
        f"{name},{evaluation.models[name]['macro_f1']},{r['file_bytes'] / 2**20:.3f},"
        f"{r['latency_ms_p50']},{r['latency_ms_p50_lo']},{r['latency_ms_p50_hi']}"
        for name, r in report["trained"].items()
        if name in evaluation.models
    ]
    return report, "\n".join(rows) + "\n"


def time_classical(titles, params, say):
    """The classical floor's real-title rate: the same titles, batches and passes as the models'
    real-title figures, in this process (numpy and scikit-learn, one thread: no runtime's thread
    pool to keep apart), after the models; watched for other processes' CPU use as they are,
    timed once more when others took more than benchmark.disturbed_share, then marked."""
    model = ClassicalModel.load(paths.CLASSICAL_DIR)
    for attempt in range(2):
        with CpuWatch() as watch:
            rates = time_titles(model, titles, params.batch_size, params.repeats, params.min_pass_seconds)
        share = watch.worst_share
        disturbed = share is not None and share > params.disturbed_share
        if not disturbed:
            break
        say(
            f"benchmark: classical: other processes took {share:.0%} of the CPU while it was timed"
            + ("; timing it again" if not attempt else "")
        )
    row = summarize({"dynamic_titles_per_s": rates}, {"dynamic_titles_per_s": 1})
    row.update(others_cpu_share=share, disturbed=disturbed)
    say(f"benchmark: classical floor {row['dynamic_titles_per_s']:,.0f} real titles/s")
    return row


def reference(all_params, titles, say):
    """(shape, figures, kernel rate) of the reference shape (random weights, the int8 recipe of the
    trained model), timed as the trained models are."""
    config, shape_params, shape = reference_config(
        all_params.model, all_params.data.max_seq_length, paths.FP32_DIR, all_params.benchmark
    )
    student = student_shape(config, all_params.benchmark.reference_student_layers)
    if student is not None:
        shape = {**shape, "student_layers": student.num_hidden_layers}
    say(f"benchmark: building and timing the reference shape (a few minutes): {shape}")
    recipe = backends.get(backends.REFERENCE).recipe(paths.INT8_DIR)
    built = sorted({m.runtime_name for m in built_models(bf16=False).values()})
    tokenizer = load_tokenizer(paths.FP32_DIR)
    result, kernel = benchmark_shape(
        config, recipe, built, tokenizer, titles[:64], shape_params, native_bf16(), student
    )
    return shape, result, kernel


def _add_reference(report, shape, result, kernel):
    """The reference shape's sections, beside the trained model's in each part of the report."""
    report["reference_shape_config"] = shape
    report["reference_shape"] = result["models"]
    report["winners"]["reference_shape"] = result["winners"]
    report["headline"]["reference_shape"] = result["headline"]
    report["headline"]["reference_shape_student"] = result["student"]
    report["setup"]["others_cpu_share"]["reference_shape"] = result["others_cpu_share"]
    report["setup"]["canary"]["reference_shape"] = result["canary"]
    report["kernel"] = kernel


def interval_note(params):
    """What every `_lo`/`_hi` pair in benchmark.json is, and the cold figures, in words."""
    n, k = params.repeats, order_statistic(params.repeats)
    shares = sorted(set(process_shares(n, params.processes)))
    return (
        f"median of {n} timed passes after warm-up, {' or '.join(map(str, shares))} in each of {params.processes} "
        f"fresh processes per model, the processes started in turn over the models; _lo/_hi: order statistics "
        f"{k} and {n - k + 1} of all the passes, a distribution-free interval covering the median with "
        f"probability {interval_coverage(n, k):.3f}; a ratio of two models: the median of all pairs of their passes, "
        f"with Moses' 95% interval; cold: the median over the processes of each one's first call or pass over "
        f"unseen shapes"
    )


def run_and_write(all_params, say=print):
    """The benchmark stage: `run`, then metrics/benchmark.json and plots/tradeoff.csv, and the
    calls and the student's ratios said in lines."""
    report, tradeoff = run(all_params, say)
    atomic.write_json(paths.METRICS / "benchmark.json", report)
    atomic.write_text(paths.PLOTS / "tradeoff.csv", tradeoff)
    for group, w in report["winners"].items():
        say(f"{group}: " + "; ".join(f"{key} {who}" for key, who in w.items()))
    student = report["headline"]["student"]
    for what in ("batch_1", f"batch_{all_params.benchmark.batch_size}", "real_titles"):
        for ratio in ("latency_p50", "throughput", "titles_per_s"):
            if f"{what}_{ratio}" in student:
                say(
                    f"student {what}: {student[f'{what}_student']} against {student[f'{what}_teacher']}, "
                    f"{ratio} x{student[f'{what}_{ratio}']} [{student[f'{what}_{ratio}_lo']}, "
                    f"{student[f'{what}_{ratio}_hi']}]"
                )
    say(f"benchmark: {report['setup']['stage_seconds']} s")
