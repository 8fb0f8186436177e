"""The reference-shape benchmark times bert-base-chinese at benchmark.seq_len by default, and the
shape of model.finetuned / model.pretrained at data.max_seq_length when one is set."""

import pytest
from fixtures import TOY_BENCHMARK as PARAMS
from fixtures import make_titles, tiny_bert

from bert_int8.backends.torch_int8 import make_recipe
from bert_int8.core.errors import PipelineError
from bert_int8.core.params import ModelParams, QuantizeParams
from bert_int8.data.tokenizer import train_wordpiece
from bert_int8.measure import reference_shape
from bert_int8.measure.reference_shape import benchmark_shape, reference_config, student_shape

# the fewest repeats, and never retimed (retiming is test_disturbance's): only the shape matters here
MAX_SEQ_LENGTH = 16  # data.max_seq_length, not benchmark.seq_len


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A 1-layer classifier with 3 labels, saved as a fine-tuned model or a pretrained one is."""
    texts = [t for t, _ in make_titles(2, 5)]
    tok = train_wordpiece(texts, 120, 1, False, MAX_SEQ_LENGTH)
    path = tmp_path_factory.mktemp("my-model")
    tiny_bert(vocab_size=len(tok), num_labels=3).save_pretrained(path)
    return path, tok, texts


def test_default_is_bert_base_at_benchmark_seq_len():
    config, params, shape = reference_config(ModelParams(), MAX_SEQ_LENGTH, "models_save/fp32", PARAMS)
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (12, 768, 21128)
    assert params.seq_len == PARAMS.seq_len == shape["seq_len"]
    assert shape["config"] == "bert-base-chinese" and shape["from"] == "default"


def test_a_finetuned_model_sets_the_shape_at_max_seq_length(saved):
    path, _, _ = saved
    config, params, shape = reference_config(ModelParams(finetuned=str(path)), MAX_SEQ_LENGTH, path, PARAMS)
    assert (config.num_hidden_layers, config.hidden_size, config.num_labels) == (1, 32, 3)
    assert params.seq_len == MAX_SEQ_LENGTH and params.runs == PARAMS.runs
    assert shape == {
        "config": str(path),
        "from": "model.finetuned",
        "model_type": "bert",
        "layers": 1,
        "hidden": 32,
        "vocab_size": config.vocab_size,
        "num_labels": 3,
        "seq_len": MAX_SEQ_LENGTH,
    }


def test_a_pretrained_model_is_timed_as_trained_with_the_datas_labels(saved, tmp_path):
    path, _, _ = saved  # 3 labels; training gave the model in models_save/fp32 the data's 5
    tiny_bert(vocab_size=50, num_labels=5).save_pretrained(tmp_path / "fp32")
    config, params, shape = reference_config(
        ModelParams(pretrained=str(path)), MAX_SEQ_LENGTH, tmp_path / "fp32", PARAMS
    )
    assert config.num_labels == 5 and shape["num_labels"] == 5 and shape["from"] == "model.pretrained"
    assert params.seq_len == MAX_SEQ_LENGTH and config.num_hidden_layers == 1


def test_a_model_that_cannot_be_read_names_its_folder(tmp_path):
    with pytest.raises(PipelineError, match=r"none: cannot load "):
        reference_config(ModelParams(finetuned="my-model"), MAX_SEQ_LENGTH, tmp_path / "none", PARAMS)


def test_the_benchmark_times_that_shape_at_that_length(saved, monkeypatch):
    path, tok, texts = saved
    config, params, _ = reference_config(ModelParams(finetuned=str(path)), MAX_SEQ_LENGTH, path, PARAMS)
    timed = []
    real = reference_shape.compare_models

    def spy(model_dirs, vocab_size, params, desc):
        timed.append(
            (params.seq_len, vocab_size, {n: d.load().config.num_hidden_layers for n, d in model_dirs.items()})
        )
        return real(model_dirs, vocab_size, params, desc=desc)

    monkeypatch.setattr(reference_shape, "compare_models", spy)
    recipe = make_recipe(QuantizeParams())
    result, kernel = benchmark_shape(config, recipe, ["torch"], tok, texts, params, bf16=False)
    assert timed == [(MAX_SEQ_LENGTH, config.vocab_size, {"fp32": 1, "int8": 1})]
    assert set(result["models"]) == {"fp32", "int8"} and "gop_per_sequence" in kernel


def test_a_student_of_the_shape_is_timed_beside_it(saved, monkeypatch):
    _, tok, texts = saved
    config = tiny_bert(vocab_size=len(tok), num_labels=3, num_hidden_layers=3).config
    assert student_shape(config, 0) is None and student_shape(config, 3) is None
    student = student_shape(config, 1)
    assert (student.num_hidden_layers, student.hidden_size, config.num_hidden_layers) == (1, 32, 3)
    layers = {}
    real = reference_shape.compare_models

    def spy(model_dirs, vocab_size, params, desc):
        layers.update({n: d.load().config.num_hidden_layers for n, d in model_dirs.items()})
        return real(model_dirs, vocab_size, params, desc=desc)

    monkeypatch.setattr(reference_shape, "compare_models", spy)
    result, _ = benchmark_shape(config, make_recipe(QuantizeParams()), ["torch"], tok, texts, PARAMS, False, student)
    assert layers == {"fp32": 3, "int8": 3, "student_fp32": 1, "student_int8": 1}
    head = result["student"]
    assert head["batch_1_student"] in ("student_fp32", "student_int8") and head["batch_1_teacher"] in ("fp32", "int8")
    assert head["batch_1_latency_p50_lo"] <= head["batch_1_latency_p50"] <= head["batch_1_latency_p50_hi"]
    # the calls and headline of the shape itself are its own models'
    assert set(result["winners"]["batch_1"].removeprefix("tie:").replace(" ", "").split(",")) <= {"fp32", "int8"}


def test_the_stage_passes_model_finetuned_and_max_seq_length_on(tmp_path, monkeypatch):
    """benchmark.reference, as the stage calls it: with model.finetuned set, the shape it builds
    and times is that model's at data.max_seq_length (the timing itself is the test above's)."""
    from fixtures import save_tiny_model_dirs

    from bert_int8.core.params import parse_params
    from bert_int8.measure import benchmark

    monkeypatch.chdir(tmp_path)
    fp32, _ = save_tiny_model_dirs(tmp_path / "models_save")
    timed = []

    def fake_benchmark_shape(config, recipe, built, tokenizer, calibration_texts, params, bf16, student):
        timed.append((config.num_hidden_layers, params.seq_len, built, student))
        result = {"models": {}, "winners": {}, "headline": {}, "student": {}, "others_cpu_share": {}, "canary": {}}
        return result, {}

    monkeypatch.setattr(benchmark, "benchmark_shape", fake_benchmark_shape)  # the name the stage calls
    all_params = parse_params(
        {"model": {"finetuned": str(fp32)}, "data": {"max_seq_length": MAX_SEQ_LENGTH}, "benchmark": {"seq_len": 8}}
    )
    shape, _, _ = benchmark.reference(all_params, ["银行利率"], say=lambda line: None)
    assert timed == [(1, MAX_SEQ_LENGTH, ["torch"], None)]  # one layer: no student keeps fewer
    assert (shape["config"], shape["from"], shape["layers"], shape["seq_len"]) == (
        str(fp32),
        "model.finetuned",
        1,
        MAX_SEQ_LENGTH,
    )


def _matmul_biases(xml):
    """{Add node: its constant} for every Add right after a MatMul: a Linear's bias."""
    import openvino as ov

    biases = {}
    for op in ov.Core().read_model(str(xml)).get_ops():
        if op.get_type_name() != "Add":
            continue
        sources = [op.input_value(i).get_node() for i in range(2)]
        kinds = [s.get_type_name() for s in sources]
        if "MatMul" in kinds and "Constant" in kinds:
            biases[op.get_friendly_name()] = sources[kinds.index("Constant")].get_data().copy()
    return biases


def test_timing_only_models_skip_bias_correction(saved, tmp_path):
    """The reference shape's static int8 skips NNCF's bias correction: a pass over the
    calibration titles that only moves Linear biases (no shape, layer or kernel changes, so no
    speed). With it, some bias differs from FP32's; without it, every one is FP32's. (The
    biases are set here as training leaves them, not zero: a fresh model's zero biases are
    ones NNCF leaves alone anyway.)"""
    import numpy as np
    import torch

    from bert_int8 import backends
    from bert_int8.quantize.int8_models import build_int8_models

    path, tok, texts = saved
    model = tiny_bert(vocab_size=len(tok), num_labels=3)
    torch.manual_seed(1)
    with torch.no_grad():
        for linear in (m for m in model.modules() if isinstance(m, torch.nn.Linear)):
            linear.bias.normal_(0, 0.1)
    params = QuantizeParams(backends=["torch", "openvino"], max_f1_drop=None)
    built = {}
    for timing_only in (False, True):
        root = tmp_path / str(timing_only)
        model.save_pretrained(backends.get("torch").model_path("fp32", root))
        report = build_int8_models(params, model, tok, None, None, texts, root, timing_only=timing_only)
        assert report["recipes"]["openvino"].get("bias_correction", True) is not timing_only
        built[timing_only] = backends.get("openvino").model_path("int8", root) / "model.xml"
    fp32 = _matmul_biases(backends.get("openvino").model_path("fp32", tmp_path / "True") / "model.xml")
    corrected, uncorrected = _matmul_biases(built[False]), _matmul_biases(built[True])
    assert set(corrected) == set(uncorrected) and set(uncorrected) <= set(fp32) and uncorrected
    assert all(np.array_equal(uncorrected[n], fp32[n]) for n in uncorrected)
    assert any(not np.array_equal(corrected[n], fp32[n]) for n in corrected)
