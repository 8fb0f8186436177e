"""Stage quantize: dynamic int8 quantization of the FP32 model, within an accuracy budget.

Reads:  models_save/fp32/, data/prepared/dev.tsv, classes.json (the budget is checked on dev)
Writes: models_save/int8/ (config, tokenizer, int8 state_dict, quantization_recipe.json),
        models_save/onnx/{fp32,int8}/ (when quantize.backends has onnxruntime: model.onnx,
        config, tokenizer; int8 quantized by ONNX Runtime),
        metrics/quantize.json (the recipe, the dev F1 drop, which layers stayed FP32 and why)
Params: quantize.*
"""
import json

from bert_int8 import atomic, paths
from bert_int8.accuracy_budget import fit_budget
from bert_int8.bench import weight_bytes
from bert_int8.data import read_split
from bert_int8.errors import PipelineError, run_stage
from bert_int8.modeling import load_fp32
from bert_int8.onnx_backend import save_onnx_pair
from bert_int8.params import load_params
from bert_int8.quantization import apply_recipe, fp32_linear_names, make_recipe, quantized_linear_names, save_quantized
from bert_int8.tokenizer import load_tokenizer


def main():
    params = load_params().quantize
    model = load_fp32(paths.FP32_DIR)
    tokenizer = load_tokenizer(paths.FP32_DIR)
    recipe = make_recipe(params)
    report = {}
    if params.max_f1_drop is None:
        qmodel = apply_recipe(model, recipe)
    else:
        classes = json.loads(paths.CLASSES.read_text(encoding="utf-8"))
        dev = read_split(paths.prepared_split("dev"), len(classes))
        recipe, qmodel, report["budget"] = fit_budget(model, tokenizer, recipe, dev, classes, params.max_f1_drop)
        over = report["budget"]["dev_f1_drop"] > params.max_f1_drop
        if (over or not quantized_linear_names(qmodel)) and not params.allow_over_budget:
            raise PipelineError(
                f"quantize.max_f1_drop: no recipe meets the budget of {params.max_f1_drop}: dev macro-F1 drop "
                f"{report['budget']['dev_f1_drop']} with {len(fp32_linear_names(qmodel))} Linear layers kept in FP32 "
                "(raise the budget, or set quantize.allow_over_budget: true)"
            )
        if report["budget"]["kept_fp32_for_budget"]:
            base = apply_recipe(model, make_recipe(params))
            report["budget"]["extra_weight_bytes"] = weight_bytes(qmodel) - weight_bytes(base)

    with atomic.output_dir(paths.INT8_DIR) as out:
        save_quantized(qmodel, tokenizer, recipe, out)
    with atomic.output_dir(paths.ONNX_DIR) as out:
        if "onnxruntime" in params.backends:
            report["onnxruntime_recipe"] = save_onnx_pair(model, tokenizer, out, params.scheme == "per_channel")
        # always one file, so the output exists for DVC when ONNX Runtime is not built
        (out / "backends.json").write_text(json.dumps(sorted(params.backends)) + "\n")
    int8_layers = quantized_linear_names(qmodel)
    fp32_layers = fp32_linear_names(qmodel)
    atomic.write_json(
        paths.METRICS / "quantize.json",
        {"recipe": recipe, "int8_linear_layers": len(int8_layers), "fp32_linear_layers": fp32_layers, **report},
    )
    print(f"quantized {len(int8_layers)} linear layers to int8; kept {len(fp32_layers)} in FP32")
    if "budget" in report:
        print(f"dev macro-F1 drop {report['budget']['dev_f1_drop']} (budget {params.max_f1_drop})")


if __name__ == "__main__":
    run_stage(main)
