"""Building, loading and running the BERT classifier (FP32)."""

import contextlib
from pathlib import Path

import numpy as np
import torch
from transformers.utils import logging as hf_logging

from bert_int8.core.config_dir import check_model_dir
from bert_int8.core.errors import PipelineError, first_line
from bert_int8.core.progress import progress
from bert_int8.data import buckets
from bert_int8.data.formats import check_same_labels


@contextlib.contextmanager
def no_load_bars():
    """transformers' per-shard "Loading weights" bar says nothing for one small file: off for the
    call, then back as it was (not at import: that would change every caller's transformers)."""
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def label_maps(classes):
    return {i: name for i, name in enumerate(classes)}, {name: i for i, name in enumerate(classes)}


def new_model(model_params, classes, vocab_size, max_length):
    """The classifier to fine-tune: pretrained weights, or a small BERT from scratch."""
    from transformers import AutoModelForSequenceClassification, BertConfig, BertForSequenceClassification

    id2label, label2id = label_maps(classes)
    if model_params.pretrained:
        try:
            return AutoModelForSequenceClassification.from_pretrained(
                model_params.pretrained,
                num_labels=len(classes),
                id2label=id2label,
                label2id=label2id,
                ignore_mismatched_sizes=True,  # a pretrained classifier head with another label count is replaced
            )
        except (OSError, ValueError) as err:
            msg = first_line(err)
            raise PipelineError(f"model.pretrained: cannot load {model_params.pretrained!r}: {msg}") from None
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=model_params.hidden,
        num_hidden_layers=model_params.layers,
        num_attention_heads=model_params.heads,
        intermediate_size=model_params.intermediate,
        hidden_dropout_prob=model_params.dropout,
        attention_probs_dropout_prob=model_params.dropout,
        max_position_embeddings=max(64, max_length),
        num_labels=len(classes),
        id2label=id2label,
        label2id=label2id,
    )
    return BertForSequenceClassification(config)


def load_fp32(path):
    """A model saved with save_pretrained, in eval mode on the CPU."""
    from transformers import AutoModelForSequenceClassification

    check_model_dir(path)
    if not any((Path(path) / f).is_file() for f in ("model.safetensors", "pytorch_model.bin")):
        raise PipelineError(f"{path}: no weights file (model.safetensors missing)")
    try:
        with no_load_bars():
            model = AutoModelForSequenceClassification.from_pretrained(path)
    except Exception as err:  # transformers raises many types for corrupt files
        msg = first_line(err)
        raise PipelineError(f"{path}: cannot load the model: {msg}") from None
    return model.eval()


def encode(tokenizer, texts):
    """Token ids per title, truncated to the tokenizer's max length, unpadded."""
    enc = tokenizer(list(texts), truncation=True, max_length=tokenizer.model_max_length)
    return [{k: enc[k][i] for k in enc.keys()} for i in range(len(texts))]


@torch.inference_mode()
def predict_logits(model, tokenizer, texts, batch_size=256, desc=None, lengths=None):
    """Logits for `texts`, in their order. Titles are batched by length and padded per batch
    (dynamic padding), so short titles do not pay for the longest one; with `lengths` (a model
    directory's length buckets, bert_int8.data.buckets) up to the bucket of the longest. With `desc`,
    progress (bert_int8.core.progress) under that name."""
    features = encode(tokenizer, texts)
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    out = np.zeros((len(features), model.config.num_labels), dtype=np.float32)
    bar = progress(len(order), desc, "titles") if desc else contextlib.nullcontext()
    with bar:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = pad(tokenizer, [features[i] for i in idx], lengths)
            out[idx] = model(**batch).logits.float().numpy()
            if desc:
                bar.update(len(idx))
    return out


def pad(tokenizer, features, lengths=None):
    """Encoded titles as one torch batch, padded to the longest, or up to its bucket."""
    if not lengths:
        return tokenizer.pad(features, return_tensors="pt")
    width = buckets.width(max(len(f["input_ids"]) for f in features), lengths)
    return tokenizer.pad(features, padding="max_length", max_length=width, return_tensors="pt")


def model_config(name_or_path, key):
    """The transformers config of a hub id or save_pretrained directory; one line naming the
    params `key` if it cannot be read."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as err:
        raise PipelineError(f"{key}: cannot load {name_or_path!r}: {first_line(err)}") from None


def model_labels(name_or_path, key="model.finetuned"):
    """The label names of a saved sequence classifier, in its id order (from its config)."""
    config = model_config(name_or_path, key)
    return [config.id2label[i] for i in range(config.num_labels)]


def load_finetuned(name_or_path, classes, key="model.finetuned"):
    """A classifier fine-tuned elsewhere, checked to predict exactly `classes`, in their order."""
    from transformers import AutoModelForSequenceClassification

    check_same_labels(classes, model_labels(name_or_path, key), key, ordered=True)
    try:
        with no_load_bars():
            model = AutoModelForSequenceClassification.from_pretrained(name_or_path)
    except (OSError, ValueError) as err:
        raise PipelineError(f"{key}: cannot load {name_or_path!r}: {first_line(err)}") from None
    return model.eval()


def linear_names(model):
    """The names of a torch model's FP32 Linear layers (an int8 model's quantized ones are other types)."""
    return [name for name, m in model.named_modules() if type(m) is torch.nn.Linear]
