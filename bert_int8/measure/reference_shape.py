"""The bert-base-chinese shape (vocab 21128, 12 layers x 768, 10 labels) with random weights,
through the same int8 recipes and backends as the trained model, timed like it. When
model.finetuned or model.pretrained is set, that model's shape instead (its config), at
data.max_seq_length: `reference_config` says which.

Size and speed do not depend on the weights' values, so the reference's 390 -> 145 MiB and its
speedup can be compared on any machine without downloading its weights. Static int8 is
calibrated on real titles, tokenized by the project's tokenizer (random weights make any
calibration as good as another; it only has to run), without NNCF's bias correction, which
only moves bias values (and leaves a fresh model's zero biases alone anyway).
"""

import copy
import tempfile
from pathlib import Path

import torch
from transformers import AutoModelForSequenceClassification

from bert_int8 import backends
from bert_int8.backends.model_dir import models_under
from bert_int8.core.params import QuantizeParams
from bert_int8.measure.comparison import compare_models
from bert_int8.measure.kernel_rate import int8_matmul_gops, linear_ops_per_sequence
from bert_int8.model import roles
from bert_int8.model.modeling import model_config
from bert_int8.quantize.int8_models import build_int8_models


def bert_base_config(num_labels=10, **overrides):
    from transformers import BertConfig

    return BertConfig(vocab_size=21128, num_labels=num_labels, **overrides)


def reference_config(model_params, max_seq_length, trained_dir, params):
    """(config, params, shape): the architecture the reference benchmark times, the benchmark
    params to time it with, and what was chosen (for the metrics). With model.finetuned or
    model.pretrained set: the trained model's config (in `trained_dir`: that architecture, with
    the data's labels, read locally even for a hub id) at data.max_seq_length; else
    bert-base-chinese at benchmark.seq_len."""
    source = model_params.finetuned or model_params.pretrained
    if source:
        key = "model.finetuned" if model_params.finetuned else "model.pretrained"
        config, seq_len = model_config(trained_dir, str(trained_dir)), max_seq_length
    else:
        key, source, config, seq_len = "default", "bert-base-chinese", bert_base_config(), params.seq_len
    shape = {
        "config": source,
        "from": key,
        "model_type": config.model_type,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "vocab_size": config.vocab_size,
        "num_labels": config.num_labels,
        "seq_len": seq_len,
    }
    return config, params.model_copy(update={"seq_len": seq_len}), shape


def student_shape(config, layers):
    """The shape's student keeping `layers` of its layers (None where that is not fewer)."""
    if not 0 < layers < config.num_hidden_layers:
        return None
    student = copy.deepcopy(config)
    student.num_hidden_layers = layers
    return student


def build_shape(config, quantize_params, tokenizer, calibration_texts, out_dir, bf16, role=roles.TEACHER):
    """Every model directory of one architecture, random weights, as the pipeline builds them
    (the backends' layout under out_dir): name -> ModelDir (with BF16 variants when `bf16`),
    named as `role`'s."""
    torch.manual_seed(0)
    fp32 = AutoModelForSequenceClassification.from_config(config).eval()
    fp32.save_pretrained(backends.get(backends.REFERENCE).model_path("fp32", out_dir))
    build_int8_models(quantize_params, fp32, tokenizer, None, None, calibration_texts, out_dir, timing_only=True)
    wanted = [b.name for b in backends.chosen(quantize_params.backends)]
    return models_under(out_dir, bf16, wanted=wanted, role=role)


def benchmark_shape(config, recipe, built, tokenizer, calibration_texts, params, bf16, student=None):
    """(comparison, kernel): compare_models on the shape (bert_int8.measure.comparison), and how close
    each int8 model comes at batch `params.batch_size` to the machine's int8 matrix-product rate.
    `student`: a config of the shape with fewer layers, whose models are timed in the same run
    (the comparison's `student` headline)."""
    quantize_params = QuantizeParams(
        scheme=recipe["scheme"],
        embeddings=recipe["embeddings"],
        keep_fp32=recipe["keep_fp32"],
        backends=list(built),
        max_f1_drop=None,
    )
    with tempfile.TemporaryDirectory() as tmp:
        model_dirs = build_shape(config, quantize_params, tokenizer, calibration_texts, tmp, bf16)
        if student is not None:
            model_dirs.update(
                build_shape(
                    student, quantize_params, tokenizer, calibration_texts, Path(tmp, "student"), bf16, roles.STUDENT
                )
            )
        result = compare_models(model_dirs, config.vocab_size, params, desc="benchmark: reference shape")
    del result["artifacts"]  # random weights in a directory that is gone: nothing to check later
    ops = linear_ops_per_sequence(config, params.seq_len)
    rate = int8_matmul_gops(params.threads)
    kernel = {"int8_matmul_gops": round(rate, 1), "gop_per_sequence": round(ops / 1e9, 3)}
    student_ops = linear_ops_per_sequence(student, params.seq_len) if student is not None else None
    for name, r in result["models"].items():
        if model_dirs[name].precision == "int8":
            gops = (student_ops if model_dirs[name].role == roles.STUDENT else ops) * r["throughput_seq_per_s"] / 1e9
            r["gops"] = round(gops, 1)
            r["share_of_int8_matmul_rate"] = round(gops / kernel["int8_matmul_gops"], 4)  # of the rate reported
    return result, kernel
