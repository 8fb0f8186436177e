"""One interface to classify titles with a saved model directory, whatever its backend and
precision (read by `ModelDir.open`). Used by the `bert-int8 predict` command and the HTTP service.

Directories of backends with numpy_io run lean: the tokenizer from the directory's
tokenizer.json through `tokenizers`, the labels from its config.json, numpy in and out; neither
torch nor transformers is imported. They get the ids, padding and truncation the transformers
tokenizer saved beside the model gives (`modeling.predict_logits`), so their answers are the
same; PyTorch directories go through transformers.
"""

import json
from pathlib import Path

import numpy as np

from bert_int8.backends.model_dir import ModelDir
from bert_int8.core.errors import PipelineError
from bert_int8.data import buckets

# transformers' model_max_length when a tokenizer states none (VERY_LARGE_INTEGER): no truncation
NO_MAX_LENGTH = int(1e20)


class Encoder:
    """A model directory's tokenizer.json through `tokenizers`, encoding titles as the
    transformers tokenizer saved with it does in `modeling.predict_logits`: with its special
    tokens ([CLS] ... [SEP]), truncated to its model_max_length, padded per batch to the longest
    title, or up to its length bucket where the directory records buckets (bert_int8.data.buckets),
    with its pad token on its padding side (attention mask 0, token type 0 there)."""

    def __init__(self, path):
        from tokenizers import Tokenizer

        self.path = path = Path(path)
        for name in ("tokenizer_config.json", "tokenizer.json"):
            if not (path / name).is_file():
                raise PipelineError(f"{path}: no tokenizer here ({name} missing)")
        config = _read_json(path / "tokenizer_config.json")
        try:
            self.tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
        except Exception as err:  # tokenizers raises its own exception type
            raise PipelineError(f"{path / 'tokenizer.json'}: cannot load: {str(err).splitlines()[0]}") from None
        pad = config.get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_id = self.tokenizer.token_to_id(pad) if pad is not None else None
        self.pad_left = config.get("padding_side", "right") == "left"
        self.input_names = config.get("model_input_names") or ["input_ids", "token_type_ids", "attention_mask"]
        self.tokenizer.no_padding()
        self.lengths = buckets.read(path)
        max_length = config.get("model_max_length")
        if isinstance(max_length, int) and max_length < NO_MAX_LENGTH:
            self.tokenizer.enable_truncation(max_length, direction=config.get("truncation_side", "right"))
        else:
            self.tokenizer.no_truncation()

    def encode(self, texts):
        """(ids, type ids) per title, unpadded."""
        return [(e.ids, e.type_ids) for e in self.tokenizer.encode_batch(list(texts))]

    def pad(self, rows):
        """A batch of encoded titles as int64 numpy inputs, padded to the longest or its bucket."""
        width = max(len(ids) for ids, _ in rows)
        if self.pad_id is not None:
            width = buckets.width(width, self.lengths)
        elif any(len(ids) != width for ids, _ in rows):  # without a pad token: no buckets either
            raise PipelineError(
                f"{self.path}: the tokenizer has no pad token; cannot batch titles of different lengths"
            )
        input_ids = np.full((len(rows), width), self.pad_id or 0, dtype=np.int64)
        type_ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, (ids, types) in enumerate(rows):
            cols = slice(width - len(ids), width) if self.pad_left else slice(0, len(ids))
            input_ids[i, cols], type_ids[i, cols], mask[i, cols] = ids, types, 1
        batch = {"input_ids": input_ids, "token_type_ids": type_ids, "attention_mask": mask}
        return {k: v for k, v in batch.items() if k in self.input_names}


def config_labels(model_dir):
    """The label names in id order, from the directory's config.json (as transformers reads
    id2label; LABEL_<i> when it names none)."""
    path = Path(model_dir) / "config.json"
    config = _read_json(path)
    id2label = config.get("id2label") or {str(i): f"LABEL_{i}" for i in range(config.get("num_labels", 2))}
    try:
        by_id = {int(k): v for k, v in id2label.items()}
        return [by_id[i] for i in range(len(by_id))]
    except (ValueError, KeyError, AttributeError):
        raise PipelineError(f"{path}: id2label does not map the ids 0..n-1 to labels") from None


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PipelineError(f"{path}: not valid JSON: {err}") from None


class Classifier:
    def __init__(self, model_dir, threads=None, batch_size=64, streams=1):
        """`model_dir`: a path, or a ModelDir (a BF16 variant: `ModelDir.open(path).as_bf16()`);
        `streams`: calls it may run at once, from as many threads (ModelDir.load)."""
        self.found = model_dir if isinstance(model_dir, ModelDir) else ModelDir.open(model_dir)
        self.model_dir, self.precision, self.runtime_name = (
            self.found.path,
            self.found.precision,
            self.found.runtime_name,
        )
        self.model = self.found.load(threads, streams)
        self.streams = streams
        if not self.found.runtime.numpy_io:  # a transformers model: its own tokenizer
            from bert_int8.data.tokenizer import load_tokenizer  # transformers: PyTorch models only

            self.tokenizer = load_tokenizer(self.model_dir)
            id2label = self.model.config.id2label
            self.labels = [id2label[i] for i in range(len(id2label))]
        else:
            self.tokenizer = Encoder(self.model_dir)
            self.labels = config_labels(self.model_dir)
        self.batch_size = batch_size
        self.lengths = self.found.length_buckets  # read once: not at every request

    def warm_up(self):
        """One call at batch 1 of each length bucket's width, where the directory records buckets
        (bert_int8.data.buckets: its runtime compiles each new shape at its first call), so that no
        request pays for it; the service calls it in each worker before it listens. Returns the
        widths called."""
        lengths = self.lengths if self.found.runtime.numpy_io else None
        for width in lengths or ():
            # one row of `width` ids (their values do not matter to the shape), as Encoder.pad gives it
            self.model.logits(self.tokenizer.pad([([self.tokenizer.pad_id or 0] * width, [0] * width)]))
        return list(lengths or ())

    @property
    def weight_range_warning(self):
        """One line when this int8 model does not fit this CPU (ModelDir.weight_range_warning)."""
        return self.found.weight_range_warning()

    @property
    def answers_independent_of_batch(self):
        """False for dynamic int8 (activation scales computed per batch, so a title's answer moves
        with its batch-mates); true for FP32, BF16 and static int8."""
        return self.found.answers_independent_of_batch

    @property
    def name(self):
        """The model variant: the backend's prefix and the precision (fp32, int8, onnx_int8, ...)."""
        return self.found.name

    def logits(self, texts):
        """Logits for `texts`, in their order, batched by length and padded per batch (up to its
        length bucket where the directory records them)."""
        if not self.found.runtime.numpy_io:
            from bert_int8.model.modeling import predict_logits  # torch: PyTorch models only

            return predict_logits(self.model, self.tokenizer, texts, self.batch_size, lengths=self.lengths)
        rows = self.tokenizer.encode(texts)
        order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))  # as predict_logits batches
        out = np.zeros((len(rows), len(self.labels)), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self.model.logits(self.tokenizer.pad([rows[i] for i in idx]))
        return out

    def predict(self, texts, top_k=3):
        """One dict per text, in order: the text, its label and label id, and the top-k probabilities."""
        if not texts:
            return []
        probs = softmax(self.logits(texts))
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


def softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
