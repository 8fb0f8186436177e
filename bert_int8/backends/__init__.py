"""The runtimes, one module each behind backends/base.py's `Backend`; this is their registry.

Adding a runtime (the one place that says what it takes):
1. its module here, with a `BACKEND` object (backends/base.py says what each attribute and
   method means; `int8_methods` lists its int8 builds);
2. one line in MODULES, or, for a plugin, its import path in the BERT_INT8_BACKENDS
   environment variable (comma-separated; stage subprocesses inherit it);
3. a row per int8 build in tests/test_backends.py's ROWS (a test fails until there is one);
4. for the pipeline: its output folder in dvc.yaml's quantize (and quantize_student) `outs`
   and in the evaluate, benchmark and load_test deps (tests/test_dvc_deps.py checks the
   quantize outs and the teacher's folders among those deps against the registry), and its
   packages, pinned, in requirements.txt.
The registry loads on first use, so a bad plugin is the one-line error of the stage or command
that meets it.
"""

import functools
import importlib
import os

from bert_int8.core.errors import PipelineError, first_line

from .base import BATCH_DEPENDENT_METHODS, Backend, Fp32Source  # noqa: F401 (the seam's names, for callers)

# In the order of tables and of quantize.backends' default; PyTorch first, the reference.
MODULES = (
    "bert_int8.backends.pytorch",
    "bert_int8.backends.onnxruntime",
    "bert_int8.backends.openvino",
)
PLUGINS_ENV = "BERT_INT8_BACKENDS"
REFERENCE = "torch"  # always built: the reference int8 model, and the FP32 model's runtime


@functools.cache
def _registry():
    plugins = [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]
    found = {}
    for module in (*MODULES, *plugins):
        try:
            backend = importlib.import_module(module).BACKEND
        except (ImportError, AttributeError) as err:
            raise PipelineError(f"{PLUGINS_ENV}: cannot load backend module {module!r}: {first_line(err)}") from None
        if hasattr(backend, "int8_depends_on_batch"):  # the attribute before int8_methods replaced it
            raise PipelineError(
                f"{PLUGINS_ENV}: backend module {module!r} declares int8_depends_on_batch; declare int8_methods "
                "instead (('dynamic',) or ('static',): bert_int8/backends/base.py)"
            )
        for attr in ("name", "prefix", "subdir"):
            taken = [b.name for b in found.values() if getattr(b, attr) == getattr(backend, attr)]
            if taken:
                raise PipelineError(
                    f"{PLUGINS_ENV}: backend module {module!r} has the {attr} {getattr(backend, attr)!r} "
                    f"of backend {taken[0]!r}"
                )
        found[backend.name] = backend
    return found


def __getattr__(name):
    if name == "BACKENDS":  # name -> Backend, loaded on first use
        return _registry()
    raise AttributeError(name)


def get(name):
    return _registry()[name]


def names():
    return list(_registry())


def chosen(wanted, key="quantize.backends"):
    """The backends named in `wanted` (None: all), in the registry's order; a PipelineError
    naming `key` for an unknown name or a list without the reference."""
    registry = _registry()
    if wanted is None:
        return list(registry.values())
    unknown = [n for n in wanted if n not in registry]
    if unknown:
        raise PipelineError(f"{key}: unknown backend {unknown[0]!r} (known: {', '.join(registry)})")
    if REFERENCE not in wanted:
        raise PipelineError(f"{key} must include {REFERENCE!r} (the reference int8 model)")
    return [b for b in registry.values() if b.name in wanted]


def split_name(model_name):
    """(backend, precision, int8 method or None) of a model name: onnx_int8 -> (onnxruntime,
    int8, dynamic), onnx_int8_static -> (onnxruntime, int8, static), fp32 -> (torch, fp32, None)."""
    for backend in sorted(_registry().values(), key=lambda b: -len(b.prefix)):
        if not model_name.startswith(backend.prefix):
            continue
        for precision, method in [*backend.layout(), ("bf16", None)]:
            if model_name == backend.prefix + backend.folder(precision, method):
                return backend.name, precision, method
    raise PipelineError(f"{model_name}: not a model name of any backend ({', '.join(_registry())})")


def model_name(backend, precision, method=None):
    """A runtime's model name: its prefix and the model's folder (Backend.folder)."""
    b = _registry()[backend]
    return b.prefix + b.folder(precision, method)


def build_key(backend, method):
    """The key of one int8 build in metrics/quantize.json's budget and recipes: the backend's
    name for its first int8 method (torch, onnxruntime, openvino), <name>_<method> for another
    (onnxruntime_static)."""
    return backend if _registry()[backend].first_method(method) else f"{backend}_{method}"


def independent_of_batch(backend, precision, method=None):
    """False for dynamic int8 (activation scales computed per batch, so a title's answer moves
    with its batch-mates); true for FP32, BF16 and static int8. `method` None: the backend's
    first int8 method."""
    return precision != "int8" or (method or _registry()[backend].int8_methods[0]) not in BATCH_DEPENDENT_METHODS


def libraries():
    """Every runtime's distributions, for the machine record."""
    return [lib for b in _registry().values() for lib in b.libraries]
