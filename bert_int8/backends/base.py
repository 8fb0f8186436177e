"""What the pipeline asks of a runtime: one `Backend` per runtime, in backends/<name>.py, listed
once in backends/__init__.py. Quantize, evaluate, the benchmark, `predict`, the service,
`bert-int8 params` and the machine record ask the registry; none of them names a runtime.

A runtime's models live at models_save/<subdir>/<folder>/ (`model_path`): fp32/, and one folder
per int8 method it builds (`int8_methods`): int8/ for its first, int8_<method>/ for any other
(ONNX Runtime's int8_static/). A model's name is the runtime's prefix and the same folder name:
onnx_int8, onnx_int8_static (`model_path` and `model_name` are the one place that says so).
PyTorch's subdir is empty: its FP32 model, models_save/fp32/, is what training writes and what
every other runtime's models are built from, and its int8 model sits beside it.

Recognising a directory, and loading a model of a backend with numpy_io, import neither torch
nor transformers (the lean service runs without them); building a model imports them.
"""

import functools
import platform
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from bert_int8.core.machine import cpu_flags
from bert_int8.core.metrics_files import read_metrics

# The int8 methods: "dynamic" scales activations per batch (a title's answer moves with its
# batch-mates), "static" fixes them at calibration (OpenVINO's quantization-aware training, tried
# when its post-training model misses the budget, gives a static model too).
BATCH_DEPENDENT_METHODS = ("dynamic",)
# The instructions that add int8 products in 32 bits at once (/proc/cpuinfo names).
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def int8_weights_need_headroom():
    """True on an x86 CPU without VNNI. There, an int8 MatMul's u8 x s8 products are added in
    pairs into 16 bits first (vpmaddubsw), which saturates when weights use all 256 levels: the
    static and dynamic int8 builds then keep weights to 7 bits (NNCF's overflow fix on every
    layer, ONNX Runtime's reduce_range), as PyTorch's fbgemm reduces its activations' range.
    Measured on an AVX2-only CPU (tests/test_architectures.py's tiny random models): OpenVINO
    int8 logits off by 11 to 40% of their scale with NNCF's default (first layer only), 1.5 to 2%
    with the fix; ONNX Runtime's RoBERTa 14% against 3.5%."""
    x86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
    return x86 and not set(VNNI_FLAGS) & cpu_flags()


class Backend:
    name: str  # quantize.backends' name
    label: str  # for people: tables, help, messages
    prefix: str  # model names are prefix + folder: onnx_int8, onnx_int8_static (folder)
    subdir: str  # models_save/<subdir>/<folder>/
    int8_method: str  # how its first int8 method's model is made, for tables (int8_label)
    description: str  # one line for `bert-int8 params`
    libraries: tuple = ()  # distributions recorded with every figure (machine.versions)
    bf16: bool = False  # its FP32 model also runs in BF16 (cast or precision hint)
    # The int8 models it builds, by method: the first is its int8 model (folder int8/, name
    # <prefix>int8), each other one sits beside it as int8_<method> (model_path).
    int8_methods: tuple = ("dynamic",)
    numpy_io: bool = False  # answers `model.logits(numpy batch)` without torch (the lean path)
    needs_calibration: bool = False  # its int8 build reads calibration titles
    builds_fp32: bool = True  # quantize writes its FP32 model (PyTorch's is training's)
    # Its int8 build can also be trained with its quantizers in place (build_int8_qat): tried
    # when the post-training int8 model misses the accuracy budget.
    supports_qat: bool = False
    # It pays for each new input shape at its first call: its batches are padded up to a few
    # lengths (bert_int8.data.buckets), which quantize records in its model directories.
    length_buckets: bool = False
    # One process can run several calls at once, from as many threads, each on a share of the
    # threads (OpenVINO's throughput streams): `load(..., streams=N)`, `serve --streams N`.
    streams: bool = False
    # quantize.* keys its int8 build does not honour, each with the value that asks nothing of
    # it: any other value gets one warning line naming the key (int8_models.ignored_params_warnings).
    ignores: dict = {}

    recipe_file: str  # beside each of its int8 models: how it was built (metrics/quantize.json's recipes)

    def recipe(self, path):
        """The recipe of one of its int8 directories."""
        return read_metrics(Path(path) / self.recipe_file)

    def int8_weights_7bit(self, path):
        """For an int8 directory: whether its recipe kept the weights to 7 bits (True) or let them
        use all 8 (False); None where the runtime records no such choice (PyTorch's fbgemm narrows
        its activations instead, on every CPU)."""
        return None

    def first_method(self, method):
        """Whether `method` (None: unsaid) is its first int8 method, the one named plain int8."""
        return method in (None, self.int8_methods[0])

    def folder(self, precision, method=None):
        """A model's folder in the runtime's directory, and its name after the prefix: fp32, bf16,
        int8 (the first int8 method), int8_static."""
        if precision != "int8" or self.first_method(method):
            return precision
        if method not in self.int8_methods:
            raise ValueError(f"{self.name} builds no {method} int8 model (it builds: {', '.join(self.int8_methods)})")
        return f"{precision}_{method}"

    def model_path(self, precision, root, method=None):
        return Path(root) / self.subdir / self.folder(precision, method)

    def layout(self):
        """(precision, method) of every model it can lay out: FP32, then each int8 method."""
        return [("fp32", None)] + [("int8", m) for m in self.int8_methods]

    def int8_label(self, method):
        """How the int8 model of `method` is made, in words for tables."""
        return self.int8_method if self.first_method(method) else method

    def method_of(self, path):
        """The int8 method of one of its int8 directories (the runtimes with one method need not
        read anything)."""
        return self.int8_methods[0]

    def quantize_outputs(self):
        """The directories under the models root that quantize writes for this runtime."""
        return [self.subdir] if self.builds_fp32 else ["int8"]

    def precision_of(self, path):
        """ "fp32" or "int8" if `path` holds one of this runtime's models, else None."""
        raise NotImplementedError

    def files(self, path, precision):
        """The files that hold the model's graph and weights (what its size on disk counts)."""
        raise NotImplementedError

    def load(self, path, precision, threads=None):
        """The model, answering `model(**batch).logits` (and `model.logits(numpy batch)` where
        numpy_io). `threads`: intra-op threads for this model's calls; precision may be bf16.
        A runtime with `streams` also takes `streams=N`."""
        raise NotImplementedError

    def build_fp32(self, source, out_dir):
        """Write the FP32 model of `source` (an Fp32Source) into out_dir, in this runtime's form."""
        raise NotImplementedError

    def build_int8(self, source, fp32_dir, out_dir, keep_fp32, method=None):
        """Write the int8 model into out_dir (which holds config and tokenizer), the Linear layers
        named in `keep_fp32` left FP32; return its recipe for metrics/quantize.json. `method`
        (one of int8_methods) is passed only to a runtime with more than one."""
        raise NotImplementedError

    def build_int8_qat(self, source, out_dir, steps, calibration_texts=None, threads=2, desc=None):
        """Write into out_dir the int8 model that quantization-aware training makes of `source`'s
        FP32 model in `steps` steps (quantize.qat_*; 0: the post-training int8 of the same
        toolchain) on `threads` threads, calibrated on `calibration_texts` (default: the
        source's), progress under `desc`; return its recipe. Only where supports_qat."""
        raise NotImplementedError


@dataclass
class Fp32Source:
    """The FP32 model that every runtime's models are built from, and what building needs."""

    model: object  # a transformers classifier (torch)
    tokenizer: object
    params: object  # QuantizeParams
    calibration_texts: list = field(default_factory=list)
    # Models that are only timed (the reference shape's random weights): a build step that only
    # tunes values to the weights, changing no shape, layer or kernel, may be skipped.
    timing_only: bool = False
    train: object = None  # the train split (data.splits.Split): quantization-aware training's titles

    def save_config(self, path):
        """config.json and the tokenizer, which every model directory carries."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model.config.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        return path

    @functools.cached_property
    def _scratch(self):
        return Path(tempfile.mkdtemp(prefix="bert-int8-export-"))

    @functools.cached_property
    def onnx_path(self):
        """The model exported to ONNX once, for the runtimes that build from the export."""
        from .graph import export_onnx  # torch and onnx: only builds export

        path = self._scratch / "model.onnx"
        export_onnx(self.model, path)
        return path

    def close(self):
        if "_scratch" in self.__dict__:
            shutil.rmtree(self._scratch, ignore_errors=True)


class NumpyModel:
    """A runtime's session answering like a transformers classifier: `logits(batch)` (numpy in
    and out) is the runtime's; `model(**batch).logits` (torch) and `config` (transformers) are
    for callers that treat it as a transformers model, and import those only then."""

    model_dir: Path

    def logits(self, batch):
        raise NotImplementedError

    @functools.cached_property
    def config(self):
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(self.model_dir)

    def eval(self):
        return self

    def __call__(self, **batch):
        import torch

        return SimpleNamespace(logits=torch.from_numpy(self.logits(batch)))
