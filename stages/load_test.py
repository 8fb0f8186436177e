"""Stage load_test: the HTTP service under concurrent load, every built model, in one run.

Reads:  models_save/fp32/, models_save/int8/, models_save/onnx/ (when built),
        data/prepared/test.tsv (titles to send)
Writes: metrics/load_test.json (requests/s, titles/s, latency p50/p95/p99 per model, and each
        model's ratios to FP32)
Params: load_test.*
Each model gets its own `bert-int8 serve` process on a free 127.0.0.1 port, driven by
load_test.clients concurrent clients for load_test.seconds.
"""
import json

from bert_int8 import atomic, paths
from bert_int8.data import read_split
from bert_int8.errors import run_stage
from bert_int8.load_test import drive, running_server
from bert_int8.params import load_params


def main():
    params = load_params().load_test
    classes = json.loads(paths.CLASSES.read_text(encoding="utf-8"))
    texts = read_split(paths.prepared_split("test"), len(classes)).texts
    report = {"setup": params.model_dump()}
    for name, model_dir in paths.built_models().items():
        with running_server(model_dir, params.threads) as base:
            drive(base, texts, 1, min(2.0, params.seconds), params.texts_per_request)  # warm-up
            report[name] = drive(base, texts, params.clients, params.seconds, params.texts_per_request)
        print(f"{name}: {report[name]['requests_per_s']} req/s, p95 {report[name]['latency_ms_p95']} ms")
    for name in paths.built_models():
        if name != "fp32":
            report[name]["vs_fp32"] = {
                "requests_per_s": round(report[name]["requests_per_s"] / report["fp32"]["requests_per_s"], 4),
                "latency_p95": round(report[name]["latency_ms_p95"] / report["fp32"]["latency_ms_p95"], 4),
            }
    atomic.write_json(paths.METRICS / "load_test.json", report)


if __name__ == "__main__":
    run_stage(main)
