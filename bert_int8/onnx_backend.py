"""The ONNX Runtime backend: export the FP32 model to ONNX, quantize it dynamically to int8,
and run either behind the same call as a transformers model (`model(**batch).logits`).

ONNX Runtime's int8 kernels are faster than PyTorch's on CPUs, and its dynamic quantization
also turns the embedding tables into int8, so the file is about a quarter of FP32.

Running a model needs neither torch nor transformers (`OrtModel.logits`: numpy in and out, what
the lean service calls); they are imported only to export, and by the transformers-like call.
"""

import functools
import inspect
import logging
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .errors import PipelineError, first_line

MODEL_FILE = "model.onnx"
RECIPE_FILE = "onnx_recipe.json"  # beside an int8 model.onnx: how it was quantized
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OPSET = 17


def model_inputs(model):
    """The inputs of INPUTS that the model's forward takes, in its order (DistilBERT-like
    encoders take no token_type_ids); they must lead its signature, to be passed by position."""
    params = list(inspect.signature(model.forward).parameters)
    names = [p for p in params if p in INPUTS]
    if params[: len(names)] != names:
        raise PipelineError(f"{type(model).__name__}: forward does not start with {', '.join(names)}; cannot export")
    return names


def export_onnx(model, path):
    """Export with the TorchScript-based exporter (dynamo=False): it handles BERT-like encoders
    with dynamic batch and sequence axes and is what ONNX Runtime's tooling expects."""
    import torch

    model = model.to("cpu").eval()
    names = model_inputs(model)
    batch = {
        k: torch.ones(2, 8, dtype=torch.long) if k != "token_type_ids" else torch.zeros(2, 8, dtype=torch.long)
        for k in names
    }
    axes = {k: {0: "batch", 1: "sequence"} for k in names}
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
            tuple(batch[k] for k in names),
            str(path),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def linear_nodes(node_names, linear_names):
    """The graph nodes (MatMul / Gemm) that compute the given PyTorch Linear modules.

    The exporter names a Linear's product after the module path, with "/" between modules and
    a ModuleList index kept as ".0": bert.encoder.layer.0.attention.self.query becomes
    /bert/encoder/layer.0/attention/self/query/MatMul (a Linear on a 2-D input becomes .../Gemm,
    which OpenVINO turns into .../Gemm/WithoutBiases). OpenVINO keeps these names on import, so
    one list of layers kept in FP32 reaches every backend. A layer that matches no node is an
    error: keeping it FP32 would otherwise silently not happen.
    """
    found = []
    for name in linear_names:
        pattern = re.compile("/" + "[./]".join(map(re.escape, name.split("."))) + "/(MatMul|Gemm)")
        nodes = [n for n in node_names if pattern.match(n)]
        if not nodes:
            raise PipelineError(f"quantize: no graph node computes the Linear layer {name!r}; cannot keep it in FP32")
        found += nodes
    return sorted(set(found))


def quantize_onnx(fp32_path, int8_path, per_channel, keep_fp32_linears=()):
    """ONNX Runtime dynamic int8, every MatMul but those computing `keep_fp32_linears`."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph_nodes = [n.name for n in onnx.load(str(fp32_path), load_external_data=False).graph.node]
    exclude = linear_nodes(graph_nodes, keep_fp32_linears)

    # The quantizer logs on the root logger, on every call, a suggestion to pre-process shapes;
    # for BERT it changes nothing measurable here. Drop exactly that message, for the call.
    def not_the_preprocessing_hint(record):
        return not record.getMessage().startswith("Please consider to run pre-processing")

    root = logging.getLogger()
    root.addFilter(not_the_preprocessing_hint)
    try:
        quantize_dynamic(
            str(fp32_path),
            str(int8_path),
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            nodes_to_exclude=exclude,
        )
    finally:
        root.removeFilter(not_the_preprocessing_hint)
    return {
        "method": "onnxruntime.quantization.quantize_dynamic",
        "weight_type": "QInt8",
        "per_channel": per_channel,
        "opset": OPSET,
        "nodes_to_exclude": exclude,
    }


def exported_feeds(input_names, batch):
    """A batch (torch tensors, as transformers tokenizers give, or numpy arrays) as the numpy
    inputs an exported graph takes: only the inputs it has (DistilBERT-like graphs have no
    token_type_ids), zeros for a token_type_ids it has but the batch lacks."""
    feeds = {}
    for name in input_names:
        value = batch.get(name)
        if value is None and name == "token_type_ids":
            value = np.zeros(tuple(batch["input_ids"].shape), dtype=np.int64)
        feeds[name] = np.ascontiguousarray(value.numpy() if hasattr(value, "numpy") else value, dtype=np.int64)
    return feeds


def transformers_config(model_dir):
    """The model's transformers config (for callers that treat the model as a transformers one;
    the lean path reads config.json itself)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(model_dir)


class OrtModel:
    """An ONNX Runtime session answering like a transformers classifier."""

    def __init__(self, model_dir, threads=None):
        import onnxruntime as ort

        self.model_dir = model_dir = Path(model_dir)
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
            raise PipelineError(f"{path}: cannot load: {first_line(err)}") from None
        self.input_names = [i.name for i in self.session.get_inputs()]

    @functools.cached_property
    def config(self):
        return transformers_config(self.model_dir)

    def eval(self):
        return self

    def logits(self, batch):
        """float32 logits of a batch of numpy (or torch) inputs, as a numpy array."""
        return self.session.run(["logits"], exported_feeds(self.input_names, batch))[0]

    def __call__(self, **batch):
        import torch

        return SimpleNamespace(logits=torch.from_numpy(self.logits(batch)))
