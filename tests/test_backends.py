"""Every backend of the registry through the same checks: its int8 model is quantized (close to
FP32, the kept layer left FP32), its directories are its own, its answers are independent of
batch-mates where it says so, BF16 where it offers it. A new runtime, or a runtime's new int8
method, is one more row in ROWS (what it leaves FP32, and how a corrupt file fails). FP32 parity with PyTorch, for every backend
and every architecture: tests/test_architectures.py."""

import numpy as np
import pytest
import torch
from fixtures import make_titles, tiny_bert

from bert_int8 import backends
from bert_int8.backends.model_dir import ModelDir, models_under
from bert_int8.core.errors import PipelineError
from bert_int8.core.machine import native_bf16
from bert_int8.core.params import QuantizeParams
from bert_int8.data.tokenizer import train_wordpiece
from bert_int8.model.modeling import predict_logits
from bert_int8.quantize.int8_models import build_int8_models

TEXTS = [t for t, _ in make_titles(3, 7)]
KEPT = "bert.encoder.layer.0.attention.self.query"  # quantize.keep_fp32: every backend must honour it
LOGIT_SCALE = 50
INT8_TOLERANCE = 0.1  # of the largest FP32 logit


def _torch_fp32_linears(int8_dir):
    from bert_int8.backends.torch_int8 import load_quantized

    return {n for n, m in load_quantized(int8_dir).named_modules() if type(m) is torch.nn.Linear}


def _onnx_fp32_matmuls(int8_dir):
    import onnx

    return {n.name for n in onnx.load(str(int8_dir / "model.onnx")).graph.node if n.op_type in ("MatMul", "Gemm")}


def _qdq_fp32_matmuls(int8_dir):
    """A QDQ graph keeps its MatMuls: a quantized one reads its weights through DequantizeLinear."""
    import onnx

    graph = onnx.load(str(int8_dir / "model.onnx")).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    return {n.name for n in graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] not in dequantized}


def _ir_fp32_matmuls(int8_dir):
    import openvino as ov

    from bert_int8.backends.openvino import int8_matmuls

    model = ov.Core().read_model(str(int8_dir / "model.xml"))
    return {op.get_friendly_name() for op in model.get_ops() if op.get_type_name() == "MatMul"} - set(
        int8_matmuls(model)
    )


GRAPH_KEPT = "/bert/encoder/layer.0/attention/self/query/MatMul"  # the exporter's name for KEPT's product
GRAPH_KEY = "/bert/encoder/layer.0/attention/self/key/MatMul"
# Per int8 build (backends.build_key): the names its int8 artifact leaves FP32 (read from the
# artifact itself), KEPT's and a quantized layer's name there, and a model file whose corruption
# must fail in one line.
ROWS = {
    "torch": (_torch_fp32_linears, KEPT, "bert.encoder.layer.0.attention.self.key", "int8_state_dict.pt"),
    "onnxruntime": (_onnx_fp32_matmuls, GRAPH_KEPT, GRAPH_KEY, "model.onnx"),
    "onnxruntime_static": (_qdq_fp32_matmuls, GRAPH_KEPT, GRAPH_KEY, "model.onnx"),
    "openvino": (_ir_fp32_matmuls, GRAPH_KEPT, GRAPH_KEY, "model.xml"),
}
# Each row's (backend, int8 method)
BUILDS = {backends.build_key(b.name, m): (b.name, m) for b in backends.BACKENDS.values() for m in b.int8_methods}


def test_every_registered_int8_build_has_a_row():
    assert set(ROWS) == set(BUILDS)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every backend's models of one tiny model, as the quantize stage builds them."""
    tok = train_wordpiece(TEXTS, 120, 1, False, 32)
    model = tiny_bert(vocab_size=len(tok))
    with torch.no_grad():  # logits of about 1 instead of 0.03: tolerances below then mean something
        model.classifier.weight.mul_(LOGIT_SCALE)
    root = tmp_path_factory.mktemp("models")
    fp32 = backends.get(backends.REFERENCE).model_path("fp32", root)
    model.save_pretrained(fp32)
    tok.save_pretrained(fp32)
    params = QuantizeParams(backends=backends.names(), keep_fp32=[KEPT], max_f1_drop=None)
    report = build_int8_models(params, model, tok, None, None, TEXTS, root)
    return model, tok, root, report


def _dir(root, key, precision):
    """A row's model directory: its FP32 model (its backend's) or its int8 model."""
    name, method = BUILDS[key]
    return backends.get(name).model_path(precision, root, method if precision == "int8" else None)


@pytest.mark.parametrize("name", ROWS)
def test_int8_answers_close_to_fp32_but_not_as_it(built, name):
    """(Quantized: the next test reads which layers the artifact left FP32. Its size is no test
    at this scale: a static-int8 IR's quantize steps outweigh a tiny model's weights.)"""
    model, tok, root, report = built
    int8 = ModelDir.open(_dir(root, name, "int8"))
    assert (int8.runtime_name, int8.method, int8.precision) == (*BUILDS[name], "int8")
    assert name in report["recipes"]
    a = predict_logits(model, tok, TEXTS, 16)
    b = predict_logits(int8.load(), tok, TEXTS, 16)
    assert not np.array_equal(a, b)
    assert np.abs(a).max() > 0.5  # the scale the tolerance is taken of
    np.testing.assert_allclose(a, b, atol=INT8_TOLERANCE * np.abs(a).max())


@pytest.mark.parametrize("name", ROWS)
def test_the_layer_kept_fp32_stays_fp32_and_another_is_quantized(built, name):
    _, _, root, _ = built
    fp32_names, kept, quantized, _ = ROWS[name]
    left = fp32_names(_dir(root, name, "int8"))
    assert kept in left and quantized not in left


@pytest.mark.parametrize("name", ROWS)
def test_each_directory_is_recognised_by_its_backend_alone(built, name):
    _, _, root, _ = built
    for precision in ("fp32", "int8"):
        d = _dir(root, name, precision)
        said = {b.name: b.precision_of(d) for b in backends.BACKENDS.values()}
        assert {b: p for b, p in said.items() if p} == {BUILDS[name][0]: precision}
        assert all(f.is_file() for f in ModelDir.open(d).files)


@pytest.mark.parametrize("name", ROWS)
def test_answers_independent_of_batch_mates_where_the_backend_says_so(built, name):
    _, tok, root, _ = built
    for precision in ("fp32", "int8"):
        found = ModelDir.open(_dir(root, name, precision))
        model = found.load()
        alone = np.concatenate([predict_logits(model, tok, [t], 1) for t in TEXTS[:5]])
        together = predict_logits(model, tok, TEXTS, 64)[:5]
        if found.answers_independent_of_batch:
            np.testing.assert_allclose(alone, together, atol=1e-5)
        else:  # dynamic int8: the batch's activation range sets the scales, so answers move
            assert np.abs(alone - together).max() > 1e-4


@pytest.mark.parametrize("name", [n for n in ROWS if backends.get(BUILDS[n][0]).numpy_io])
def test_numpy_io_answers_as_the_transformers_call(built, name):
    """The lean path (numpy in and out) gives the transformers-like call's logits, and a missing
    token_type_ids means zeros."""
    _, _, root, _ = built
    model = ModelDir.open(_dir(root, name, "fp32")).load()
    ids = torch.randint(5, 50, (2, 6))
    mask = torch.ones_like(ids)
    with_tt = model(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).logits
    assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, with_tt)
    np.testing.assert_array_equal(model.logits({"input_ids": ids.numpy(), "attention_mask": mask.numpy()}), with_tt)


def test_bf16_variants_follow_the_backends_and_the_cpu(built):
    model, tok, root, _ = built
    assert not any(n.endswith("bf16") for n in models_under(root, bf16=False))
    found = models_under(root, bf16=True)
    with_bf16 = {b.prefix + "bf16" for b in backends.BACKENDS.values() if b.bf16}
    assert {n for n in found if n.endswith("bf16")} == with_bf16 and with_bf16
    if native_bf16():  # run them only where the CPU computes BF16 natively
        expected = predict_logits(model, tok, TEXTS, 16)
        for name in with_bf16:
            got = predict_logits(found[name].load(), tok, TEXTS, 16)
            assert not np.array_equal(got, expected)  # BF16 did run
            np.testing.assert_allclose(got, expected, atol=0.05 * np.abs(expected).max())


@pytest.mark.parametrize("name", ROWS)
def test_a_corrupt_model_file_fails_in_one_line_naming_it(built, name, tmp_path):
    import shutil

    _, _, root, _ = built
    d = shutil.copytree(_dir(root, name, "int8"), tmp_path / "m")
    corrupt = d / ROWS[name][3]
    corrupt.write_bytes(b"garbage")
    with pytest.raises(PipelineError) as err:
        ModelDir.open(d).load()
    assert str(corrupt) in str(err.value) and "\n" not in str(err.value)


def test_each_int8_build_has_its_own_name_and_folder(built):
    """The first int8 method of a runtime is its int8 model; another sits beside it under its
    method's name (what metrics, `predict` and the service show)."""
    _, _, root, _ = built
    names = {key: ModelDir.open(_dir(root, key, "int8")) for key in ROWS}
    assert {key: m.name for key, m in names.items()} == {
        "torch": "int8",
        "onnxruntime": "onnx_int8",
        "onnxruntime_static": "onnx_int8_static",
        "openvino": "openvino_int8",
    }
    assert names["onnxruntime_static"].path == root / "onnx" / "int8_static"
    assert {n: backends.split_name(n) for n in ("onnx_int8_static", "onnx_int8", "bf16")} == {
        "onnx_int8_static": ("onnxruntime", "int8", "static"),
        "onnx_int8": ("onnxruntime", "int8", "dynamic"),
        "bf16": ("torch", "bf16", None),
    }
    assert set(models_under(root, bf16=False)) >= {"onnx_int8", "onnx_int8_static", "onnx_fp32"}


def test_a_directory_with_no_model_file_is_not_a_model(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(PipelineError, match=r"not a model directory \(no model file: none of .*model.onnx"):
        ModelDir.open(tmp_path)


def test_with_no_budget_each_int8_model_is_built_and_not_loaded(tmp_path, monkeypatch):
    """quantize.max_f1_drop null (and the reference shape's bert-base): nothing is scored, so
    no int8 model is loaded after it is written; that load cost seconds per backend."""
    loaded = []
    for backend in backends.BACKENDS.values():
        monkeypatch.setattr(backend, "load", lambda path, *a, **k: loaded.append(path))
    tok = train_wordpiece(TEXTS, 120, 1, False, 32)
    params = QuantizeParams(backends=[backends.REFERENCE], max_f1_drop=None)
    report = build_int8_models(params, tiny_bert(vocab_size=len(tok)), tok, None, None, TEXTS, tmp_path)
    assert loaded == [] and report["budget"][backends.REFERENCE] == {}
    int8 = ModelDir.open(_dir(tmp_path, backends.REFERENCE, "int8"))
    assert int8.precision == "int8" and all(f.is_file() for f in int8.files)


@pytest.mark.parametrize(
    "machine, flags, needed",
    [
        ("x86_64", {"avx2", "fma"}, True),  # AVX2 alone: pairs of products summed in 16 bits
        ("x86_64", {"avx2", "avx512f", "avx512bw"}, True),  # AVX-512 without VNNI, alike
        ("x86_64", {"avx2", "avx_vnni"}, False),
        ("x86_64", {"avx2", "avx512f", "avx512_vnni"}, False),
        ("aarch64", {"asimd", "asimddp"}, False),  # not x86: other kernels, no vpmaddubsw
    ],
)
def test_int8_weights_keep_headroom_on_x86_without_vnni(monkeypatch, machine, flags, needed):
    from bert_int8.backends import base

    monkeypatch.setattr(base.platform, "machine", lambda: machine)
    monkeypatch.setattr(base, "cpu_flags", lambda: flags)
    assert base.int8_weights_need_headroom() is needed


def _int8_weight_range(int8_dir, name):
    """The largest |value| of the int8 MatMul weights stored in a backend's int8 model (an
    int8 embedding table is looked up, never summed in 16 bits: not counted)."""
    if name.startswith("onnxruntime"):
        import onnx
        from onnx import numpy_helper

        graph = onnx.load(str(int8_dir / "model.onnx")).graph
        int8 = {t.name: t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8}
        # a dynamic int8 MatMul is MatMulInteger(activations, weights, ...); a static (QDQ) one
        # is MatMul(..., DequantizeLinear(weights, ...))
        dequantized = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}
        weights = [
            numpy_helper.to_array(int8[n.input[1]])
            for n in graph.node
            if n.op_type == "MatMulInteger" and n.input[1] in int8
        ] + [
            numpy_helper.to_array(int8[dequantized[n.input[1]]])
            for n in graph.node
            if n.op_type == "MatMul" and dequantized.get(n.input[1]) in int8
        ]
    else:
        import openvino as ov

        weights = []
        for op in ov.Core().read_model(str(int8_dir / "model.xml")).get_ops():
            if op.get_type_name() != "MatMul":
                continue
            node = op.input_value(1).get_node()  # the weight, behind its dequantize steps
            while node.get_type_name() in ("Convert", "Subtract", "Multiply", "Reshape", "Transpose"):
                node = node.input_value(0).get_node()
            if node.get_type_name() == "Constant" and node.get_element_type() == ov.Type.i8:
                weights.append(node.get_data())
    assert weights, name
    return max(int(np.abs(w.astype(np.int32)).max()) for w in weights)


@pytest.mark.parametrize("name", ["onnxruntime", "onnxruntime_static", "openvino"])
def test_headroom_keeps_int8_weights_to_7_bits(name, monkeypatch, tmp_path):
    """Whatever this CPU has: with headroom the stored weights stay within 7 bits (|w| <= 64),
    without it they use the full int8 range, and the recipe says which."""
    module = __import__(f"bert_int8.backends.{BUILDS[name][0]}", fromlist=["x"])
    tok = train_wordpiece(TEXTS, 120, 1, False, 32)
    model = tiny_bert(vocab_size=len(tok))
    said = {}
    for headroom in (True, False):
        monkeypatch.setattr(module, "int8_weights_need_headroom", lambda headroom=headroom: headroom)
        root = tmp_path / str(headroom)
        model.save_pretrained(backends.get(backends.REFERENCE).model_path("fp32", root))
        params = QuantizeParams(backends=[backends.REFERENCE, BUILDS[name][0]], max_f1_drop=None)
        recipe = build_int8_models(params, model, tok, None, None, TEXTS, root)["recipes"][name]
        said[headroom] = (recipe, _int8_weight_range(_dir(root, name, "int8"), name))
    assert said[True][1] <= 64 < said[False][1], said
    if name.startswith("onnxruntime"):
        assert (said[True][0]["reduce_range"], said[False][0]["reduce_range"]) == (True, False)
    else:
        assert (said[True][0]["overflow_fix"], said[False][0]["overflow_fix"]) == ("every layer", "first layer")


@pytest.mark.parametrize("name", ROWS)
def test_length_buckets_are_recorded_where_the_backend_wants_them(built, name):
    """Quantize writes the default buckets, multiples of 8 up to the tokenizer's 32 tokens, into
    both directories of a backend that declares them, and none elsewhere."""
    _, tok, root, _ = built
    assert tok.model_max_length == 32
    for precision in ("fp32", "int8"):
        got = ModelDir.open(_dir(root, name, precision)).length_buckets
        assert got == ((8, 16, 24, 32) if backends.get(BUILDS[name][0]).length_buckets else None)


@pytest.mark.parametrize("name", ROWS)
def test_a_title_answers_alike_in_every_bucket(built, name):
    """Each title padded to every width from its own length to the longest, alone: FP32 logits
    within 1e-4 of its unpadded ones; int8 within what test_answers_independent_of_batch_mates...
    allows (1e-5 where answers do not depend on batch-mates; dynamic int8's padding positions
    enter its activation range, so there the int8 tolerance against FP32 of this file)."""
    model, tok, root, _ = built
    scale = np.abs(predict_logits(model, tok, TEXTS, 16)).max()
    for precision in ("fp32", "int8"):
        found = ModelDir.open(_dir(root, name, precision))
        m = found.load()
        if precision == "fp32":
            atol = 1e-4
        else:
            atol = 1e-5 if found.answers_independent_of_batch else INT8_TOLERANCE * scale
        for text in TEXTS[:4]:
            alone = predict_logits(m, tok, [text], 1)
            n = len(tok([text], truncation=True)["input_ids"][0])
            assert n < 32  # a title shorter than the longest width: padding to try
            for width in range(n, 33):
                padded = predict_logits(m, tok, [text], 1, lengths=(width,))
                np.testing.assert_allclose(padded, alone, atol=atol, err_msg=f"{name} {precision} {width}")


@pytest.mark.parametrize(
    "key, value, warned",
    [
        ("scheme", "per_tensor", set()),  # the default asks nothing of anyone
        ("scheme", "per_channel", {"OpenVINO"}),
        ("embeddings", "int8", set()),  # PyTorch honours it; the others quantize them anyway (undeclared)
    ],
)
def test_a_quantize_key_a_backend_does_not_honour_gets_one_line_naming_it(key, value, warned):
    from bert_int8.quantize.int8_models import ignored_params_warnings

    params = QuantizeParams(**{key: value})
    lines = ignored_params_warnings(params, backends.chosen(None))
    assert {b.label for b in backends.BACKENDS.values() if any(f" {b.label} " in line for line in lines)} == warned
    assert all(line.startswith(f"warning: quantize.{key}: ") and "\n" not in line for line in lines)
