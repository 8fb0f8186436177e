import numpy as np
import pytest
from fixtures import make_titles, tiny_bert

from bert_int8 import model_dir, paths
from bert_int8.errors import PipelineError
from bert_int8.machine import native_bf16
from bert_int8.model_dir import ModelDir
from bert_int8.modeling import predict_logits
from bert_int8.onnx_backend import export_onnx
from bert_int8.openvino_backend import OvModel, calibration_batches, convert_fp32, int8_matmuls, quantize_int8
from bert_int8.tokenizer import train_wordpiece

TEXTS = [t for t, _ in make_titles(3, 7)]
FP32_TOLERANCE = 1e-4
KEPT = "bert.encoder.layer.0.attention.self.query"


def _load(path):
    """The model in `path` with its precision and backend, as ModelDir reads them."""
    found = ModelDir.open(path)
    return found.load(), found.precision, found.backend


def _model_dir(model, tok, path):
    path.mkdir(parents=True)
    model.config.save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    tok = train_wordpiece(TEXTS, 120, 1, False, 32)
    model = tiny_bert(vocab_size=len(tok))
    root = tmp_path_factory.mktemp("ov")
    export_onnx(model, root / "model.onnx")
    fp32 = _model_dir(model, tok, root / "fp32")
    convert_fp32(root / "model.onnx", fp32)
    int8 = _model_dir(model, tok, root / "int8")
    recipe = quantize_int8(fp32, int8, calibration_batches(tok, TEXTS), [KEPT])
    return model, tok, fp32, int8, recipe


def test_openvino_fp32_matches_pytorch_logits(converted):
    model, tok, fp32, _, _ = converted
    ov_model, kind, backend = _load(fp32)
    assert (kind, backend) == ("fp32", "openvino")
    a = predict_logits(model, tok, TEXTS, batch_size=7)  # batches of mixed lengths: dynamic shapes
    np.testing.assert_allclose(a, predict_logits(ov_model, tok, TEXTS, batch_size=7), atol=FP32_TOLERANCE)


def test_openvino_int8_loads_and_honours_the_ignored_scope(converted):
    import openvino as ov

    model, tok, fp32, int8, recipe = converted
    ov_int8, kind, backend = _load(int8)
    assert (kind, backend) == ("int8", "openvino")
    kept = "/bert/encoder/layer.0/attention/self/query/MatMul"
    assert recipe["ignored_scope"] == [kept]
    quantized = int8_matmuls(ov.Core().read_model(str(int8 / "model.xml")))
    assert kept not in quantized
    assert "/bert/encoder/layer.0/attention/self/key/MatMul" in quantized
    assert int8_matmuls(ov.Core().read_model(str(fp32 / "model.xml"))) == []
    a = predict_logits(model, tok, TEXTS, 16)
    b = predict_logits(ov_int8, tok, TEXTS, 16)
    assert not np.array_equal(a, b)
    np.testing.assert_allclose(a, b, atol=0.1)


def test_static_int8_answers_do_not_depend_on_batch_mates(converted):
    _, tok, _, int8, _ = converted
    ov_int8 = OvModel(int8)
    alone = np.concatenate([predict_logits(ov_int8, tok, [t], 1) for t in TEXTS[:5]])
    together = predict_logits(ov_int8, tok, TEXTS, 64)[:5]
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_bf16_variants_follow_the_cpu(converted, tmp_path, monkeypatch):
    model, tok, fp32, int8, _ = converted
    monkeypatch.setattr(paths, "FP32_DIR", _model_dir(model, tok, tmp_path / "fp32"))
    model.save_pretrained(paths.FP32_DIR)
    monkeypatch.setattr(paths, "INT8_DIR", fp32)  # any model directory will do for this listing
    monkeypatch.setattr(paths, "ONNX_DIR", tmp_path / "none")
    monkeypatch.setattr(paths, "OPENVINO_DIR", fp32.parent)
    monkeypatch.setattr(model_dir, "native_bf16", lambda: False)
    assert "bf16" not in model_dir.built_models() and "openvino_bf16" not in model_dir.built_models()
    monkeypatch.setattr(model_dir, "native_bf16", lambda: True)
    found = model_dir.built_models()
    assert found["bf16"].precision == "bf16" and found["openvino_bf16"].path == fp32
    if native_bf16():  # run them only where the CPU computes BF16 natively
        a = predict_logits(model, tok, TEXTS, 16)
        for name in ("bf16", "openvino_bf16"):
            np.testing.assert_allclose(a, predict_logits(found[name].load(), tok, TEXTS, 16), atol=0.05)


def test_not_an_openvino_directory(tmp_path):
    with pytest.raises(PipelineError, match="model.xml missing"):
        OvModel(tmp_path)
    (tmp_path / "model.xml").write_text("<garbage/>")
    with pytest.raises(PipelineError, match="model.xml: cannot load"):
        OvModel(tmp_path)
