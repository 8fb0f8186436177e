"""Stage quantize: dynamic int8 quantization of the FP32 model (torch.ao, on the CPU).

Reads:  models_save/fp32/
Writes: models_save/int8/ (config, tokenizer, int8 state_dict, quantization_recipe.json),
        metrics/quantize.json (which layers are int8 and which stayed FP32)
Params: quantize.*
"""
from bert_int8 import atomic, paths
from bert_int8.errors import run_stage
from bert_int8.modeling import load_fp32
from bert_int8.params import load_params
from bert_int8.quantization import apply_recipe, fp32_linear_names, make_recipe, quantized_linear_names, save_quantized
from bert_int8.tokenizer import load_tokenizer


def main():
    params = load_params().quantize
    model = load_fp32(paths.FP32_DIR)
    tokenizer = load_tokenizer(paths.FP32_DIR)
    recipe = make_recipe(params)
    qmodel = apply_recipe(model, recipe)
    with atomic.output_dir(paths.INT8_DIR) as out:
        save_quantized(qmodel, tokenizer, recipe, out)
    int8_layers = quantized_linear_names(qmodel)
    fp32_layers = fp32_linear_names(qmodel)
    atomic.write_json(
        paths.METRICS / "quantize.json",
        {"recipe": recipe, "int8_linear_layers": len(int8_layers), "fp32_linear_layers": fp32_layers},
    )
    print(f"quantized {len(int8_layers)} linear layers to int8; kept {len(fp32_layers)} in FP32")


if __name__ == "__main__":
    run_stage(main)
