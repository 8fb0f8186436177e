import pytest
from fixtures import CLASSES, make_titles, tiny_bert

from bert_int8.accuracy_budget import fit_budget, macro_f1
from bert_int8.data import Split
from bert_int8.params import QuantizeParams
from bert_int8.quantization import apply_recipe, fp32_linear_names, make_recipe, quantized_linear_names
from bert_int8.tokenizer import train_wordpiece


@pytest.fixture(scope="module")
def setup():
    rows = make_titles(20, 1)
    dev = Split([t for t, _ in rows], [y for _, y in rows])
    tok = train_wordpiece(dev.texts, 200, 1, False, 32)
    # Large random weights: int8 rounding visibly changes this model's dev predictions.
    model = tiny_bert(vocab_size=len(tok), seed=0, initializer_range=1.0)
    base, q = (macro_f1(m, tok, dev, CLASSES, 64) for m in (model, apply_recipe(model, make_recipe(QuantizeParams()))))
    assert base - q > 0.005, "the fixture model must lose F1 when quantized"
    return model, tok, dev


def test_huge_budget_keeps_nothing(setup):
    model, tok, dev = setup
    recipe = make_recipe(QuantizeParams())
    out_recipe, qmodel, report = fit_budget(model, tok, recipe, dev, CLASSES, max_drop=1.0)
    assert out_recipe == recipe and report["kept_fp32_for_budget"] == []
    assert fp32_linear_names(qmodel) == [] and report["dev_f1_drop"] == report["recipe_dev_f1_drop"] > 0


def test_zero_budget_keeps_sensitive_layers_until_it_holds(setup):
    model, tok, dev = setup
    recipe = make_recipe(QuantizeParams())
    out_recipe, qmodel, report = fit_budget(model, tok, recipe, dev, CLASSES, max_drop=0.0)
    kept = report["kept_fp32_for_budget"]
    assert kept and out_recipe["keep_fp32"] == kept
    assert report["dev_f1_drop"] <= 0.0
    assert sorted(fp32_linear_names(qmodel)) == sorted(kept)
    assert len(quantized_linear_names(qmodel)) == 8 - len(kept)
    # the kept layers are the most sensitive ones, most sensitive first
    sens = report["sensitivity"]
    assert [sens[k] for k in kept] == sorted((sens[k] for k in kept), reverse=True)
    assert min(sens[k] for k in kept) >= max([v for n, v in sens.items() if n not in kept], default=-1)
