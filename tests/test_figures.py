"""Every picture renders offline from fixture metrics, parses as SVG and names what it shows."""

import xml.etree.ElementTree as ET

from fixtures import CLASSES

from bert_int8.figures import confusion_counts, render_all

MODELS = ["fp32", "bf16", "int8", "onnx_fp32", "onnx_int8", "openvino_fp32", "openvino_int8"]


def _fixture_metrics(tmp_path):
    evaluation = {name: {"macro_f1": 0.9 - 0.01 * i, "accuracy": 0.9} for i, name in enumerate(MODELS)}
    row = {"file_bytes": 2**20, "latency_ms_p50": 1.0, "throughput_seq_per_s": 100.0}
    benchmark = {
        "setup": {"cpu": "Test CPU", "isa": "avx2 avx512_vnni", "threads": 2, "seq_len": 32, "batch_size": 64},
        "trained": {name: dict(row, latency_ms_p50=1.0 + i) for i, name in enumerate(MODELS)},
        "bert_base_shape": {name: dict(row, throughput_seq_per_s=50.0 + i) for i, name in enumerate(MODELS)},
    }
    metrics = tmp_path / "dvclive" / "plots" / "metrics"
    (metrics / "eval").mkdir(parents=True)
    (metrics / "loss.tsv").write_text("step\tloss\n0\t1.5\n1\t0.7\n2\t0.5\n")
    (metrics / "eval" / "accuracy.tsv").write_text("step\taccuracy\n10\t0.8\n21\t0.9\n")
    confusion = tmp_path / "confusion"
    confusion.mkdir()
    pairs = "".join(f"{a},{b}\n" for a in CLASSES for b in CLASSES[:2])
    for name in MODELS:
        (confusion / f"{name}.csv").write_text("actual,predicted\n" + pairs)
    return evaluation, benchmark, tmp_path / "dvclive", confusion


def _texts(path):
    return {el.text for el in ET.parse(path).iter() if el.tag.endswith("text") and el.text}


def test_every_image_renders_parses_and_names_every_model(tmp_path):
    evaluation, benchmark, dvclive, confusion = _fixture_metrics(tmp_path)
    written = render_all(evaluation, benchmark, CLASSES, dvclive, confusion, tmp_path / "images")
    assert [p.name for p in written] == ["training.svg", "tradeoff.svg", "confusion.svg", "speed.svg"]
    for path in written:
        assert path.read_bytes().lstrip().startswith(b"<?xml") and ET.parse(path).getroot().tag.endswith("svg")
    assert set(MODELS) <= _texts(tmp_path / "images" / "tradeoff.svg")
    assert set(MODELS) <= _texts(tmp_path / "images" / "speed.svg")
    assert {"fp32", "int8", "onnx_int8", "openvino_int8"} <= _texts(tmp_path / "images" / "confusion.svg")
    assert "dev accuracy" in _texts(tmp_path / "images" / "training.svg")
    # the same metrics give the same bytes (no date, fixed ids): `dvc plots diff` shows real changes only
    again = render_all(evaluation, benchmark, CLASSES, dvclive, confusion, tmp_path / "again")
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]


def test_confusion_counts(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("actual,predicted\na,a\na,b\nb,b\nb,b\n")
    assert confusion_counts(path, ["a", "b"]).tolist() == [[1, 1], [0, 2]]
