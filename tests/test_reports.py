"""The report types against the JSON forms written by hand: what the metrics files hold."""

from bert_int8.core.reports import Call, Figure


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
