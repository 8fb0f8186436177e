"""Every picture renders offline from fixture metrics (the shape evaluate and benchmark write),
parses as SVG and names what it shows; intervals, ties and disturbed figures are drawn and said."""

import copy
import json
import xml.etree.ElementTree as ET

import pytest
from conftest import run_script
from fixtures import CLASSES

from bert_int8.core.errors import PipelineError
from bert_int8.core.reports import Evaluation
from bert_int8.report.confusion import confusion_counts
from bert_int8.report.figures import fp32_f1_span, frontier, pareto_front, render_all, tradeoff_figure
from bert_int8.report.speed import speed

MODELS = ["fp32", "bf16", "int8", "onnx_fp32", "onnx_int8", "openvino_fp32", "openvino_int8"]


def _evaluation(f1s):
    """An evaluate report: per model accuracy with its Wilson interval and macro-F1, and per
    non-FP32 model its paired-bootstrap comparison with FP32."""
    models = {
        name: {"accuracy": 0.9137, "accuracy_lo": 0.908, "accuracy_hi": 0.919, "macro_f1": f1s[name]} for name in MODELS
    }
    comparisons = {}
    for name in MODELS[1:]:
        drop = round(f1s["fp32"] - f1s[name], 4)
        comparisons[f"{name}_vs_fp32"] = {
            "macro_f1_drop": drop,
            "macro_f1_drop_lo": round(drop - 0.0006, 4),
            "macro_f1_drop_hi": round(drop + 0.0006, 4),
            "verdict": "no significant change",
            "loses_at_most": max(0.0, round(drop + 0.0006, 4)),
            "mcnemar_p": 1.0,
            "prediction_agreement": 0.998,
        }
    return Evaluation(models, comparisons, test_examples=10000, max_f1_loss=0.003)


def _row(i, throughput):
    lat = 1.0 + i
    return {
        "file_bytes": (2 + i) * 2**20,
        "latency_ms_p50": lat,
        "latency_ms_p50_lo": lat - 0.1,
        "latency_ms_p50_hi": lat + 0.2,
        "latency_ms_p95": 2 * lat,
        "latency_ms_p95_lo": 1.9 * lat,
        "latency_ms_p95_hi": 2.2 * lat,
        "throughput_seq_per_s": throughput,
        "throughput_seq_per_s_lo": throughput - 5,
        "throughput_seq_per_s_hi": throughput + 5,
        "cold_latency_ms": 10 * lat,
        "cold_batch_ms": 100 * lat,
        "disturbed": False,
        "vs_fp32": {"latency_p50": 1.0, "throughput": 1.0},
    }


WINNERS = {
    "batch_1": "fp32",
    "batch_64": "openvino_int8",
    "int8_batch_1": "int8",
    "int8_batch_64": "openvino_int8",
    "baseline_batch_1": "fp32",
    "baseline_batch_64": "openvino_fp32",
}


def _benchmark():
    """benchmark.json's shape, every call a clear winner and nothing disturbed."""
    interval = "median of 5 timed passes after warm-up; _lo/_hi: order statistics 1 and 5 of the passes"
    return {
        "setup": {
            "cpu": "Test CPU",
            "isa": "avx2 avx512_vnni",
            "threads": 2,
            "seq_len": 32,
            "batch_size": 64,
            "interval": interval,
            "others_cpu_share": {g: dict.fromkeys(MODELS, 0.01) for g in ("trained", "reference_shape")},
        },
        "trained": {name: _row(i, 100.0 + 10 * i) for i, name in enumerate(MODELS)},
        "reference_shape": {name: _row(i, 50.0 + 10 * i) for i, name in enumerate(MODELS)},
        "reference_shape_config": {"config": "bert-base-chinese", "from": "model.pretrained", "layers": 12},
        "real_titles": {
            name: {
                "dynamic_titles_per_s": 1000.0 + 100 * i,
                "dynamic_titles_per_s_lo": 950.0 + 100 * i,
                "dynamic_titles_per_s_hi": 1080.0 + 100 * i,
                "padded_titles_per_s": 600.0,
                "dynamic_over_padded": 1.6,
                "cold_titles_per_s": 300.0 + 10 * i,
                "disturbed": False,
            }
            for i, name in enumerate(MODELS)
        },
        "winners": {
            "trained": dict(WINNERS, real_titles="openvino_int8", int8_real_titles="openvino_int8"),
            "reference_shape": dict(WINNERS),
        },
        "headline": {"trained": {}, "reference_shape": {}},
    }


def _fixture_metrics(tmp_path):
    evaluation = _evaluation({name: round(0.9 - 0.01 * i, 4) for i, name in enumerate(MODELS)})
    metrics = tmp_path / "dvclive" / "plots" / "metrics"
    (metrics / "eval").mkdir(parents=True)
    (metrics / "loss.tsv").write_text("step\tloss\n0\t1.5\n1\t0.7\n2\t0.5\n")
    (metrics / "eval" / "accuracy.tsv").write_text("step\taccuracy\n10\t0.8\n21\t0.9\n")
    confusion = tmp_path / "confusion"
    confusion.mkdir()
    pairs = "".join(f"{a},{b}\n" for a in CLASSES for b in CLASSES[:2])
    for name in MODELS:
        (confusion / f"{name}.csv").write_text("actual,predicted\n" + pairs)
    return evaluation, _benchmark(), tmp_path / "dvclive", confusion


def _texts(path):
    return [el.text for el in ET.parse(path).iter() if el.tag.endswith("text") and el.text]


def _names_every_model(path):
    """Every model named in some text of the image (models on one spot share a label: "a, b")."""
    texts = _texts(path)
    return {name for name in MODELS if any(name in t.replace(",", " ").split() for t in texts)} == set(MODELS)


def test_every_image_renders_parses_and_names_every_model(tmp_path):
    evaluation, benchmark, dvclive, confusion = _fixture_metrics(tmp_path)
    written = render_all(evaluation, benchmark, CLASSES, dvclive, confusion, tmp_path / "images")
    assert [p.name for p in written] == ["training.svg", "tradeoff.svg", "frontier.svg", "confusion.svg", "speed.svg"]
    for path in written:
        assert path.read_bytes().lstrip().startswith(b"<?xml") and ET.parse(path).getroot().tag.endswith("svg")
    assert _names_every_model(tmp_path / "images" / "tradeoff.svg")
    assert _names_every_model(tmp_path / "images" / "speed.svg")
    assert _names_every_model(tmp_path / "images" / "frontier.svg")
    assert {"fp32", "int8", "onnx_int8", "openvino_int8"} <= set(_texts(tmp_path / "images" / "confusion.svg"))
    assert "dev accuracy" in _texts(tmp_path / "images" / "training.svg")
    speed_text = " ".join(_texts(tmp_path / "images" / "speed.svg"))
    assert "real test titles" in speed_text and "cold" in speed_text and "bert-base-chinese" in speed_text
    assert "Test CPU" in speed_text  # the machine line
    # the same metrics give the same bytes (no date, fixed ids): `dvc plots diff` shows real changes only
    again = render_all(evaluation, benchmark, CLASSES, dvclive, confusion, tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]


def _error_bars(ax):
    """The error-bar segments an axes holds (matplotlib LineCollections)."""
    from matplotlib.collections import LineCollection

    return [c for c in ax.collections if isinstance(c, LineCollection) and len(c.get_segments())]


def test_tradeoff_f1_axis_spans_fp32_interval_when_models_differ_by_a_few_titles():
    import matplotlib.pyplot as plt

    # every model within 0.0003 of FP32 (three titles of a test split): the old axis spanned only that
    f1s = dict(zip(MODELS, [0.9138, 0.9139, 0.9141, 0.9138, 0.9139, 0.9140, 0.9138]))
    evaluation = _evaluation(f1s)
    lo, hi = fp32_f1_span(evaluation)
    # FP32's accuracy interval [0.908, 0.919] around its accuracy 0.9137, moved onto its macro-F1
    assert (lo, hi) == pytest.approx((0.9138 - 0.0057, 0.9138 + 0.0053))
    fig = tradeoff_figure(evaluation, _benchmark())
    try:
        f1_axes = fig.axes[:2]  # against size, against latency
        for ax in f1_axes:
            bottom, top = ax.get_ylim()
            assert bottom <= lo and top >= hi
            assert top - bottom >= hi - lo
            assert _error_bars(ax)  # the intervals are drawn
        # the F1 error bars of an int8 model: F1_fp32 - drop_hi .. F1_fp32 - drop_lo
        versus = evaluation.versus("int8", "fp32")
        ys = sorted({round(y, 4) for c in _error_bars(f1_axes[0]) for seg in c.get_segments() for _, y in seg})
        assert round(0.9138 - versus["macro_f1_drop_hi"], 4) in ys
        assert round(0.9138 - versus["macro_f1_drop_lo"], 4) in ys
    finally:
        plt.close(fig)


def _speed_text(benchmark, tmp_path):
    return " ".join(_texts(speed(benchmark, tmp_path / "speed.svg")))


def test_speed_says_tie_only_when_a_call_is_a_tie(tmp_path):
    benchmark = _benchmark()
    assert "tie" not in _speed_text(benchmark, tmp_path).lower()
    benchmark["winners"]["trained"]["batch_64"] = "tie: onnx_int8, openvino_int8"
    text = _speed_text(benchmark, tmp_path)
    assert "batch 64: tie: onnx_int8, openvino_int8" in text


def test_speed_marks_a_disturbed_model(tmp_path):
    benchmark = _benchmark()
    assert "disturbed" not in _speed_text(benchmark, tmp_path)
    benchmark["reference_shape"]["openvino_int8"]["disturbed"] = True
    benchmark["setup"]["others_cpu_share"]["reference_shape"]["openvino_int8"] = 0.21
    text = _speed_text(benchmark, tmp_path)
    assert "openvino_int8 (disturbed)" in text
    assert "21%" in text
    assert "onnx_int8 (disturbed)" not in text


def test_figures_render_from_metrics_without_the_optional_parts(tmp_path):
    """No reference shape, no real titles: two panels, no empty ones, still every model."""
    evaluation, benchmark, dvclive, confusion = _fixture_metrics(tmp_path)
    for key in ("reference_shape", "reference_shape_config", "real_titles"):
        benchmark.pop(key)
    benchmark["winners"].pop("reference_shape")
    path = speed(copy.deepcopy(benchmark), tmp_path / "speed.svg")
    assert _names_every_model(path)


@pytest.mark.parametrize("seed", range(5))
def test_the_frontier_is_every_model_nothing_beats_in_both(seed):
    import random

    rng = random.Random(seed)
    points = [(f"m{i}", rng.choice([100, 200, 300, 400]), rng.choice([0.8, 0.85, 0.9])) for i in range(12)]

    def beaten(p):  # by another point at least as good in both and better in one
        return any(q[1] >= p[1] and q[2] >= p[2] and (q[1], q[2]) != (p[1], p[2]) for q in points)

    front = pareto_front(points)
    undominated = {p[0] for p in points if not beaten(p)}
    # ties on both figures keep the first of them only: each spot of the frontier is named once
    assert set(front) <= undominated
    assert {(r, f) for n, r, f in points if n in front} == {(r, f) for n, r, f in points if n in undominated}
    rates = [dict((n, r) for n, r, _ in points)[n] for n in front]
    assert rates == sorted(rates, reverse=True)


def test_the_frontier_shows_the_classical_floor_and_the_student(tmp_path):
    evaluation, benchmark, _, _ = _fixture_metrics(tmp_path)
    real = benchmark["real_titles"]
    # the floor: the fastest, least accurate; a student: faster than every teacher model, as accurate as fp32
    benchmark["classical"] = {
        "dynamic_titles_per_s": 9000.0,
        "dynamic_titles_per_s_lo": 8800.0,
        "dynamic_titles_per_s_hi": 9100.0,
    }
    real["student_fp32"] = {
        **real["fp32"],
        "dynamic_titles_per_s": 5000.0,
        "dynamic_titles_per_s_lo": 4900.0,
        "dynamic_titles_per_s_hi": 5100.0,
    }
    evaluation.models["classical"] = {**evaluation.models["fp32"], "macro_f1": 0.5}
    evaluation.comparisons["classical_vs_fp32"] = {
        **evaluation.versus("int8", "fp32"),
        "macro_f1_drop": 0.4,
        "macro_f1_drop_lo": 0.39,
        "macro_f1_drop_hi": 0.41,
    }
    evaluation.models["student_fp32"] = dict(evaluation.models["fp32"])
    evaluation.comparisons["student_fp32_vs_fp32"] = {
        **evaluation.versus("int8", "fp32"),
        "macro_f1_drop": 0.0,
        "macro_f1_drop_lo": -0.001,
        "macro_f1_drop_hi": 0.001,
    }
    text = " ".join(_texts(frontier(evaluation, benchmark, tmp_path / "frontier.svg")))
    assert "frontier: classical, student_fp32" in text  # the teacher's models are all beaten by the student
    assert "classical" in text.split() and "student_fp32" in text.split()


def test_confusion_counts(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("actual,predicted\na,a\na,b\nb,b\nb,b\n")
    assert confusion_counts(path, ["a", "b"]).tolist() == [[1, 1], [0, 2]]


def test_the_stage_on_a_corrupt_benchmark_json_says_one_line(tmp_path):
    evaluation, _, _, _ = _fixture_metrics(tmp_path)
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "evaluate.json").write_text(json.dumps(evaluation.to_json()))
    (tmp_path / "metrics" / "benchmark.json").write_text('{"setup": {"cpu": ')  # cut short
    result = run_script("figures", tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "metrics/benchmark.json" in lines[0], result.stderr
    assert not (tmp_path / "plots" / "images").exists()


@pytest.mark.parametrize(
    "text, says",
    [
        (None, "not found"),
        ("actual,predicted\na,a\na,c\n", "line 3"),  # c: no such label
        ("actual\na\n", "line 2"),  # no predicted column
        (b"actual,predicted\n\xff\xfe,a\n", "cannot read it"),
    ],
)
def test_a_bad_confusion_file_is_one_line_naming_it(tmp_path, text, says):
    path = tmp_path / "c.csv"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    with pytest.raises(PipelineError) as err:
        confusion_counts(path, ["a", "b"])
    assert str(path) in str(err.value) and says in str(err.value) and "\n" not in str(err.value)
