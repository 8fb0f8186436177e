"""Stage quantize: each backend's models from the FP32 model, each int8 model within the budget.

Reads:  models_save/fp32/, data/prepared/dev.tsv (the budget is checked on dev),
        data/prepared/train.tsv (calibration titles, for backends that calibrate), classes.json
Writes: each backend in quantize.backends: models_save/<its dir>/{fp32,int8}/ (PyTorch: only
        models_save/int8/, beside training's models_save/fp32/); see bert_int8/backends,
        metrics/quantize.json (recipes, dev F1 drop per backend, layers kept FP32 and why)
Params: quantize.*
All backends' directories are built in a temporary place and swapped in together at the end.
"""

import random

from bert_int8 import atomic, backends, paths
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
    chosen = [b.name for b in backends.chosen(params.backends)]
    if any(backends.get(b).needs_calibration for b in chosen):
        train_texts = load_prepared("train")[1].texts
        calibration = random.Random(0).sample(train_texts, min(params.calibration_samples, len(train_texts)))
    outputs = [d for b in backends.BACKENDS.values() for d in b.quantize_outputs()]
    with atomic.output_tree(paths.MODELS, outputs) as root:
        report = build_int8_models(params, model, tokenizer, dev, classes, calibration, root)
        for d in outputs:  # each output exists for DVC even when its backend is off
            atomic.write_json(root / d / "backends.json", sorted(chosen))
        atomic.write_json(paths.METRICS / "quantize.json", report)
    torch_recipe = report["recipes"][backends.REFERENCE]
    print(
        f"PyTorch: {torch_recipe['int8_linear_layers']} Linear layers int8, {len(torch_recipe['fp32_linear_layers'])} FP32"
    )
    for backend, b in report["budget"].items():
        if isinstance(b, dict) and "dev_f1_drop" in b:  # no entries when quantize.max_f1_drop is null
            print(
                f"{backend}: dev macro-F1 drop {b['dev_f1_drop']} [{b['dev_f1_drop_lo']}, {b['dev_f1_drop_hi']}] "
                f"at 95%, {b['dev_verdict']} (budget {params.max_f1_drop}), "
                f"kept FP32 for the budget: {b['kept_fp32_for_budget'] or 'none'}"
            )


if __name__ == "__main__":
    run_stage(main)
