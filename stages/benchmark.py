"""Stage benchmark: size on disk, weights in memory, latency and throughput of every built model.

Reads:  models_save/fp32/, models_save/int8/ (its recipe is applied to the reference shape
        too), models_save/onnx/ and models_save/openvino/ (when built),
        data/prepared/test.tsv (real titles), metrics/evaluate.json (test macro-F1, for the
        trade-off plot)
Writes: metrics/benchmark.json (with the machine: CPU, ISA flags, library versions),
        plots/tradeoff.csv (per model: macro-F1, size, latency)
Params: benchmark.*; model.pretrained, model.finetuned and data.max_seq_length (the reference shape)
Two sets are measured: the trained models, and (benchmark.reference_shape) a reference shape
with random weights: the bert-base-chinese shape at benchmark.seq_len, or, when
model.finetuned or model.pretrained is set, that model's config at data.max_seq_length
(benchmark.json's reference_shape says which; its results stay under bert_base_shape). Each int8 model's ratios to PyTorch FP32 and to
the best non-int8 baseline (FP32 or BF16) come from one run; BF16 variants are timed only where
the CPU has native BF16. Absolute times depend on the machine.
"""

import json

from transformers import AutoConfig

from bert_int8 import atomic, paths
from bert_int8.data import load_prepared
from bert_int8.errors import run_stage
from bert_int8.machine import environment, native_bf16
from bert_int8.model_dir import built_models
from bert_int8.params import load_params
from bert_int8.quantization import RECIPE_FILE
from bert_int8.reference_shape import benchmark_shape, reference_config
from bert_int8.timing import compare_models, title_throughputs
from bert_int8.tokenizer import load_tokenizer


def main():
    all_params = load_params()
    params = all_params.benchmark
    built = built_models()
    test = load_prepared("test")[1]
    titles = test.texts[: params.title_samples]
    tokenizer = load_tokenizer(paths.FP32_DIR)

    print(f"benchmark: timing {len(built)} trained models ({', '.join(built)})", flush=True)
    vocab_size = AutoConfig.from_pretrained(paths.FP32_DIR).vocab_size
    trained, winners, models = compare_models(built, vocab_size, params, desc="benchmark: trained models")
    report = {
        "setup": {**params.model_dump(), **environment()},
        "trained": trained,
        "winners": {"trained": winners},
        "real_titles": title_throughputs(models, tokenizer, titles, params.batch_size, params.seq_len),
    }
    del models
    if params.reference_shape:
        config, shape_params, shape = reference_config(
            all_params.model, all_params.data.max_seq_length, paths.FP32_DIR, params
        )
        report["reference_shape"] = shape
        print(f"benchmark: building and timing the reference shape (a few minutes): {shape}", flush=True)
        recipe = json.loads((paths.INT8_DIR / RECIPE_FILE).read_text(encoding="utf-8"))
        backends = sorted({m.backend for m in built.values()})
        report["bert_base_shape"], report["winners"]["bert_base_shape"], report["kernel"] = benchmark_shape(
            config, recipe, backends, tokenizer, titles[:64], shape_params, native_bf16()
        )
    evaluation = json.loads((paths.METRICS / "evaluate.json").read_text(encoding="utf-8"))
    rows = ["model,macro_f1,weights_mib,latency_ms_p50"] + [
        f"{name},{evaluation[name]['macro_f1']},{r['file_bytes'] / 2**20:.3f},{r['latency_ms_p50']}"
        for name, r in report["trained"].items()
    ]
    atomic.write_json(paths.METRICS / "benchmark.json", report)
    atomic.write_text(paths.PLOTS / "tradeoff.csv", "\n".join(rows) + "\n")
    for group, w in report["winners"].items():
        print(
            f"{group}: fastest at batch 1 {w['batch_1']}, at batch {params.batch_size} "
            f"{w[f'batch_{params.batch_size}']}; best int8 {w['int8_batch_1']} / {w[f'int8_batch_{params.batch_size}']}"
        )


if __name__ == "__main__":
    run_stage(main)
