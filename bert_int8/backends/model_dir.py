"""What a model directory is: its backend, its precision, the files that hold it, and how to
load it; every backend says for its own directories (bert_int8/backends). The stages,
`predict` and the service all ask here.

A BF16 model is an FP32 directory run in BF16 (weights cast to bfloat16, or a runtime's BF16
precision hint), for the backends that offer it: `ModelDir.as_bf16()`. Names are the
backend's prefix and the model's folder (backends.model_name): fp32, int8, bf16 (PyTorch),
onnx_int8, onnx_int8_static, ...

Opening a directory imports neither torch nor transformers (the lean service runs without
them, and `serve auto` chooses a directory before `--workers` forks).
"""

from dataclasses import dataclass, replace
from pathlib import Path

from bert_int8 import backends
from bert_int8.backends.base import int8_weights_need_headroom
from bert_int8.core import paths
from bert_int8.core.config_dir import check_model_dir
from bert_int8.core.errors import PipelineError
from bert_int8.core.machine import native_bf16
from bert_int8.data import buckets
from bert_int8.model import roles


@dataclass(frozen=True)
class ModelDir:
    path: Path
    runtime_name: str  # a name in bert_int8.backends' registry (`runtime` is its Backend)
    precision: str  # fp32 | int8 | bf16
    role: str | None = roles.TEACHER  # whose model (bert_int8.model.roles): only its name shows it
    method: str | None = None  # int8 only: how it was quantized (Backend.int8_methods)

    @classmethod
    def open(cls, path, role=None):
        """Read what `path` holds; a PipelineError names the directory if it is not a model.
        `role`: whose model it is; None: as its place says (roles.of_path)."""
        path = Path(path)
        check_model_dir(path)
        claims = {b.name: b.precision_of(path) for b in backends.BACKENDS.values()}
        claims = {name: precision for name, precision in claims.items() if precision}
        if len(claims) > 1:  # files of two runtimes in one directory: which one is meant?
            raise PipelineError(f"{path}: holds the model files of several backends ({', '.join(claims)})")
        if not claims:
            files = sorted({f.name for b in backends.BACKENDS.values() for f in b.files(path, "fp32")})
            raise PipelineError(f"{path}: not a model directory (no model file: none of {', '.join(files)})")
        ((name, precision),) = claims.items()
        if role is None:
            role = roles.of_path(path, {b.subdir for b in backends.BACKENDS.values()} - {""})
        method = backends.get(name).method_of(path) if precision == "int8" else None
        return cls(path, name, precision, role, method)

    @property
    def runtime(self):
        return backends.get(self.runtime_name)

    @property
    def name(self):
        return roles.model_name(self.role, backends.model_name(self.runtime_name, self.precision, self.method))

    @property
    def fp32_name(self):
        """The name of the FP32 model of its runtime and role: what its own int8 speedup is taken against."""
        return roles.model_name(self.role, backends.model_name(self.runtime_name, "fp32"))

    @property
    def answers_independent_of_batch(self):
        return backends.independent_of_batch(self.runtime_name, self.precision, self.method)

    @property
    def length_buckets(self):
        """The lengths its batches are padded up to (bert_int8.data.buckets), or None."""
        return buckets.read(self.path)

    @property
    def files(self):
        """The files that hold the model's graph and weights (what its size on disk counts)."""
        return self.runtime.files(self.path, self.precision)

    def weight_range_warning(self):
        """One line when this int8 model's weights use all 8 bits and this CPU, without VNNI, adds
        their products where they saturate (base.int8_weights_need_headroom): a model built on
        another machine, whose answers here drift from what evaluate measured. None otherwise."""
        # the CPU first: on a VNNI CPU no recipe needs reading
        if self.precision != "int8" or not int8_weights_need_headroom():
            return None
        if self.runtime.int8_weights_7bit(self.path) is not False:
            return None
        return (
            f"warning: {self.path}: its int8 weights use all 8 bits, as built on a CPU with VNNI; this CPU "
            "has none, so their sums can saturate and its answers drift: rebuild it here with "
            "`dvc repro -f -s quantize`"
        )

    def as_bf16(self):
        if self.precision != "fp32" or not self.runtime.bf16:
            raise ValueError(f"{self.path}: no BF16 variant of a {self.runtime_name} {self.precision} model")
        return replace(self, precision="bf16")

    def load(self, threads=None, streams=1):
        """The model, answering `model(**batch).logits`. `threads` sets the runtime's intra-op
        threads for this model's calls only. Backends with numpy_io also answer
        `model.logits(numpy batch)` (numpy logits). `streams` > 1: up to that many calls at once,
        from different threads, sharing `threads` (runtimes with Backend.streams only)."""
        if streams == 1:  # the plain call: a plugin runtime need not know of streams
            return self.runtime.load(self.path, self.precision, threads)
        self.check_streams(streams, threads or streams)
        return self.runtime.load(self.path, self.precision, threads, streams=streams)

    def check_streams(self, streams, threads):
        """A PipelineError (one line, naming --streams) unless this model can run `streams`
        calls at once on `threads` threads: at least one stream, more only for a runtime with
        Backend.streams, and no more streams than threads (the runtime would run fewer)."""
        if streams < 1:
            raise PipelineError(f"--streams {streams}: must be at least 1")
        if streams > 1 and not self.runtime.streams:
            with_streams = [b.label for b in backends.BACKENDS.values() if b.streams]
            raise PipelineError(
                f"--streams {streams}: {self.path}: its runtime, {self.runtime.label}, runs one call at a time "
                f"(runtimes with streams: {', '.join(with_streams) or 'none'})"
            )
        if streams > threads:
            raise PipelineError(f"--streams {streams}: more than the {threads} threads it would share")


def with_bf16(model_dirs):
    """name -> ModelDir for `model_dirs`, each FP32 model of a BF16-capable backend followed by
    its BF16 variant."""
    out = {}
    for model in model_dirs:
        out[model.name] = model
        if model.precision == "fp32" and model.runtime.bf16:
            out[model.as_bf16().name] = model.as_bf16()
    return out


def models_under(root, bf16, wanted=None, role=roles.TEACHER):
    """Every model directory under `root` in the backends' layout (models_save/<subdir>/<folder>),
    by name, PyTorch FP32 first (the reference of every comparison); `wanted`: only those
    backends; `bf16`: with the BF16 variants; `role`: whose models they are (their names)."""
    found = []
    for backend in backends.BACKENDS.values():
        if wanted is not None and backend.name not in wanted:
            continue
        for precision, method in backend.layout():
            d = backend.model_path(precision, root, method)
            if not (d / "config.json").is_file():
                if backend.name == backends.REFERENCE:
                    raise PipelineError(f"{d}: not a model directory (config.json missing); run the earlier stages")
                continue  # a backend that quantize.backends did not build
            found.append(ModelDir.open(d, role))
    return with_bf16(found) if bf16 else {m.name: m for m in found}


def weight_range_warnings(models):
    """The weight_range_warning of each of `models` (name -> ModelDir) that has one, in order."""
    return [w for w in (m.weight_range_warning() for m in models.values()) if w]


def built_models(bf16=None):
    """Every model the pipeline has built, by name: the teacher's, then the student's where
    distill has made one; with `bf16` (default: where the CPU has native BF16) the BF16 variants
    too."""
    bf16 = native_bf16() if bf16 is None else bf16
    models = models_under(paths.MODELS, bf16)
    if (paths.STUDENT_FP32_DIR / "config.json").is_file():
        models.update(models_under(paths.STUDENT, bf16, role=roles.STUDENT))
    return models
