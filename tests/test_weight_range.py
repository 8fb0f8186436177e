"""An int8 model whose recipe let its weights use all 8 bits (built on a CPU with VNNI) is named
in one warning line where the CPU has no VNNI, and only there: such a CPU adds u8 x s8 products
in pairs into 16 bits, where full-range weights saturate. The CPU is set here by its flags, as
/proc/cpuinfo would give them."""

import json

import pytest

from bert_int8.backends import base
from bert_int8.backends.model_dir import ModelDir

AVX2 = {"avx2", "fma"}
VNNI = AVX2 | {"avx512f", "avx512_vnni"}


@pytest.fixture
def cpu(monkeypatch):
    def set_flags(flags, machine="x86_64"):
        monkeypatch.setattr(base, "cpu_flags", lambda: set(flags))
        monkeypatch.setattr(base.platform, "machine", lambda: machine)

    return set_flags


def int8_dir(tmp_path, backend, recipe_file, recipe):
    d = tmp_path / backend
    d.mkdir()
    (d / recipe_file).write_text(json.dumps(recipe), encoding="utf-8")
    return ModelDir(d, backend, "int8")


FULL_RANGE = [
    ("onnxruntime", "onnx_recipe.json", {"reduce_range": False}),
    ("openvino", "openvino_recipe.json", {"overflow_fix": "first layer"}),
]
SEVEN_BITS = [
    ("onnxruntime", "onnx_recipe.json", {"reduce_range": True}),
    ("openvino", "openvino_recipe.json", {"overflow_fix": "every layer"}),
]


@pytest.mark.parametrize(("backend", "recipe_file", "recipe"), FULL_RANGE)
def test_full_range_weights_warn_on_a_cpu_without_vnni_only(tmp_path, cpu, backend, recipe_file, recipe):
    model = int8_dir(tmp_path, backend, recipe_file, recipe)
    cpu(AVX2)
    warning = model.weight_range_warning()
    assert warning.startswith(f"warning: {model.path}: ") and "`dvc repro -f -s quantize`" in warning
    assert "\n" not in warning
    cpu(VNNI)
    assert model.weight_range_warning() is None
    cpu(set(), machine="aarch64")  # no x86 pairwise 16-bit sums there
    assert model.weight_range_warning() is None


@pytest.mark.parametrize(("backend", "recipe_file", "recipe"), SEVEN_BITS)
def test_seven_bit_weights_fit_every_cpu(tmp_path, cpu, backend, recipe_file, recipe):
    model = int8_dir(tmp_path, backend, recipe_file, recipe)
    for flags in (AVX2, VNNI):
        cpu(flags)
        assert model.weight_range_warning() is None


def test_fp32_and_pytorch_int8_are_not_checked(tmp_path, cpu):
    cpu(AVX2)
    fp32 = tmp_path / "fp32"
    fp32.mkdir()  # no recipe read: an FP32 model has no int8 weights
    assert ModelDir(fp32, "onnxruntime", "fp32").weight_range_warning() is None
    # fbgemm narrows PyTorch's activations on every CPU; its recipe records no weight range
    assert ModelDir(fp32, "torch", "int8").weight_range_warning() is None


def test_a_corrupt_recipe_is_named(tmp_path, cpu):
    cpu(AVX2)
    d = tmp_path / "onnx"
    d.mkdir()
    (d / "onnx_recipe.json").write_text("{not json", encoding="utf-8")
    from bert_int8.core.errors import PipelineError

    with pytest.raises(PipelineError, match="onnx_recipe.json"):
        ModelDir(d, "onnxruntime", "int8").weight_range_warning()


def test_evaluate_names_each_full_range_model_once(tmp_path, cpu):
    """What the evaluate stage prints before it evaluates (model_dir.weight_range_warnings)."""
    from bert_int8.backends.model_dir import weight_range_warnings

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    models = {
        "onnx_int8": int8_dir(tmp_path / "a", *FULL_RANGE[0]),
        "openvino_int8": int8_dir(tmp_path / "a", *SEVEN_BITS[1]),
        "student_openvino_int8": int8_dir(tmp_path / "b", *FULL_RANGE[1]),
    }
    cpu(AVX2)
    said = weight_range_warnings(models)
    assert [line.split(": ")[1] for line in said] == [
        str(models["onnx_int8"].path),
        str(models["student_openvino_int8"].path),
    ]
    cpu(VNNI)
    assert weight_range_warnings(models) == []
