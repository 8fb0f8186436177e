"""Stage quantize: int8 models from the FP32 model, each backend within the accuracy budget.

Reads:  models_save/fp32/, data/prepared/dev.tsv (the budget is checked on dev),
        data/prepared/train.tsv (OpenVINO calibration titles), classes.json
Writes: models_save/int8/ (PyTorch: config, tokenizer, int8 state_dict, quantization_recipe.json),
        models_save/onnx/{fp32,int8}/ (quantize.backends has onnxruntime),
        models_save/openvino/{fp32,int8}/ (quantize.backends has openvino),
        metrics/quantize.json (recipes, dev F1 drop per backend, layers kept FP32 and why)
Params: quantize.*
All three directories are built in temporary places and swapped in together at the end.
"""

import random

from bert_int8 import atomic, paths
from bert_int8.data import load_prepared
from bert_int8.errors import run_stage
from bert_int8.int8_models import build_int8_models
from bert_int8.modeling import load_fp32
from bert_int8.params import load_params
from bert_int8.tokenizer import load_tokenizer


def main():
    params = load_params().quantize
    model = load_fp32(paths.FP32_DIR)
    tokenizer = load_tokenizer(paths.FP32_DIR)
    classes, dev = load_prepared("dev")
    calibration = []
    if "openvino" in params.backends:
        train_texts = load_prepared("train")[1].texts
        calibration = random.Random(0).sample(train_texts, min(params.calibration_samples, len(train_texts)))
    with atomic.output_dirs([paths.INT8_DIR, paths.ONNX_DIR, paths.OPENVINO_DIR]) as (torch_dir, onnx_dir, ov_dir):
        out = {"torch": torch_dir, "onnxruntime": onnx_dir, "openvino": ov_dir}
        report = build_int8_models(
            params, model, tokenizer, dev, classes, calibration, {b: d for b, d in out.items() if b in params.backends}
        )
        for d in (onnx_dir, ov_dir):  # each output exists for DVC even when its backend is off
            atomic.write_json(d / "backends.json", sorted(params.backends))
        atomic.write_json(paths.METRICS / "quantize.json", report)
    print(f"PyTorch: {report['int8_linear_layers']} Linear layers int8, {len(report['fp32_linear_layers'])} FP32")
    for backend, b in report["budget"].items():
        if isinstance(b, dict) and "dev_f1_drop" in b:  # no entries when quantize.max_f1_drop is null
            print(
                f"{backend}: dev macro-F1 drop {b['dev_f1_drop']} [{b['dev_f1_drop_lo']}, {b['dev_f1_drop_hi']}] "
                f"at 95%, {b['dev_verdict']} (budget {params.max_f1_drop}), "
                f"kept FP32 for the budget: {b['kept_fp32_for_budget'] or 'none'}"
            )


if __name__ == "__main__":
    run_stage(main)
