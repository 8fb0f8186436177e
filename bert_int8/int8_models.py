"""Build every int8 model that quantize.backends asks for, each within the accuracy budget.

- torch: torch.ao dynamic quantization (the reference's method), saved as state_dict + recipe;
- onnxruntime: the FP32 model exported to ONNX, ONNX Runtime dynamic int8;
- openvino: the ONNX export converted to OpenVINO IR, NNCF static int8 calibrated on train titles.

One list of Linear layers kept FP32 (quantize.keep_fp32 patterns, plus what each backend's
budget search adds) reaches every backend, so each int8 model honours the budget, not only
PyTorch's.
"""

import fnmatch
import shutil
from pathlib import Path

from . import onnx_backend, openvino_backend
from .accuracy_budget import dev_uncertainty, fit_budget, macro_f1_of, predictions
from .atomic import write_json
from .errors import PipelineError
from .progress import progress
from .quantization import apply_recipe, fp32_linear_names, make_recipe, quantized_linear_names, save_quantized
from .sizes import weight_bytes


def _fresh(path):
    """An empty directory at `path` (each budget trial overwrites the last)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def build_int8_models(params, model, tokenizer, dev, classes, calibration_texts, out, threads=2):
    """Write the int8 model of each backend into out["torch"], out["onnxruntime"] (fp32/ and
    int8/), out["openvino"] (fp32/ and int8/); returns the report for metrics/quantize.json.
    Progress: one step per backend, and the budget search's trials."""
    recipe = make_recipe(params)
    by_params = [n for n in fp32_linear_names(model) if any(fnmatch.fnmatchcase(n, p) for p in params.keep_fp32)]
    layers = [n for n in fp32_linear_names(model) if n not in by_params]
    budget = params.max_f1_drop
    fp32_preds = predictions(model, tokenizer, dev) if budget is not None else None
    base_f1 = macro_f1_of(fp32_preds, dev, classes) if budget is not None else None
    # The last model scored and its dev predictions: fit_budget scores the model it returns
    # last, so its statistics against FP32 need no second pass over dev.
    scored = {}

    def score(m):
        scored.update(model=m, preds=predictions(m, tokenizer, dev))
        return macro_f1_of(scored["preds"], dev, classes)

    def within_budget(backend, quantize):
        if budget is None:
            return [], quantize([]), {}
        keep, qmodel, report = fit_budget(quantize, score, layers, base_f1, budget, desc=f"quantize {backend}")
        preds = scored["preds"] if scored.get("model") is qmodel else predictions(qmodel, tokenizer, dev)
        scored.clear()  # holds no model past its backend
        report.update(dev_uncertainty(dev, fp32_preds, preds, classes))
        if params.allow_over_budget:
            return keep, qmodel, report
        if report["dev_f1_drop"] > budget:
            raise PipelineError(
                f"quantize.max_f1_drop: no recipe meets the budget of {budget}: {backend} int8 loses "
                f"{report['dev_f1_drop']} dev macro-F1 with {len(by_params) + len(keep)} Linear layers kept in FP32 "
                "(raise the budget, or set quantize.allow_over_budget: true)"
            )
        if len(keep) == len(layers):
            raise PipelineError(
                f"quantize.max_f1_drop: no recipe meets the budget of {budget} with any Linear layer in int8: "
                f"{backend} keeps all {len(by_params) + len(keep)} in FP32 "
                "(raise the budget, or set quantize.allow_over_budget: true)"
            )
        return keep, qmodel, report

    report = {"budget": {"dev_fp32_macro_f1": base_f1, "max_f1_drop": budget}}

    with progress(len(params.backends), "quantize", "backends") as bar:
        # PyTorch (always built: the reference method)
        def torch_int8(keep):
            return apply_recipe(model, {**recipe, "keep_fp32": recipe["keep_fp32"] + keep})

        keep, qmodel, report["budget"]["torch"] = within_budget("torch", torch_int8)
        recipe = {**recipe, "keep_fp32": recipe["keep_fp32"] + keep}
        save_quantized(qmodel, tokenizer, recipe, out["torch"])
        report["recipe"] = recipe
        report["int8_linear_layers"] = len(quantized_linear_names(qmodel))
        report["fp32_linear_layers"] = fp32_linear_names(qmodel)
        if keep:
            report["budget"]["torch"]["extra_weight_bytes"] = weight_bytes(qmodel) - weight_bytes(
                apply_recipe(model, make_recipe(params))
            )
        bar.update()

        if "onnxruntime" in params.backends or "openvino" in params.backends:
            onnx_dir = out.get("onnxruntime") or Path(out["openvino"]) / ".onnx-export"
            fp32_onnx = _save_dir(model, tokenizer, Path(onnx_dir) / "fp32") / onnx_backend.MODEL_FILE
            onnx_backend.export_onnx(model, fp32_onnx)

        if "onnxruntime" in params.backends:
            int8_dir = Path(out["onnxruntime"]) / "int8"
            per_channel = params.scheme == "per_channel"

            def ort_int8(keep):
                _save_dir(model, tokenizer, _fresh(int8_dir))
                report["onnxruntime_recipe"] = onnx_backend.quantize_onnx(
                    fp32_onnx, int8_dir / onnx_backend.MODEL_FILE, per_channel, by_params + keep
                )
                return onnx_backend.OrtModel(int8_dir, threads)

            _, _, report["budget"]["onnxruntime"] = within_budget("onnxruntime", ort_int8)
            write_json(int8_dir / onnx_backend.RECIPE_FILE, report["onnxruntime_recipe"])
            bar.update()

        if "openvino" in params.backends:
            ov_fp32 = _save_dir(model, tokenizer, Path(out["openvino"]) / "fp32")
            openvino_backend.convert_fp32(fp32_onnx, ov_fp32)
            calibration = openvino_backend.calibration_batches(tokenizer, calibration_texts)
            int8_dir = Path(out["openvino"]) / "int8"

            def ov_int8(keep):
                _save_dir(model, tokenizer, _fresh(int8_dir))
                report["openvino_recipe"] = openvino_backend.quantize_int8(
                    ov_fp32, int8_dir, calibration, by_params + keep
                )
                return openvino_backend.OvModel(int8_dir, threads)

            _, _, report["budget"]["openvino"] = within_budget("openvino", ov_int8)
            if "onnxruntime" not in params.backends:
                shutil.rmtree(Path(out["openvino"]) / ".onnx-export")
            bar.update()
    return report


def _save_dir(model, tokenizer, path):
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
