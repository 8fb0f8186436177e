"""The load_test stage's work: every served model under concurrent load, one server process
each, and the comparisons drawn from it (see stages/load_test.py for what is written)."""

from bert_int8 import backends
from bert_int8.backends.model_dir import built_models
from bert_int8.core import atomic, paths
from bert_int8.core.errors import PipelineError
from bert_int8.core.machine import environment
from bert_int8.core.metrics_files import read_metrics
from bert_int8.core.progress import progress
from bert_int8.data.splits import load_prepared
from bert_int8.serve.http_load import compare_layouts, running_server, sweep


def run(params, say=print):
    """load_test.json's report."""
    texts = load_prepared("test")[1].texts
    rates = read_metrics(paths.METRICS / "benchmark.json").get("real_titles", {})
    # The service serves a model directory as it is; BF16 is a way to run one, not a directory.
    served = built_models(bf16=False)
    missing = [name for name in served if name not in rates]
    if missing:
        raise PipelineError(f"metrics/benchmark.json: no real-title rate for {', '.join(missing)}; rerun benchmark")
    report = {"setup": {**params.model_dump(), **environment(backends.libraries())}}
    flags = ["--max-batch", str(params.max_batch), "--max-wait-ms", str(params.max_wait_ms)]
    flags += ["--max-queue", str(params.max_queue)]
    runs = len(served) * len(params.concurrency) * len(params.texts_per_request)
    key = f"c{max(params.concurrency)}"
    with progress(runs, "load test", "runs") as bar:
        for name, model in served.items():
            with running_server(model.path, params.threads, extra_args=flags) as base:
                report[name] = sweep(base, texts, params, rates[name]["dynamic_titles_per_s"], bar, name)
            top = report[name][key]
            say(
                f"{name}: {top['titles_per_s']} titles/s at {max(params.concurrency)} clients, p99 {top['latency_ms_p99']} ms"
            )
    # Each int8 model against the FP32 model of its own backend: what the service keeps of the
    # speedup the model shows alone (the benchmark's real-title rates).
    int8 = [name for name, model in served.items() if model.precision == "int8"]
    for name in int8:
        base = served[name].fp32_name
        if base in served and report[base][key]["titles_per_s"]:
            service = report[name][key]["titles_per_s"] / report[base][key]["titles_per_s"]
            model = rates[name]["dynamic_titles_per_s"] / rates[base]["dynamic_titles_per_s"]
            report[name][f"vs_{base}"] = {
                f"service_titles_per_s_{key}": round(service, 4),
                "model_titles_per_s": round(model, 4),
                "service_over_model": round(service / model, 4),
            }
    # The int8 model that serves the most single titles/s, in each serving layout (http_load.layouts).
    if params.threads > 1 and int8:
        best = max(int8, key=lambda name: report[name][key]["titles_per_s"])
        report[best]["layouts"] = compare_layouts(served[best], best, texts, params, flags)
    return report


def run_and_write(params, say=print):
    """The load_test stage: `run`, written to metrics/load_test.json."""
    atomic.write_json(paths.METRICS / "load_test.json", run(params, say))
