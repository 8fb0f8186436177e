import pytest
import yaml
from conftest import REPO

from bert_int8.errors import PipelineError
from bert_int8.params import Params, load_params, parse_params


def test_committed_params_are_the_schema_defaults():
    # One place for defaults: params.yaml spells out exactly what the schema would fill in.
    committed = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    assert parse_params(committed) == Params()
    assert parse_params(committed).model_dump() == committed


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"train": {"batch_size": -1}}, "params.yaml: train.batch_size: Input should be greater than or equal to 1"),
        (
            {"quantize": {"scheme": "per_row"}},
            "params.yaml: quantize.scheme: Input should be 'per_tensor' or 'per_channel'",
        ),
        ({"train": {"epochs": "two"}}, "params.yaml: train.epochs: Input should be a valid number"),
        ({"trian": {}}, "params.yaml: trian: unknown key"),
        ({"model": {"layer": 3}}, "params.yaml: model.layer: unknown key"),
        ({"model": {"hidden": 100, "heads": 3}}, "model.hidden (100) must be a multiple of model.heads (3)"),
        (
            {"data": {"max_train_samples": 5}},
            "params.yaml: data.max_train_samples: Input should be greater than or equal to 10",
        ),
        ([1, 2], "params.yaml: expected a mapping of sections"),
    ],
)
def test_bad_params_name_the_key(raw, expected):
    with pytest.raises(PipelineError) as err:
        parse_params(raw)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_load_params_errors(tmp_path):
    with pytest.raises(PipelineError, match="not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("train: [unclosed\n")
    with pytest.raises(PipelineError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("")
    assert load_params(tmp_path / "params.yaml") == Params()
