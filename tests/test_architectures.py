"""Any encoder for sequence classification, not only BERT: tiny random BERT, RoBERTa, DistilBERT
(no token_type_ids) and ELECTRA configs, saved locally, through every backend: export and
quantize, load through the one loader, FP32 logits match PyTorch, and evaluation runs. This is the
FP32-parity test: every registered backend, every architecture, one place."""

import numpy as np
import pytest
from fixtures import CLASSES, make_titles, tiny_config

from bert_int8.backends.model_dir import models_under
from bert_int8.core.params import EvaluateParams, QuantizeParams
from bert_int8.data.splits import Split
from bert_int8.data.tokenizer import train_wordpiece
from bert_int8.measure.evaluate import evaluate_models
from bert_int8.model.modeling import predict_logits
from bert_int8.quantize.int8_models import build_int8_models

ROWS = make_titles(3, 11)
SPLIT = Split([t for t, _ in ROWS], [y for _, y in ROWS])


@pytest.fixture(scope="module", params=["bert", "roberta", "distilbert", "electra"])
def built(request, tmp_path_factory):
    import torch
    from transformers import AutoModelForSequenceClassification

    arch = request.param
    tok = train_wordpiece(SPLIT.texts, 150, 1, False, 32)
    if arch == "distilbert":
        tok.model_input_names = ["input_ids", "attention_mask"]  # as DistilBERT's own tokenizer
    torch.manual_seed(0)
    labels = {"id2label": dict(enumerate(CLASSES)), "label2id": {c: i for i, c in enumerate(CLASSES)}}
    model = AutoModelForSequenceClassification.from_config(tiny_config(arch, len(tok), **labels)).eval()
    root = tmp_path_factory.mktemp(arch)
    model.save_pretrained(root / "fp32")
    tok.save_pretrained(root / "fp32")
    params = QuantizeParams(max_f1_drop=0.5, calibration_samples=10)  # every backend
    report = build_int8_models(params, model, tok, SPLIT, CLASSES, SPLIT.texts[:10], root)
    return arch, model, tok, models_under(root, bf16=False), report


def test_every_backend_loads_and_fp32_matches(built):
    arch, model, tok, dirs, report = built
    assert set(dirs) == {
        "fp32",
        "int8",
        "onnx_fp32",
        "onnx_int8",
        "onnx_int8_static",
        "openvino_fp32",
        "openvino_int8",
    }
    assert report["recipes"]["torch"]["int8_linear_layers"] > 0
    reference = predict_logits(model, tok, SPLIT.texts, 7)  # mixed lengths in a batch
    for name, d in dirs.items():
        logits = predict_logits(d.load(1), tok, SPLIT.texts, 7)
        if d.precision == "fp32":
            np.testing.assert_allclose(logits, reference, atol=1e-4, err_msg=f"{arch} {name}")
        else:
            # relative to the logits' own scale (tiny random models give logits of about 0.03)
            assert np.abs(logits - reference).max() < 0.25 * np.abs(reference).max(), f"{arch} {name}"
    if arch == "distilbert":
        import onnx

        inputs = [i.name for i in onnx.load(str(dirs["onnx_fp32"].files[0])).graph.input]
        assert inputs == ["input_ids", "attention_mask"]


def test_every_backend_is_evaluated(built, tmp_path):
    _, _, tok, dirs, _ = built
    report = evaluate_models(dirs, tok, SPLIT, CLASSES, EvaluateParams(threads=1), tmp_path)
    for name in dirs:
        assert set(report.models[name]["per_class"]) == set(CLASSES)
        if name != "fp32":
            assert report.versus(name, "fp32")
    for name in dirs:
        if name.endswith("fp32") and name != "fp32":
            assert report.versus(name, "fp32")["prediction_agreement"] == 1.0, name
