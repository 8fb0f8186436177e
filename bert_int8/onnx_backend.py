"""The ONNX Runtime backend: export the FP32 model to ONNX, quantize it dynamically to int8,
and run either behind the same call as a transformers model (`model(**batch).logits`).

ONNX Runtime's int8 kernels are faster than PyTorch's on CPUs, and its dynamic quantization
also turns the embedding tables into int8, so the file is about a quarter of FP32.
"""
import json
import logging
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from .errors import PipelineError

MODEL_FILE = "model.onnx"
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


def export_onnx(model, path):
    """Export with the TorchScript-based exporter (dynamo=False): it handles BERT with
    dynamic batch and sequence axes and is what ONNX Runtime's tooling expects."""
    model = model.to("cpu").eval()
    batch = {k: torch.ones(2, 8, dtype=torch.long) if k != "token_type_ids" else torch.zeros(2, 8, dtype=torch.long)
             for k in INPUTS}
    axes = {k: {0: "batch", 1: "sequence"} for k in INPUTS}
    axes["logits"] = {0: "batch"}
    # Expected and harmless here: the legacy exporter's deprecation notice, tracer notes on
    # Python-level shape checks (BERT's attention is not causal, and dynamic axes were checked
    # against PyTorch logits in tests), and the index note (our indices are never negative).
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=r"You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", message=r"The feature will be removed")
        warnings.filterwarnings("ignore", message=r"Exporting aten::index operator of advanced indexing")
        torch.onnx.export(
            model,
            tuple(batch[k] for k in INPUTS),
            str(path),
            input_names=list(INPUTS),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_onnx(fp32_path, int8_path, per_channel):
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantizer logs a root-logger warning suggesting shape pre-processing on every call;
    # for BERT it changes nothing measurable here, so keep it out of the stage's output.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=per_channel)
    finally:
        root.setLevel(level)


class OrtModel:
    """An ONNX Runtime session answering like a transformers classifier."""

    def __init__(self, model_dir, threads=None):
        import onnxruntime as ort
        from transformers import AutoConfig

        model_dir = Path(model_dir)
        path = model_dir / MODEL_FILE
        if not path.is_file():
            raise PipelineError(f"{model_dir}: not an ONNX model directory ({MODEL_FILE} missing)")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types for bad files
            raise PipelineError(f"{path}: cannot load: {str(err).splitlines()[0]}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.config = AutoConfig.from_pretrained(model_dir)

    def eval(self):
        return self

    def __call__(self, **batch):
        feeds = {}
        for name in self.input_names:
            value = batch.get(name)
            if value is None and name == "token_type_ids":
                value = torch.zeros_like(batch["input_ids"])
            feeds[name] = np.ascontiguousarray(value.numpy(), dtype=np.int64)
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(["logits"], feeds)[0]))


def is_onnx_dir(path):
    return (Path(path) / MODEL_FILE).is_file()


def save_onnx_pair(model, tokenizer, out_dir, per_channel):
    """out_dir/fp32 and out_dir/int8, each a model.onnx with the config and tokenizer beside it."""
    out_dir = Path(out_dir)
    for kind in ("fp32", "int8"):
        (out_dir / kind).mkdir(parents=True)
        model.config.save_pretrained(out_dir / kind)
        tokenizer.save_pretrained(out_dir / kind)
    export_onnx(model, out_dir / "fp32" / MODEL_FILE)
    quantize_onnx(out_dir / "fp32" / MODEL_FILE, out_dir / "int8" / MODEL_FILE, per_channel)
    recipe = {"method": "onnxruntime.quantization.quantize_dynamic", "weight_type": "QInt8",
              "per_channel": per_channel, "opset": OPSET}
    (out_dir / "int8" / "onnx_recipe.json").write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
    return recipe
