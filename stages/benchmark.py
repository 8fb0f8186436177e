"""Stage benchmark: size on disk, weights in memory, latency and throughput of every built model.

Reads:  models_save/fp32/, models_save/int8/ (its recipe is applied to the reference shape
        too), models_save/onnx/ (when built), data/prepared/test.tsv (real titles),
        metrics/evaluate.json (test macro-F1, for the trade-off plot)
Writes: metrics/benchmark.json, plots/tradeoff.csv (per model: macro-F1, size, latency)
Params: benchmark.*
Two sets are measured: the trained models, and (benchmark.reference_shape) the
bert-base-chinese shape with random weights, so the reference's 390 -> 145 MiB and its speedup
can be compared on any machine without its weights. Every model's ratios to PyTorch FP32 and to
the fastest FP32 model come from one run; absolute times depend on the machine.
"""
import json
import platform
import tempfile
from pathlib import Path

import torch

from bert_int8 import atomic, paths
from bert_int8.bench import compare_models, title_throughput
from bert_int8.data import read_split
from bert_int8.errors import run_stage
from bert_int8.kernel_rate import int8_matmul_gops, linear_ops_per_sequence
from bert_int8.onnx_backend import MODEL_FILE, OrtModel, save_onnx_pair
from bert_int8.params import load_params
from bert_int8.predict import load_model
from bert_int8.quantization import RECIPE_FILE, WEIGHTS_FILE, apply_recipe, save_quantized
from bert_int8.tokenizer import load_tokenizer


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def weights_file(name, model_dir):
    if name.startswith("onnx_"):
        return Path(model_dir) / MODEL_FILE
    return Path(model_dir) / (WEIGHTS_FILE if name == "int8" else "model.safetensors")


class _NoTokenizer:
    def save_pretrained(self, path):
        pass


def reference_shape(recipe, with_onnx, params):
    """bert-base-chinese's shape (vocab 21128, 12 x 768), random weights, 10 labels, through
    the same quantization as the trained model; and the machine's int8 matrix-product rate."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    fp32 = BertForSequenceClassification(BertConfig(vocab_size=21128, num_labels=10)).eval()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        fp32.save_pretrained(tmp / "fp32")
        models = {"fp32": fp32, "int8": apply_recipe(fp32, recipe)}
        save_quantized(models["int8"], _NoTokenizer(), recipe, tmp / "int8")
        files = {"fp32": tmp / "fp32" / "model.safetensors", "int8": tmp / "int8" / WEIGHTS_FILE}
        if with_onnx:
            save_onnx_pair(fp32, _NoTokenizer(), tmp / "onnx", recipe["scheme"] == "per_channel")
            for kind in ("fp32", "int8"):
                models[f"onnx_{kind}"] = OrtModel(tmp / "onnx" / kind, params.threads)
                files[f"onnx_{kind}"] = tmp / "onnx" / kind / MODEL_FILE
        report = compare_models(models, files, 21128, params)
    # How close each int8 model comes, at batch size benchmark.batch_size, to the machine's
    # int8 matrix-product rate (ONNX Runtime MatMulInteger, same threads).
    ops = linear_ops_per_sequence(fp32.config, params.seq_len)
    rate = int8_matmul_gops(params.threads)
    kernel = {"int8_matmul_gops": round(rate, 1), "gop_per_sequence": round(ops / 1e9, 3)}
    for name in ("int8", "onnx_int8"):
        if name in report:
            gops = ops * report[name]["throughput_seq_per_s"] / 1e9
            report[name]["gops"] = round(gops, 1)
            report[name]["share_of_int8_matmul_rate"] = round(gops / rate, 4)
    return report, kernel


def main():
    params = load_params().benchmark
    built = paths.built_models()
    models = {name: load_model(d, params.threads)[0] for name, d in built.items()}
    files = {name: weights_file(name, d) for name, d in built.items()}
    classes = json.loads(paths.CLASSES.read_text(encoding="utf-8"))
    titles = read_split(paths.prepared_split("test"), len(classes)).texts[: params.title_samples]
    tokenizer = load_tokenizer(paths.FP32_DIR)

    report = {
        "setup": {**params.model_dump(), "torch": torch.__version__, "cpu": cpu_name()},
        "trained": compare_models(models, files, models["fp32"].config.vocab_size, params),
        "real_titles": {
            name: title_throughput(model, tokenizer, titles, params.batch_size, params.seq_len)
            for name, model in models.items()
        },
    }
    if params.reference_shape:
        recipe = json.loads((paths.INT8_DIR / RECIPE_FILE).read_text(encoding="utf-8"))
        report["bert_base_shape"], report["kernel"] = reference_shape(recipe, "onnx_int8" in models, params)
    atomic.write_json(paths.METRICS / "benchmark.json", report)
    evaluation = json.loads((paths.METRICS / "evaluate.json").read_text(encoding="utf-8"))
    rows = ["model,macro_f1,weights_mib,latency_ms_p50"] + [
        f"{name},{evaluation[name]['macro_f1']},{r['file_bytes'] / 2**20:.3f},{r['latency_ms_p50']}"
        for name, r in report["trained"].items()
    ]
    atomic.write_text(paths.PLOTS / "tradeoff.csv", "\n".join(rows) + "\n")
    for group in ("trained", "bert_base_shape"):
        for name, r in report.get(group, {}).items():
            if "vs_fp32" in r:
                v = r["vs_fp32"]
                print(f"{group} {name}/fp32: file {v['file_bytes']:.3f}, latency {v['latency_p50']:.3f}, "
                      f"throughput x{v['throughput']:.2f}")


if __name__ == "__main__":
    run_stage(main)
