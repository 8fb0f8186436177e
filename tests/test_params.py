import pytest
import yaml
from conftest import REPO

from bert_int8.core.errors import PipelineError
from bert_int8.core.params import Params, load_params, parse_params


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


def test_params_listing_names_every_key_of_params_yaml_with_its_schema():
    from bert_int8.core.params_doc import render, rows

    committed = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    keys = {f"{section}.{key}" for section, values in committed.items() for key in values}
    listed = {row[0] for row in rows()}
    assert listed == keys  # params.yaml spells out every key, and the listing has each once
    assert all(row[4] for row in rows()), "every key has a description"
    text = render()
    # written out by hand from the schema's declaration
    assert "benchmark.repeats: int, >= 6; default 6\n" in text
    assert "load_test.concurrency: list[int], each >= 1, <= 256; default [1, 8, 32]\n" in text
    assert "quantize.scheme: one of 'per_tensor' / 'per_channel'; default \"per_tensor\"\n" in text
    assert "model.pretrained: str | null; default null\n" in text


def test_params_listing_shows_a_value_set_in_params_yaml():
    from bert_int8.core.params_doc import render

    text = render(parse_params({"train": {"epochs": 3.0}}))
    assert "train.epochs: float, > 0; default 2.0; params.yaml: 3.0\n" in text


def test_params_command_lists_and_fails_on_a_bad_file_exactly_as_a_stage(workdir):
    from conftest import run_cli, run_script, set_params

    def cli():
        return run_cli(["params"], workdir)

    listed = cli()
    assert listed.returncode == 0 and "benchmark.disturbed_share: float, > 0, <= 1; default 0.05" in listed.stdout
    set_params(workdir, train={"batch_size": -1})
    bad, stage = cli(), run_script("evaluate", workdir)
    assert bad.returncode == stage.returncode == 2 and bad.stdout == ""
    assert (
        bad.stderr
        == stage.stderr
        == "error: params.yaml: train.batch_size: Input should be greater than or equal to 1 (got -1)\n"
    )
