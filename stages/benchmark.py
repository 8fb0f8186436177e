"""Stage benchmark: size on disk, weights in memory, latency and throughput, FP32 vs int8.

Reads:  models_save/fp32/, models_save/int8/ (its recipe is applied to the reference shape too)
Writes: metrics/benchmark.json
Params: benchmark.*
Two model pairs are measured: the trained one, and (benchmark.reference_shape) the
bert-base-chinese shape with random weights, so the reference's 390 -> 145 MiB and its speedup
can be compared on any machine without its weights. Ratios are int8 over FP32 within one run;
absolute times depend on the machine.
"""
import json
import platform
import tempfile
from pathlib import Path

import torch

from bert_int8 import atomic, paths
from bert_int8.bench import compare_models
from bert_int8.errors import run_stage
from bert_int8.modeling import load_fp32
from bert_int8.params import load_params
from bert_int8.quantization import RECIPE_FILE, WEIGHTS_FILE, apply_recipe, load_quantized, save_quantized


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def reference_shape_pair(recipe, params):
    """bert-base-chinese's shape (vocab 21128, 12 x 768), random weights, 10 labels."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    fp32 = BertForSequenceClassification(BertConfig(vocab_size=21128, num_labels=10)).eval()
    int8 = apply_recipe(fp32, recipe)
    with tempfile.TemporaryDirectory() as tmp:
        fp32.save_pretrained(Path(tmp) / "fp32")
        save_quantized(int8, _NoTokenizer(), recipe, Path(tmp) / "int8")
        files = {"fp32": Path(tmp) / "fp32" / "model.safetensors", "int8": Path(tmp) / "int8" / WEIGHTS_FILE}
        return compare_models({"fp32": fp32, "int8": int8}, files, 21128, params)


class _NoTokenizer:
    def save_pretrained(self, path):
        pass


def main():
    params = load_params().benchmark
    torch.set_num_threads(params.threads)
    fp32, int8 = load_fp32(paths.FP32_DIR), load_quantized(paths.INT8_DIR)
    recipe = json.loads((paths.INT8_DIR / RECIPE_FILE).read_text(encoding="utf-8"))
    files = {"fp32": paths.FP32_DIR / "model.safetensors", "int8": paths.INT8_DIR / WEIGHTS_FILE}
    report = {
        "setup": {
            "threads": params.threads,
            "seq_len": params.seq_len,
            "batch_size": params.batch_size,
            "runs": params.runs,
            "torch": torch.__version__,
            "cpu": cpu_name(),
        },
        "trained": compare_models({"fp32": fp32, "int8": int8}, files, fp32.config.vocab_size, params),
    }
    if params.reference_shape:
        report["bert_base_shape"] = reference_shape_pair(recipe, params)
    atomic.write_json(paths.METRICS / "benchmark.json", report)
    for pair in ("trained", "bert_base_shape"):
        if pair in report:
            r = report[pair]["int8_over_fp32"]
            print(f"{pair}: int8/fp32 file {r['file_bytes']:.3f}, latency {r['latency_p50']:.3f}, throughput x{r['throughput']:.2f}")


if __name__ == "__main__":
    run_stage(main)
