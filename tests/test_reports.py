"""The report types against the JSON forms written by hand: what the metrics files hold."""

import json

import pytest

from bert_int8.core.errors import PipelineError
from bert_int8.core.reports import Call, Evaluation, Figure


def test_a_figure_reads_its_interval_or_stands_alone():
    row = {"rate": 10.0, "rate_lo": 9.0, "rate_hi": 12.5, "bytes": 7}
    assert Figure.read(row, "rate") == Figure(10.0, 9.0, 12.5)
    assert Figure.read(row, "bytes") == Figure(7, 7, 7)  # an exact figure: no interval
    assert Figure(1.0, 0.5, 2.0).fields("x") == {"x": 1.0, "x_lo": 0.5, "x_hi": 2.0}


def test_a_call_reads_as_the_metrics_write_it():
    assert Call.parse("openvino_int8") == Call("openvino_int8")
    tie = Call.parse("tie: onnx_int8, onnx_int8_static")
    assert tie == Call(None, ("onnx_int8", "onnx_int8_static")) and tie.models == ["onnx_int8", "onnx_int8_static"]
    assert tie.text() == "tie: onnx_int8, onnx_int8_static" and Call("fp32").text() == "fp32"
    assert Call.parse(None).models == [] and Call(None).text() is None


# evaluate.json as the evaluate stage writes it, by hand: two models, one comparison
SECTIONS = {
    "test_examples": 40,
    "max_f1_loss": 0.003,
    "models": {"fp32": {"accuracy": 0.75}, "int8": {"accuracy": 0.725}},
    "comparisons": {"int8_vs_fp32": {"macro_f1_drop": 0.02, "verdict": "no significant change"}},
    "environment": {"cpu": "x"},
}


def test_an_evaluation_reads_and_writes_its_sections():
    ev = Evaluation.from_json(SECTIONS)
    assert ev.models["int8"] == {"accuracy": 0.725} and ev.test_examples == 40 and ev.max_f1_loss == 0.003
    assert ev.versus("int8", "fp32") == {"macro_f1_drop": 0.02, "verdict": "no significant change"}
    assert ev.versus("fp32", "fp32") is None and ev.versus("int8", "student_fp32") is None
    assert ev.to_json() == SECTIONS


def test_an_evaluation_reads_the_older_flat_form():
    # past experiments (scripts/seed_spread.py reads them) hold models and comparisons side by side
    flat = {"test_examples": 40, "fp32": {"accuracy": 0.75}, "int8": {"accuracy": 0.725}, "environment": {"cpu": "x"}}
    flat["int8_vs_fp32"] = {"macro_f1_drop": 0.02, "verdict": "no significant change"}
    ev = Evaluation.from_json(flat)
    assert set(ev.models) == {"fp32", "int8"} and set(ev.comparisons) == {"int8_vs_fp32"}
    assert ev.max_f1_loss is None and ev.environment == {"cpu": "x"}


@pytest.mark.parametrize(
    ("key", "value"),
    [("comparisons", [1]), ("comparisons", None), ("models", None), ("models", {}), ("test_examples", "40")],
)
def test_an_evaluation_without_a_section_is_refused_naming_the_file_and_key(tmp_path, key, value):
    path = tmp_path / "evaluate.json"
    data = {k: v for k, v in {**SECTIONS, key: value}.items() if v is not None}
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PipelineError, match=f"^{path}: no {key} "):
        Evaluation.read(path)
