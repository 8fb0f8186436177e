"""Graphs exported from the PyTorch model, shared by the runtimes that build from an ONNX
export: the export itself, the graph nodes that compute a given Linear layer (so one list of
layers kept FP32 reaches every runtime), a batch as the numpy feeds a graph takes, and the
calibration titles of the static int8 builds; NNCF's logging kept to warnings while it builds."""

import contextlib
import inspect
import logging
import re
import warnings

import numpy as np

from bert_int8.core.errors import PipelineError

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
    with dynamic batch and sequence axes and is what the runtimes' int8 tooling expects."""
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
    which a runtime's import may turn into .../Gemm/WithoutBiases). Runtimes keep these names on
    import, so one list of layers kept in FP32 reaches every backend. A layer that matches no node is an
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


def calibration_batches(tokenizer, texts):
    """One tokenized title per calibration item, at its own length (as the models see titles)."""
    enc = tokenizer(list(texts), truncation=True, max_length=tokenizer.model_max_length)
    return [{k: np.asarray([enc[k][i]], dtype=np.int64) for k in enc.keys()} for i in range(len(texts))]


@contextlib.contextmanager
def quiet_nncf():
    # NNCF logs INFO lines per ignored or skipped node; keep its warnings and errors, for the
    # call. (nncf.set_log_level would also change its handlers' levels for good.)
    logger = logging.getLogger("nncf")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
