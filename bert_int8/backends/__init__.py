"""The runtimes, one module each behind backends/base.py's `Backend`; this is their registry.

Adding a runtime is its module (a `BACKEND` object) and one line in MODULES. A module named in
the BERT_INT8_BACKENDS environment variable (comma-separated import paths) joins them: how a
plugin, or the tests' stub runtime, is added without editing this package; stage subprocesses
inherit it.
"""

import importlib
import os

from ..errors import PipelineError
from .base import PRECISIONS, Backend, Fp32Source  # noqa: F401 (the seam's names, for callers)

# In the order of tables and of quantize.backends' default; PyTorch first, the reference.
MODULES = (
    "bert_int8.backends.pytorch",
    "bert_int8.backends.onnxruntime",
    "bert_int8.backends.openvino",
)
PLUGINS_ENV = "BERT_INT8_BACKENDS"


def _load():
    plugins = [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    found = {}
    for module in (*MODULES, *plugins):
        backend = importlib.import_module(module).BACKEND
        found[backend.name] = backend
    return found


BACKENDS = _load()
REFERENCE = "torch"  # always built: the reference int8 model, and the FP32 model's runtime


def get(name):
    return BACKENDS[name]


def chosen(wanted, key="quantize.backends"):
    """The backends named in `wanted` (None: all), in the registry's order; a PipelineError
    naming `key` for an unknown name or a list without the reference."""
    if wanted is None:
        return list(BACKENDS.values())
    unknown = [n for n in wanted if n not in BACKENDS]
    if unknown:
        raise PipelineError(f"{key}: unknown backend {unknown[0]!r} (known: {', '.join(BACKENDS)})")
    if REFERENCE not in wanted:
        raise PipelineError(f"{key} must include {REFERENCE!r} (the reference int8 model)")
    return [b for b in BACKENDS.values() if b.name in wanted]


def names():
    return list(BACKENDS)


def split_name(model_name):
    """(backend, precision) of a model name: onnx_int8 -> (onnxruntime, int8)."""
    for backend in sorted(BACKENDS.values(), key=lambda b: -len(b.prefix)):
        precision = model_name.removeprefix(backend.prefix)
        if model_name.startswith(backend.prefix) and precision in (*PRECISIONS, "bf16"):
            return backend.name, precision
    raise ValueError(f"{model_name}: not a model name of any backend ({', '.join(BACKENDS)})")


def model_name(backend, precision):
    return BACKENDS[backend].prefix + precision


def independent_of_batch(backend, precision):
    """False for dynamic int8 (activation scales computed per batch, so a title's answer moves
    with its batch-mates); true for FP32, BF16 and static int8."""
    return precision != "int8" or not BACKENDS[backend].int8_depends_on_batch


def libraries():
    """Every runtime's distributions, for the machine record."""
    return [lib for b in BACKENDS.values() for lib in b.libraries]
