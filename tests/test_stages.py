"""Stage scripts run as DVC runs them (subprocesses in a repository root), on fixture data."""

import json
import shutil

import pytest
from conftest import ok, run_script, set_params
from fixtures import CLASSES, make_titles, save_tiny_model_dirs, tiny_bert

from bert_int8.data.tokenizer import train_wordpiece

_set_params, _ok = set_params, ok


def _error_line(result):
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_prepare_data_writes_splits_tokenizer_and_report(workdir):
    _set_params(workdir, data={"max_train_samples": 100})
    _ok(run_script("prepare_data", workdir))
    prepared = workdir / "data" / "prepared"
    assert len((prepared / "train.tsv").read_text().splitlines()) == 100
    assert json.loads((prepared / "classes.json").read_text()) == CLASSES
    assert (prepared / "tokenizer" / "tokenizer.json").is_file()
    report = json.loads((workdir / "metrics" / "data.json").read_text())
    assert report["splits"]["train"]["lines"] == 100 and report["splits"]["test"]["lines"] == 100
    assert all(v == 10 for v in report["splits"]["train"]["per_class"].values())


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda raw: (raw / "test.txt").unlink(), r"test.txt: file not found"),
        (lambda raw: (raw / "dev.txt").write_bytes(b"\xff\xfe\x00title\t1\n"), r"dev.txt:1: not valid UTF-8"),
        (
            lambda raw: (raw / "train.txt").write_text((raw / "train.txt").read_text() + "bad line\n"),
            r"train.txt:301: expected 'title<TAB>label_id'",
        ),
    ],
)
def test_prepare_data_bad_input_leaves_nothing_behind(workdir, damage, expected):
    damage(workdir / "data" / "raw")
    line = _error_line(run_script("prepare_data", workdir))
    assert expected in line
    assert not (workdir / "data" / "prepared").exists()
    assert not (workdir / "metrics").exists()
    assert not list((workdir / "data").glob(".prepared*"))  # no temporary leftovers


def test_bad_params_stop_a_stage_naming_the_key(workdir):
    _set_params(workdir, train={"batch_size": 0})
    line = _error_line(run_script("prepare_data", workdir))
    assert "train.batch_size" in line


def test_train_from_a_local_pretrained_directory(workdir):
    """The path a bert-base-chinese user takes: model.pretrained names a save_pretrained directory."""
    pretrained = workdir / "tiny-pretrained"
    tiny_bert(num_labels=2).save_pretrained(pretrained)  # another head size: it must be replaced
    tok = train_wordpiece([t for t, _ in make_titles(20, 5)], 120, 1, False, 64)
    tok.save_pretrained(pretrained)
    _set_params(workdir, model={"pretrained": str(pretrained)}, train={"epochs": 1})

    _ok(run_script("prepare_data", workdir))
    prepared_tok = json.loads((workdir / "data/prepared/tokenizer/tokenizer.json").read_text())
    assert prepared_tok["model"]["vocab"] == json.loads((pretrained / "tokenizer.json").read_text())["model"]["vocab"]
    out = _ok(run_script("train", workdir))
    config = json.loads((workdir / "models_save/fp32/config.json").read_text())
    assert len(config["id2label"]) == 10
    assert config["id2label"]["3"] == "education"
    assert config["vocab_size"] == 120
    train = json.loads((workdir / "metrics/train.json").read_text())
    assert train["train_examples"] == 300
    assert not (workdir / "models_save/checkpoints").exists()
    assert f"dev accuracy {train['dev_accuracy']:.4f}" in out.stdout  # the printed figure is the recorded one


def test_train_with_a_missing_pretrained_model(workdir):
    _set_params(workdir, model={"pretrained": str(workdir / "no-such-model")})
    line = _error_line(run_script("prepare_data", workdir))
    assert "model.pretrained: cannot load a tokenizer" in line and "no-such-model" in line


@pytest.mark.parametrize("stage", ["quantize", "evaluate", "benchmark"])
def test_later_stages_without_a_model(prepared, stage):
    (prepared / "models_save" / "fp32").mkdir(parents=True)
    line = _error_line(run_script(stage, prepared))
    if stage == "benchmark":  # it reads evaluate's metrics first, before any model or timing
        assert line == "error: metrics/evaluate.json: not found (run the stage that writes it: dvc repro)"
    else:
        assert "models_save/fp32: not a model directory (config.json missing)" in line


def test_quantize_and_evaluate_without_onnxruntime(prepared):
    save_tiny_model_dirs(prepared / "models_save")
    shutil.rmtree(prepared / "models_save" / "int8")
    _set_params(prepared, quantize={"backends": ["torch"]})
    quantized = _ok(run_script("quantize", prepared))
    assert sorted(p.name for p in (prepared / "models_save" / "onnx").iterdir()) == ["backends.json"]
    budget = json.loads((prepared / "metrics" / "quantize.json").read_text())["budget"]["torch"]
    assert (
        f"[{budget['dev_f1_drop_lo']}, {budget['dev_f1_drop_hi']}] at 95%, {budget['dev_verdict']}" in quantized.stdout
    )
    _ok(run_script("classical", prepared))
    evaluated = _ok(run_script("evaluate", prepared))
    report = json.loads((prepared / "metrics" / "evaluate.json").read_text())
    assert {"fp32", "int8"} <= set(report["models"]) and "onnx_int8" not in report["models"]
    vs = report["comparisons"]["int8_vs_fp32"]
    assert f"[{vs['macro_f1_drop_lo']:+.4f}, {vs['macro_f1_drop_hi']:+.4f}] at 95%, {vs['verdict']}" in evaluated.stdout


def test_budget_that_cannot_hold_stops_quantize(prepared):
    save_tiny_model_dirs(prepared / "models_save")
    # Every Linear kept in FP32 leaves nothing quantized: no int8 recipe meets the budget,
    # and the stage must say so and stop.
    _set_params(prepared, quantize={"max_f1_drop": 0.0, "keep_fp32": ["*"]})
    line = _error_line(run_script("quantize", prepared))
    assert "quantize.max_f1_drop: no recipe meets the budget of 0.0" in line
    assert not (prepared / "metrics" / "quantize.json").exists()


def test_quantize_without_a_budget_and_openvino_without_onnxruntime(prepared):
    save_tiny_model_dirs(prepared / "models_save")
    _set_params(prepared, quantize={"backends": ["torch", "openvino"], "max_f1_drop": None})
    result = run_script("quantize", prepared)
    _ok(result)
    assert sorted(p.name for p in (prepared / "models_save" / "onnx").iterdir()) == ["backends.json"]
    ov = prepared / "models_save" / "openvino"
    assert sorted(p.name for p in ov.iterdir()) == ["backends.json", "fp32", "int8"]  # the ONNX export is gone
    report = json.loads((prepared / "metrics" / "quantize.json").read_text())
    assert report["budget"]["openvino"] == {} and "onnxruntime" not in report["budget"]
