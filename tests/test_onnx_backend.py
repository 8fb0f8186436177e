import numpy as np
import pytest
import torch
from fixtures import make_titles, tiny_bert

from bert_int8.errors import PipelineError
from bert_int8.int8_models import build_int8_models
from bert_int8.model_dir import ModelDir
from bert_int8.modeling import predict_logits
from bert_int8.onnx_backend import MODEL_FILE, OrtModel
from bert_int8.params import QuantizeParams
from bert_int8.tokenizer import train_wordpiece

TEXTS = [t for t, _ in make_titles(3, 7)]
# ONNX Runtime fuses and reorders float operations; FP32 logits agree to this tolerance.
FP32_TOLERANCE = 1e-4


def _load(path):
    """The model in `path` with its precision and backend, as ModelDir reads them."""
    found = ModelDir.open(path)
    return found.load(), found.precision, found.backend


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tok = train_wordpiece(TEXTS, 120, 1, False, 32)
    model = tiny_bert(vocab_size=len(tok))
    out = tmp_path_factory.mktemp("onnx")
    # as the quantize stage builds them: out/fp32 and out/int8 (and PyTorch's int8 beside them)
    params = QuantizeParams(backends=["torch", "onnxruntime"], max_f1_drop=None)
    report = build_int8_models(params, model, tok, None, None, [], {"torch": out / "torch", "onnxruntime": out})
    return model, tok, out, report["onnxruntime_recipe"]


def test_onnx_fp32_matches_pytorch_logits(exported):
    model, tok, out, _ = exported
    ort_model, kind, backend = _load(out / "fp32")
    assert (kind, backend) == ("fp32", "onnxruntime")
    a = predict_logits(model, tok, TEXTS, batch_size=7)  # batches of mixed lengths: dynamic axes
    b = predict_logits(ort_model, tok, TEXTS, batch_size=7)
    np.testing.assert_allclose(a, b, atol=FP32_TOLERANCE)


def test_onnx_int8_is_quantized_and_close(exported):
    model, tok, out, recipe = exported
    ort_int8, kind, _ = _load(out / "int8")
    assert kind == "int8" and recipe["weight_type"] == "QInt8"
    assert (out / "int8" / MODEL_FILE).stat().st_size < 0.85 * (out / "fp32" / MODEL_FILE).stat().st_size
    a = predict_logits(model, tok, TEXTS, 16)
    b = predict_logits(ort_int8, tok, TEXTS, 16)
    assert not np.array_equal(a, b)
    np.testing.assert_allclose(a, b, atol=0.1)


def test_token_type_ids_default_to_zeros(exported):
    _, _, out, _ = exported
    m = OrtModel(out / "fp32")
    ids = torch.randint(5, 50, (2, 6))
    mask = torch.ones_like(ids)
    with_tt = m(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
    assert torch.equal(m(input_ids=ids, attention_mask=mask).logits, with_tt)


def test_bad_onnx_directory(tmp_path):
    with pytest.raises(PipelineError, match="model.onnx missing"):
        OrtModel(tmp_path)
    (tmp_path / MODEL_FILE).write_bytes(b"garbage")
    with pytest.raises(PipelineError, match="model.onnx: cannot load"):
        OrtModel(tmp_path)
