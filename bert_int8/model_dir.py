"""What a model directory is: its backend, its precision, the files that hold it, and how to
load it. The one place that answers this; the stages, `predict` and the service all ask here.

| directory holds                             | backend     | precision |
| model.safetensors (save_pretrained)         | torch       | fp32      |
| int8_state_dict.pt, quantization_recipe.json | torch       | int8      |
| model.onnx                                  | onnxruntime | fp32      |
| model.onnx, onnx_recipe.json                | onnxruntime | int8      |
| model.xml + model.bin                       | openvino    | fp32      |
| model.xml + model.bin, openvino_recipe.json | openvino    | int8      |

A BF16 model is an FP32 directory run in BF16 (PyTorch weights cast to bfloat16, OpenVINO's
BF16 precision hint): `ModelDir.as_bf16()`. Names follow the backend: fp32, int8, bf16 for
PyTorch; onnx_fp32, onnx_int8; openvino_fp32, openvino_int8, openvino_bf16.

Opening a directory, and loading an ONNX Runtime or OpenVINO one, imports neither torch nor
transformers (the lean service runs without them); a PyTorch directory imports them to load.
"""

import json
from dataclasses import dataclass, replace
from pathlib import Path

from . import paths
from .errors import PipelineError
from .machine import native_bf16

PREFIX = {"torch": "", "onnxruntime": "onnx_", "openvino": "openvino_"}
BF16_BACKENDS = ("torch", "openvino")  # ONNX Runtime's CPU provider has no BF16 kernels for BERT
# The files that tell the backends apart, as onnx_backend, openvino_backend and quantization
# name them (tests/test_model_dir.py keeps them equal): opening a directory imports none of
# those modules (quantization imports torch; the backends numpy), so `serve auto` can choose a
# directory before `--workers` forks.
ONNX_MODEL, ONNX_RECIPE = "model.onnx", "onnx_recipe.json"
OPENVINO_MODEL, OPENVINO_RECIPE = "model.xml", "openvino_recipe.json"
TORCH_INT8_RECIPE, TORCH_INT8_WEIGHTS = "quantization_recipe.json", "int8_state_dict.pt"


def check_model_dir(path):
    """Fail with one line if `path` is not a directory holding a saved model config: the lines of
    modeling.check_model_dir, without its imports (tests/test_model_dir.py keeps them equal)."""
    path = Path(path)
    if not path.is_dir():
        raise PipelineError(f"{path}: model directory not found")
    config = path / "config.json"
    if not config.is_file():
        raise PipelineError(f"{path}: not a model directory (config.json missing)")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PipelineError(f"{config}: not valid JSON: {err}") from None


def split_name(name):
    """(backend, precision) of a model name (onnx_int8 -> onnxruntime, int8)."""
    for backend, prefix in PREFIX.items():
        if prefix and name.startswith(prefix):
            return backend, name.removeprefix(prefix)
    return "torch", name


def independent_of_batch(backend, precision):
    """False for dynamic int8 (activation scales computed per batch, so a title's answer moves
    with its batch-mates); true for FP32, BF16 and static int8 (OpenVINO/NNCF)."""
    return precision != "int8" or backend == "openvino"


@dataclass(frozen=True)
class ModelDir:
    path: Path
    backend: str  # torch | onnxruntime | openvino
    precision: str  # fp32 | int8 | bf16

    @classmethod
    def open(cls, path):
        """Read what `path` holds; a PipelineError names the directory if it is not a model."""
        path = Path(path)
        check_model_dir(path)
        if (path / OPENVINO_MODEL).is_file():
            return cls(path, "openvino", "int8" if (path / OPENVINO_RECIPE).is_file() else "fp32")
        if (path / ONNX_MODEL).is_file():
            return cls(path, "onnxruntime", "int8" if (path / ONNX_RECIPE).is_file() else "fp32")
        if (path / TORCH_INT8_RECIPE).is_file():
            return cls(path, "torch", "int8")
        return cls(path, "torch", "fp32")

    @property
    def name(self):
        return PREFIX[self.backend] + self.precision

    @property
    def answers_independent_of_batch(self):
        return independent_of_batch(self.backend, self.precision)

    @property
    def files(self):
        """The files that hold the model's graph and weights (what its size on disk counts)."""
        if self.backend == "openvino":
            return [self.path / OPENVINO_MODEL, self.path / "model.bin"]
        if self.backend == "onnxruntime":
            return [self.path / ONNX_MODEL]
        if self.precision == "int8":
            return [self.path / TORCH_INT8_WEIGHTS]
        return [self.path / "model.safetensors"]

    def as_bf16(self):
        if self.precision != "fp32" or self.backend not in BF16_BACKENDS:
            raise ValueError(f"{self.path}: no BF16 variant of a {self.backend} {self.precision} model")
        return replace(self, precision="bf16")

    def load(self, threads=None):
        """The model, answering `model(**batch).logits`. `threads` sets the runtime's intra-op
        threads for this model's calls only: its session's (ONNX Runtime, OpenVINO), or, for
        PyTorch, whose setting is process-wide, set for each call and restored after it.
        ONNX Runtime and OpenVINO models also answer `model.logits(numpy batch)` (numpy logits)."""
        if self.backend == "openvino":
            from .openvino_backend import OvModel

            return OvModel(self.path, threads, bf16=self.precision == "bf16")
        if self.backend == "onnxruntime":
            from .onnx_backend import OrtModel

            return OrtModel(self.path, threads)
        try:
            import torch
        except ImportError:
            raise PipelineError(
                f"{self.path}: a PyTorch model needs torch and transformers (pip install 'bert-int8[pipeline]'); "
                "ONNX Runtime and OpenVINO model directories run without them"
            ) from None
        if self.precision == "int8":
            from .quantization import load_quantized

            model = load_quantized(self.path)
        else:
            from .modeling import load_fp32

            model = load_fp32(self.path)
            model = model.to(torch.bfloat16) if self.precision == "bf16" else model
        return with_torch_threads(model, threads) if threads else model


def with_torch_threads(model, threads):
    """`model` (a torch module) running each call with `threads` PyTorch intra-op threads, the
    process's setting restored after the call, even one that raises. Costs about a microsecond
    a call (torch.set_num_threads twice), nothing beside a forward pass. Calls of such models
    from several Python threads at once would race on the one process-wide setting."""
    import torch

    saved = []

    def enter(module, args):
        saved.append(torch.get_num_threads())
        torch.set_num_threads(threads)

    def leave(module, args, output):
        torch.set_num_threads(saved.pop())

    model.register_forward_pre_hook(enter)
    model.register_forward_hook(leave, always_call=True)
    return model


def with_bf16(model_dirs):
    """name -> ModelDir for `model_dirs`, each FP32 model of a BF16-capable backend followed by
    its BF16 variant."""
    out = {}
    for model in model_dirs:
        out[model.name] = model
        if model.precision == "fp32" and model.backend in BF16_BACKENDS:
            out[model.as_bf16().name] = model.as_bf16()
    return out


def built_models(bf16=None):
    """Every model the pipeline has built, by name, PyTorch FP32 first (the reference of every
    comparison); with `bf16` (default: where the CPU has native BF16) the BF16 variants too."""
    if bf16 is None:
        bf16 = native_bf16()
    dirs = [paths.FP32_DIR, paths.INT8_DIR]
    for root in (paths.ONNX_DIR, paths.OPENVINO_DIR):
        dirs += [root / "fp32", root / "int8"]
    found = []
    for d in dirs:
        if not (d / "config.json").is_file():
            if d in (paths.FP32_DIR, paths.INT8_DIR):
                raise PipelineError(f"{d}: not a model directory (config.json missing); run the earlier stages")
            continue  # a backend that quantize.backends did not build
        found.append(ModelDir.open(d))
    return with_bf16(found) if bf16 else {m.name: m for m in found}
