"""Quantization-aware training (backends/openvino_qat.quantize_int8_qat) on a tiny model whose int8
loses: what it builds, and that training wins back agreement with the FP32 model. The budget's
use of it is in tests/test_accuracy_budget.py; the qat_case stage runs in
tests/test_pipeline_e2e.py."""

import json

import numpy as np
import pytest
from fixtures import make_titles, tiny_bert

from bert_int8 import backends
from bert_int8.backends.model_dir import ModelDir
from bert_int8.core.params import QuantizeParams
from bert_int8.data.splits import Split
from bert_int8.data.tokenizer import train_wordpiece
from bert_int8.model.modeling import predict_logits
from bert_int8.quantize.accuracy_budget import predictions

OV = backends.get("openvino")
STEPS = 50


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    rows = make_titles(20, 1)
    split = Split([t for t, _ in rows], [y for _, y in rows])
    tok = train_wordpiece(split.texts, 200, 1, False, 32)
    # Large random weights: int8 visibly changes this model's answers. One calibration title: the
    # activation ranges fit it and clip the others, the case quantization-aware training is for.
    model = tiny_bert(vocab_size=len(tok), seed=0, initializer_range=1.0)
    params = QuantizeParams(qat_batch_size=16, qat_learning_rate=1e-3)
    source = backends.Fp32Source(model, tok, params, split.texts[:1], train=split)
    root = tmp_path_factory.mktemp("qat")
    built = {steps: OV.build_int8_qat(source, source.save_config(root / str(steps)), steps) for steps in (0, STEPS)}
    return model, tok, split, root, built


def test_the_trained_model_is_an_int8_openvino_model_with_its_recipe(case):
    import openvino as ov

    from bert_int8.backends.openvino import int8_matmuls

    model, _, _, root, built = case
    d = root / str(STEPS)
    assert ModelDir.open(d).precision == "int8" and OV.precision_of(d) == "int8"
    recipe = json.loads((d / "openvino_recipe.json").read_text())
    assert recipe == built[STEPS] and recipe["calibration_items"] == 1
    assert recipe["qat"]["steps"] == STEPS and recipe["qat"]["batch_size"] == 16
    assert "qat" not in built[0] and built[0]["method"] != recipe["method"]
    # every Linear layer of the classifier runs as an int8 MatMul
    linears = sum(type(m).__name__ == "Linear" for m in model.modules())
    assert len(int8_matmuls(ov.Core().read_model(str(d / "model.xml")))) == linears


def test_training_wins_back_agreement_with_the_fp32_model(case):
    model, tok, split, root, _ = case
    fp32 = predictions(model, tok, split)
    agree = {
        steps: np.mean(predictions(OV.load(root / str(steps), "int8"), tok, split) == fp32) for steps in (0, STEPS)
    }
    assert agree[0] < 0.6 and agree[STEPS] > agree[0] + 0.1, agree


def test_answers_do_not_depend_on_batch_mates(case):
    """Static int8, as the post-training OpenVINO model: a title's logits alone and in a padded batch."""
    _, tok, split, root, _ = case
    model = OV.load(root / str(STEPS), "int8")
    alone = np.concatenate([predict_logits(model, tok, [t], 1) for t in split.texts[:5]])
    together = predict_logits(model, tok, split.texts, 64)[:5]
    np.testing.assert_allclose(alone, together, atol=1e-5)
