import pytest
import torch
from fixtures import make_titles, tiny_bert

from bert_int8.kernel_rate import linear_ops_per_sequence
from bert_int8.params import BenchmarkParams, QuantizeParams
from bert_int8.quantization import apply_recipe, make_recipe
from bert_int8.reference_shape import benchmark_shape, build_shape
from bert_int8.sizes import file_bytes, weight_bytes
from bert_int8.timing import ROUNDS, compare_models, dummy_batch, latency_summary, ratios
from bert_int8.tokenizer import train_wordpiece

BACKENDS = ["torch", "onnxruntime", "openvino"]
PARAMS = BenchmarkParams(threads=1, seq_len=8, batch_size=4, warmup=1, runs=3, throughput_runs=1)


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


@pytest.fixture(scope="module")
def toy_shape(tmp_path_factory):
    """Every backend's FP32 and int8 directory of a 1-layer toy BERT, as the pipeline builds them."""
    from transformers import BertConfig

    texts = [t for t, _ in make_titles(2, 5)]
    tok = train_wordpiece(texts, 120, 1, False, 16)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=3,
    )
    qp = QuantizeParams(backends=BACKENDS, max_f1_drop=None)
    dirs = build_shape(config, qp, tok, texts, tmp_path_factory.mktemp("shape"), bf16=True)
    return config, tok, texts, dirs


def test_build_shape_makes_every_backend(toy_shape):
    _, _, _, dirs = toy_shape
    assert set(dirs) == {
        "fp32",
        "int8",
        "bf16",
        "onnx_fp32",
        "onnx_int8",
        "openvino_fp32",
        "openvino_int8",
        "openvino_bf16",
    }
    for name, d in dirs.items():
        assert d.name == name and all(f.is_file() for f in d.files)


def test_compare_models_ratios_and_winners(toy_shape, capsys):
    config, _, _, dirs = toy_shape
    dirs = {n: d for n, d in dirs.items() if "bf16" not in n}  # BF16 is timed only where it is native
    out, winners, _ = compare_models(dirs, config.vocab_size, PARAMS, desc="benchmark: toy")
    blocks = len(dirs) * (ROUNDS + 1)  # latency rounds, then one throughput block, per model
    log = capsys.readouterr().err.splitlines()
    assert log[-1].startswith(f"benchmark: toy: batch 1 and 4: {blocks}/{blocks} blocks (100%)")
    assert set(out) == set(dirs) and "vs_fp32" not in out["fp32"]
    assert out["int8"]["vs_fp32"]["file_bytes"] == round(out["int8"]["file_bytes"] / out["fp32"]["file_bytes"], 4)
    assert out["int8"]["vs_fp32"]["weight_bytes"] < 1 and "weight_bytes" not in out["onnx_int8"]
    baselines = {"fp32", "onnx_fp32", "openvino_fp32"}
    for name in ("int8", "onnx_int8", "openvino_int8"):
        best = out[name]["vs_best_baseline"]
        assert best["latency_baseline"] == min(baselines, key=lambda n: out[n]["latency_ms_p50"])
        assert best["throughput_baseline"] == max(baselines, key=lambda n: out[n]["throughput_seq_per_s"])
        assert best["throughput"] == round(
            out[name]["throughput_seq_per_s"] / out[best["throughput_baseline"]]["throughput_seq_per_s"], 4
        )
    assert all("vs_best_baseline" not in out[n] for n in baselines)
    assert winners["int8_batch_4"] == max(
        ("int8", "onnx_int8", "openvino_int8"), key=lambda n: out[n]["throughput_seq_per_s"]
    )
    assert winners["batch_1"] == min(out, key=lambda n: out[n]["latency_ms_p50"])


def test_benchmark_shape_reports_the_int8_gemm_share(toy_shape):
    config, tok, texts, _ = toy_shape
    recipe = make_recipe(QuantizeParams())
    report, winners, kernel = benchmark_shape(config, recipe, BACKENDS, tok, texts, PARAMS, bf16=False)
    assert "bf16" not in report and "openvino_bf16" not in report
    ops = linear_ops_per_sequence(config, PARAMS.seq_len)
    for name in ("int8", "onnx_int8", "openvino_int8"):
        r = report[name]
        assert r["gops"] == round(ops * r["throughput_seq_per_s"] / 1e9, 1)
        assert r["share_of_int8_matmul_rate"] == round(
            ops * r["throughput_seq_per_s"] / 1e9 / kernel["int8_matmul_gops"], 4
        )
    assert "gops" not in report["fp32"] and winners["baseline_batch_1"] in ("fp32", "onnx_fp32", "openvino_fp32")


def test_helpers(tmp_path):
    assert latency_summary([0.001, 0.002, 0.003]) == {"latency_ms_p50": 2.0, "latency_ms_p95": 2.9}
    batch = dummy_batch(100, 2, 5)
    assert batch["input_ids"].shape == (2, 5) and batch["token_type_ids"].is_contiguous()
    assert torch.equal(batch["input_ids"], dummy_batch(100, 2, 5)["input_ids"])
    assert ratios({"a": 1, "b": 3}, {"a": 4, "b": 0}, {"a": "x", "b": "y", "c": "z"}) == {"x": 0.25}


def test_file_bytes_of_a_directory_and_a_list(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_bytes(b"12345")
    (tmp_path / "d" / "y").write_bytes(b"123")
    assert file_bytes(tmp_path / "d") == 8 and file_bytes(tmp_path / "d" / "x") == 5
    assert file_bytes([tmp_path / "d" / "x", tmp_path / "d" / "y"]) == 8
