"""Stage load_test: the HTTP service under concurrent load, every served model, in one run.

Reads:  models_save/fp32/, models_save/int8/, models_save/onnx/, models_save/openvino/ (when
        built), data/prepared/test.tsv (titles to send), metrics/benchmark.json (each model's
        own real-title rate, which the service's titles/s is a share of)
Writes: metrics/load_test.json: <model>.c<N> (single-title requests) and <model>.c<N>_batch<K>
        (K titles per request): requests/s, titles/s, latency p50/p95/p99, errors, share of the
        model's rate, the load generator's CPU seconds, the share of the machine's CPU other
        processes took (others_cpu_share) and whether the run was disturbed; each model's
        rss_mib_at_start (after its first answer), rss_mib_after_sweep and
        start_to_first_answer_s; each int8 model's titles/s ratio to the FP32 model of its
        backend at the highest concurrency, beside the models' own ratio; and, under the int8
        model with the most single titles/s at the highest concurrency, <model>.layouts: it
        served as 1 worker x load_test.threads threads against load_test.threads workers x 1
        thread, single titles at the highest concurrency (none when load_test.threads is 1)
Params: load_test.*
Each model gets its own `bert-int8 serve` process on a free 127.0.0.1 port, driven by the load
generator (bert_int8/load_gen.py) in a process of its own; a run that other load on the machine
disturbed (above load_test.disturbed_share) is run once more, then marked.
"""

import json

from bert_int8 import atomic, paths
from bert_int8.data import load_prepared
from bert_int8.errors import PipelineError, run_stage
from bert_int8.http_load import compare_layouts, running_server, sweep
from bert_int8.machine import environment
from bert_int8.model_dir import built_models
from bert_int8.params import load_params
from bert_int8.progress import progress


def main():
    params = load_params().load_test
    texts = load_prepared("test")[1].texts
    rates = json.loads((paths.METRICS / "benchmark.json").read_text(encoding="utf-8"))["real_titles"]
    missing = [name for name in built_models(bf16=False) if name not in rates]
    if missing:
        raise PipelineError(f"metrics/benchmark.json: no real-title rate for {', '.join(missing)}; rerun benchmark")
    report = {"setup": {**params.model_dump(), **environment()}}
    # The service serves a model directory as it is; BF16 is a way to run one, not a directory.
    served = built_models(bf16=False)
    flags = [
        "--max-batch",
        str(params.max_batch),
        "--max-wait-ms",
        str(params.max_wait_ms),
        "--max-queue",
        str(params.max_queue),
    ]
    runs = len(served) * len(params.concurrency) * len(params.texts_per_request)
    with progress(runs, "load test", "runs") as bar:
        for name, model in served.items():
            with running_server(model.path, params.threads, extra_args=flags) as base:
                report[name] = sweep(base, texts, params, rates[name]["dynamic_titles_per_s"], bar, name)
            top = report[name][f"c{max(params.concurrency)}"]
            print(
                f"{name}: {top['titles_per_s']} titles/s at {max(params.concurrency)} clients, p99 {top['latency_ms_p99']} ms"
            )
    # Each int8 model against the FP32 model of its own backend: what the service keeps of the
    # speedup the model shows alone (the benchmark's real-title rates).
    key = f"c{max(params.concurrency)}"
    for name in served:
        base = name.replace("int8", "fp32")
        if name.endswith("int8") and base in served and report[base][key]["titles_per_s"]:
            service = report[name][key]["titles_per_s"] / report[base][key]["titles_per_s"]
            model = rates[name]["dynamic_titles_per_s"] / rates[base]["dynamic_titles_per_s"]
            report[name][f"vs_{base}"] = {
                f"service_titles_per_s_{key}": round(service, 4),
                "model_titles_per_s": round(model, 4),
                "service_over_model": round(service / model, 4),
            }
    # The int8 model that serves the most single titles/s: as 1 worker x threads and threads x 1.
    int8 = [name for name in served if name.endswith("int8")]
    if params.threads > 1 and int8:
        best = max(int8, key=lambda name: report[name][key]["titles_per_s"])
        report[best]["layouts"] = compare_layouts(served[best].path, best, texts, params, flags)
    atomic.write_json(paths.METRICS / "load_test.json", report)


if __name__ == "__main__":
    run_stage(main)
