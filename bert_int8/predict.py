"""One interface to classify titles with a saved model directory: FP32 or int8, PyTorch or
ONNX Runtime.

The kind is read from the directory: an int8 directory holds quantization_recipe.json
(PyTorch) or onnx_recipe.json beside model.onnx (ONNX Runtime).
Used by the `bert-int8 predict` command and the HTTP service.
"""
from pathlib import Path

import numpy as np
import torch

from .modeling import load_fp32, predict_logits
from .onnx_backend import OrtModel, is_onnx_dir
from .quantization import is_quantized_dir, load_quantized
from .tokenizer import load_tokenizer


def load_model(model_dir, threads=None):
    """Any model directory the pipeline writes, as (model, kind, backend); the model answers
    `model(**batch).logits` whatever its backend. `threads` sets PyTorch's (process-wide)
    intra-op threads, or the ONNX Runtime session's."""
    if threads:
        torch.set_num_threads(threads)
    if is_onnx_dir(model_dir):
        kind = "int8" if (Path(model_dir) / "onnx_recipe.json").is_file() else "fp32"
        return OrtModel(model_dir, threads), kind, "onnxruntime"
    if is_quantized_dir(model_dir):
        return load_quantized(model_dir), "int8", "torch"
    return load_fp32(model_dir), "fp32", "torch"


class Classifier:
    def __init__(self, model_dir, threads=None, batch_size=64):
        self.model_dir = Path(model_dir)
        self.model, self.kind, self.backend = load_model(self.model_dir, threads)
        self.tokenizer = load_tokenizer(self.model_dir)
        id2label = self.model.config.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]
        self.batch_size = batch_size

    @property
    def name(self):
        return self.model_dir.resolve().name

    def predict(self, texts, top_k=3):
        """One dict per text, in order: the text, its label and label id, and the top-k probabilities."""
        if not texts:
            return []
        logits = predict_logits(self.model, self.tokenizer, texts, self.batch_size)
        probs = _softmax(logits)
        k = max(1, min(top_k, len(self.labels)))
        out = []
        for text, p in zip(texts, probs):
            best = np.argsort(-p, kind="stable")[:k]
            out.append(
                {
                    "text": text,
                    "label": self.labels[best[0]],
                    "label_id": int(best[0]),
                    "top_k": [{"label": self.labels[i], "probability": round(float(p[i]), 6)} for i in best],
                }
            )
        return out


def _softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
