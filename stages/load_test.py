"""Stage load_test: the HTTP service under concurrent load, every built model, in one run.

Reads:  models_save/fp32/, models_save/int8/, models_save/onnx/, models_save/openvino/ (when built),
        data/prepared/test.tsv (titles to send)
Writes: metrics/load_test.json (requests/s, titles/s, latency p50/p95/p99 per model, and each
        model's ratios to FP32)
Params: load_test.*
Each model gets its own `bert-int8 serve` process on a free 127.0.0.1 port, driven by
load_test.clients concurrent clients for load_test.seconds.
"""

from bert_int8 import atomic, paths
from bert_int8.bench import ratios
from bert_int8.data import load_prepared
from bert_int8.errors import run_stage
from bert_int8.load_test import drive, running_server
from bert_int8.model_dir import built_models
from bert_int8.params import load_params


def main():
    params = load_params().load_test
    texts = load_prepared("test")[1].texts
    report = {"setup": params.model_dump()}
    # The service serves a model directory as it is; BF16 is a way to run one, not a directory.
    served = {name: m for name, m in built_models(bf16=False).items()}
    for name, model in served.items():
        with running_server(model.path, params.threads) as base:
            drive(base, texts, 1, min(2.0, params.seconds), params.texts_per_request)  # warm-up
            report[name] = drive(base, texts, params.clients, params.seconds, params.texts_per_request)
        print(f"{name}: {report[name]['requests_per_s']} req/s, p95 {report[name]['latency_ms_p95']} ms")
    for name in served:
        if name != "fp32":
            report[name]["vs_fp32"] = ratios(
                report[name], report["fp32"], {"requests_per_s": "requests_per_s", "latency_ms_p95": "latency_p95"}
            )
    atomic.write_json(paths.METRICS / "load_test.json", report)


if __name__ == "__main__":
    run_stage(main)
