import json
import warnings

import pytest
import torch
from fixtures import make_titles, tiny_bert

from bert_int8.backends.torch_files import RECIPE_FILE, WEIGHTS_FILE
from bert_int8.backends.torch_int8 import (
    apply_recipe,
    load_quantized,
    make_recipe,
    quantized_linear_names,
    save_quantized,
)
from bert_int8.core.errors import PipelineError
from bert_int8.core.params import QuantizeParams
from bert_int8.data.tokenizer import train_wordpiece
from bert_int8.model.modeling import linear_names

RECIPES = [
    QuantizeParams(),
    QuantizeParams(scheme="per_channel"),
    QuantizeParams(embeddings="int8"),
    QuantizeParams(scheme="per_channel", embeddings="int8", keep_fp32=["classifier", "*.output.dense"]),
]


@pytest.fixture(scope="module")
def tokenizer():
    return train_wordpiece([t for t, _ in make_titles(10, 0)], 120, 1, True, 16)


def _batch():
    g = torch.Generator().manual_seed(1)
    return {
        "input_ids": torch.randint(5, 120, (3, 9), generator=g),
        "attention_mask": torch.ones(3, 9, dtype=torch.long),
    }


@pytest.mark.parametrize("params", RECIPES, ids=lambda p: f"{p.scheme}-{p.embeddings}-{len(p.keep_fp32)}")
def test_recipe_round_trip_gives_identical_logits(tmp_path, tokenizer, params, monkeypatch):
    model = tiny_bert()
    recipe = make_recipe(params)
    qmodel = apply_recipe(model, recipe)
    save_quantized(qmodel, tokenizer, recipe, tmp_path)

    loads = []
    real_load = torch.load

    def spy_load(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy_load)
    loaded = load_quantized(tmp_path)
    assert loads == [True]  # never a pickle that can run code
    with torch.inference_mode():
        assert torch.equal(qmodel(**_batch()).logits, loaded(**_batch()).logits)
    assert json.loads((tmp_path / RECIPE_FILE).read_text()) == recipe


def test_keep_fp32_patterns_and_embeddings():
    recipe = make_recipe(QuantizeParams(embeddings="int8", keep_fp32=["classifier"]))
    qmodel = apply_recipe(tiny_bert(), recipe)
    assert linear_names(qmodel) == ["classifier"]
    assert len(quantized_linear_names(qmodel)) == 7  # q, k, v, attn out, intermediate, output, pooler
    assert isinstance(qmodel.bert.embeddings.word_embeddings, torch.ao.nn.quantized.Embedding)
    # BERT's default token_type_ids are a non-contiguous view; the model must still run without them.
    with torch.inference_mode():
        qmodel(input_ids=_batch()["input_ids"])


def test_int8_stays_close_to_fp32():
    model = tiny_bert()
    qmodel = apply_recipe(model, make_recipe(QuantizeParams()))
    with torch.inference_mode():
        a, b = model(**_batch()).logits, qmodel(**_batch()).logits
    assert not torch.equal(a, b)  # it really is quantized
    assert torch.allclose(a, b, atol=0.05)


def test_torch_ao_deprecations_are_silenced_but_other_warnings_pass():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        qmodel = apply_recipe(tiny_bert(), make_recipe(QuantizeParams()))
        warnings.warn("a warning of our own", UserWarning, stacklevel=1)
    messages = [str(w.message) for w in caught]
    assert messages == ["a warning of our own"], messages
    assert quantized_linear_names(qmodel)


def _saved(tmp_path, tokenizer, params=QuantizeParams()):
    recipe = make_recipe(params)
    save_quantized(apply_recipe(tiny_bert(), recipe), tokenizer, recipe, tmp_path)
    return tmp_path


def test_mismatched_recipe_is_a_clear_error(tmp_path, tokenizer):
    d = _saved(tmp_path, tokenizer, QuantizeParams(keep_fp32=["classifier"]))
    recipe = json.loads((d / RECIPE_FILE).read_text())
    recipe["keep_fp32"] = []
    (d / RECIPE_FILE).write_text(json.dumps(recipe))
    with pytest.raises(
        PipelineError, match="weights do not match the model built from config.json and quantization_recipe.json"
    ):
        load_quantized(d)


def test_corrupt_weights_is_a_clear_error(tmp_path, tokenizer):
    d = _saved(tmp_path, tokenizer)
    (d / WEIGHTS_FILE).write_bytes(b"not a torch file")
    with pytest.raises(PipelineError, match=f"{WEIGHTS_FILE}: cannot read the weights"):
        load_quantized(d)


@pytest.mark.parametrize(
    "remove, expected",
    [
        (None, "model directory not found"),
        ("config.json", "config.json missing"),
        (RECIPE_FILE, f"{RECIPE_FILE} missing"),
        (WEIGHTS_FILE, f"{WEIGHTS_FILE} missing"),
    ],
)
def test_not_an_int8_model_directory(tmp_path, tokenizer, remove, expected):
    d = _saved(tmp_path / "int8", tokenizer)
    if remove is None:
        d = tmp_path / "missing"
    else:
        (d / remove).unlink()
    with pytest.raises(PipelineError, match=expected):
        load_quantized(d)
