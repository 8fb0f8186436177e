"""Dynamic int8 quantization with torch.ao, saved as a state_dict plus the recipe that made it.

A quantized model is never pickled whole: `save_quantized` writes the int8 state_dict and a
JSON recipe; `load_quantized` builds a fresh FP32 model from the config, applies the same
recipe, and loads the state_dict with `torch.load(weights_only=True)`.

torch.ao.quantization is deprecated in favour of torchao, but torchao's int8 path is slower
for BERT on CPU (issue 3 measured 1014 ms vs 30-47 ms at batch 1), so we stay on torch.ao and
silence exactly its deprecation messages; any other warning still reaches the user.
"""

import contextlib
import fnmatch
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from bert_int8.core.atomic import write_json
from bert_int8.core.config_dir import check_model_dir
from bert_int8.core.errors import PipelineError, first_line

from .torch_files import RECIPE_FILE, WEIGHTS_FILE

RECIPE_FORMAT = 1

# The deprecation messages torch 2.13 prints for torch.ao eager quantization and quantized tensors.
_TORCH_AO_WARNINGS = (
    r"torch\.ao\.quantization is deprecated",
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation functions",
    r"TypedStorage is deprecated",
)


@contextlib.contextmanager
def quiet_torch_ao():
    with warnings.catch_warnings():
        for pattern in _TORCH_AO_WARNINGS:
            warnings.filterwarnings("ignore", message=pattern)
        yield


def make_recipe(quantize_params):
    return {
        "format": RECIPE_FORMAT,
        "method": "torch.ao.quantization.quantize_dynamic",
        "dtype": "qint8",
        "scheme": quantize_params.scheme,
        "embeddings": quantize_params.embeddings,
        "keep_fp32": list(quantize_params.keep_fp32),
    }


def _qconfig_spec(model, recipe):
    from torch.ao.quantization import (
        default_dynamic_qconfig,
        float_qparams_weight_only_qconfig,
        per_channel_dynamic_qconfig,
    )

    linear_qconfig = per_channel_dynamic_qconfig if recipe["scheme"] == "per_channel" else default_dynamic_qconfig
    spec = {}
    for name, module in model.named_modules():
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in recipe["keep_fp32"]):
            continue
        if isinstance(module, nn.Linear):
            spec[name] = linear_qconfig
        elif isinstance(module, nn.Embedding) and recipe["embeddings"] == "int8":
            spec[name] = float_qparams_weight_only_qconfig
    return spec


def _contiguous_inputs(module, args):
    # Quantized embeddings need contiguous indices; BERT's default token_type_ids are an
    # expanded (non-contiguous) view of a buffer.
    return tuple(a.contiguous() if torch.is_tensor(a) else a for a in args)


def apply_recipe(model, recipe):
    """A quantized copy of an FP32 model (moved to the CPU first: quantized kernels are CPU-only)."""
    model = model.to("cpu").eval()
    with quiet_torch_ao():
        qmodel = torch.ao.quantization.quantize_dynamic(model, _qconfig_spec(model, recipe), dtype=torch.qint8)
    for module in qmodel.modules():
        if isinstance(module, torch.ao.nn.quantized.Embedding):
            module.register_forward_pre_hook(_contiguous_inputs)
    return qmodel


def quantized_linear_names(qmodel):
    return [name for name, m in qmodel.named_modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]


def save_quantized(qmodel, tokenizer, recipe, out_dir):
    out_dir = Path(out_dir)
    qmodel.config.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    torch.save(qmodel.state_dict(), out_dir / WEIGHTS_FILE)
    write_json(out_dir / RECIPE_FILE, recipe)


def load_quantized(path):
    """Rebuild a model saved by `save_quantized`: fresh model, same recipe, weights_only load."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    path = Path(path)
    check_model_dir(path)
    recipe_path, weights_path = path / RECIPE_FILE, path / WEIGHTS_FILE
    for f in (recipe_path, weights_path):
        if not f.is_file():
            raise PipelineError(f"{path}: not an int8 model directory ({f.name} missing)")
    try:
        recipe = json.loads(recipe_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PipelineError(f"{recipe_path}: not valid JSON: {err}") from None
    if not isinstance(recipe, dict) or recipe.get("format") != RECIPE_FORMAT:
        raise PipelineError(f"{recipe_path}: unknown recipe format (expected format {RECIPE_FORMAT})")
    missing = [k for k in ("scheme", "embeddings", "keep_fp32") if k not in recipe]
    if missing:
        raise PipelineError(f"{recipe_path}: recipe lacks key {missing[0]!r}")
    config = AutoConfig.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_config(config)
    qmodel = apply_recipe(model, recipe)
    with quiet_torch_ao():
        try:
            state = torch.load(weights_path, weights_only=True, map_location="cpu")
        except Exception as err:
            raise PipelineError(f"{weights_path}: cannot read the weights: {first_line(err)}") from None
        try:
            qmodel.load_state_dict(state, strict=True)
        except (RuntimeError, KeyError, TypeError, AttributeError) as err:
            raise PipelineError(
                f"{weights_path}: weights do not match the model built from config.json and "
                f"{RECIPE_FILE}: {first_line(err)}"
            ) from None
    return qmodel.eval()
