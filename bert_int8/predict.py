"""One interface to classify titles with a saved model directory, whatever its backend
(PyTorch, ONNX Runtime, OpenVINO) and precision (read by `ModelDir.open`).
Used by the `bert-int8 predict` command and the HTTP service.
"""

from pathlib import Path

import numpy as np

from .model_dir import ModelDir
from .modeling import predict_logits
from .tokenizer import load_tokenizer


def load_model(model_dir, threads=None):
    """Any model directory the pipeline writes, as (model, precision, backend); the model
    answers `model(**batch).logits` whatever its backend."""
    found = ModelDir.open(model_dir)
    return found.load(threads), found.precision, found.backend


class Classifier:
    def __init__(self, model_dir, threads=None, batch_size=64):
        self.model_dir = Path(model_dir)
        found = ModelDir.open(self.model_dir)
        self.model, self.kind, self.backend = found.load(threads), found.precision, found.backend
        self.tokenizer = load_tokenizer(self.model_dir)
        id2label = self.model.config.id2label
        self.labels = [id2label[i] for i in range(len(id2label))]
        self.batch_size = batch_size

    @property
    def answers_independent_of_batch(self):
        """False for dynamic int8 (activation scales computed per batch, so a title's answer moves
        with its batch-mates); true for FP32, BF16 and static int8 (OpenVINO/NNCF)."""
        return self.kind != "int8" or self.backend == "openvino"

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
