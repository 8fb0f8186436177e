import torch
from fixtures import tiny_bert

from bert_int8.bench import compare_models, dummy_batch, file_bytes, latency_summary, weight_bytes
from bert_int8.params import BenchmarkParams, QuantizeParams
from bert_int8.quantization import apply_recipe, make_recipe


def _linear_weight_count(model):
    return sum(m.weight.numel() for m in model.modules() if type(m) is torch.nn.Linear)


def test_fp32_weight_bytes_are_the_parameters():
    # BERT's buffers (position ids) are not persistent, so for FP32 the weights are the parameters.
    model = tiny_bert()
    assert weight_bytes(model) == sum(t.numel() * 4 for t in model.parameters())


def test_int8_weight_bytes_count_the_packed_weights():
    model = tiny_bert(vocab_size=50, hidden_size=64, intermediate_size=256)
    qmodel = apply_recipe(model, make_recipe(QuantizeParams()))
    params_only = sum(p.numel() * p.element_size() for p in qmodel.parameters())
    counted = weight_bytes(qmodel)
    # parameters() misses every packed int8 weight (the reference's "63.55 MB" mistake) ...
    assert counted - params_only >= _linear_weight_count(model)
    # ... and each int8 weight takes one byte where it took four.
    saved = weight_bytes(model) - counted
    assert 3 * _linear_weight_count(model) - 2000 <= saved <= 3 * _linear_weight_count(model)


def test_per_channel_counts_its_scales():
    model = tiny_bert(vocab_size=50, hidden_size=64, intermediate_size=256)
    per_tensor = weight_bytes(apply_recipe(model, make_recipe(QuantizeParams())))
    per_channel = weight_bytes(apply_recipe(model, make_recipe(QuantizeParams(scheme="per_channel"))))
    assert per_channel > per_tensor


def test_compare_models_reports_both_and_ratios(tmp_path):
    model = tiny_bert()
    qmodel = apply_recipe(model, make_recipe(QuantizeParams()))
    (tmp_path / "a").write_bytes(b"x" * 400)
    (tmp_path / "b").write_bytes(b"x" * 100)
    params = BenchmarkParams(seq_len=8, batch_size=4, warmup=1, runs=3, throughput_runs=1)
    out = compare_models({"fp32": model, "int8": qmodel}, {"fp32": tmp_path / "a", "int8": tmp_path / "b"}, 120, params)
    assert out["int8"]["vs_fp32"]["file_bytes"] == 0.25
    assert out["int8"]["vs_fp32"]["weight_bytes"] < 1
    assert "vs_fp32" not in out["fp32"]
    for name in ("fp32", "int8"):
        assert 0 < out[name]["latency_ms_p50"] <= out[name]["latency_ms_p95"]
        assert out[name]["throughput_seq_per_s"] > 0


def test_ratios_to_the_fastest_fp32(tmp_path):
    fast, slow = tiny_bert(), tiny_bert(num_hidden_layers=4)
    for f in "abc":
        (tmp_path / f).write_bytes(b"x" * 100)
    params = BenchmarkParams(seq_len=8, batch_size=4, warmup=1, runs=5, throughput_runs=1)
    models = {"fp32": slow, "onnx_fp32": fast, "int8": apply_recipe(fast, make_recipe(QuantizeParams()))}
    out = compare_models(models, dict(zip(models, [tmp_path / f for f in "abc"])), 120, params)
    assert out["int8"]["vs_best_fp32"]["baseline"] == "onnx_fp32"
    assert "vs_best_fp32" not in out["onnx_fp32"] and "vs_fp32" in out["onnx_fp32"]


def test_helpers():
    assert latency_summary([0.001, 0.002, 0.003]) == {"latency_ms_p50": 2.0, "latency_ms_p95": 2.9}
    batch = dummy_batch(100, 2, 5)
    assert batch["input_ids"].shape == (2, 5) and batch["token_type_ids"].is_contiguous()
    assert torch.equal(batch["input_ids"], dummy_batch(100, 2, 5)["input_ids"])


def test_file_bytes_of_a_directory(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_bytes(b"12345")
    (tmp_path / "d" / "y").write_bytes(b"123")
    assert file_bytes(tmp_path / "d") == 8 and file_bytes(tmp_path / "d" / "x") == 5
