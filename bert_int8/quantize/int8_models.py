"""Build every backend's models that quantize.backends asks for, each int8 model within the
accuracy budget, in the backends' layout under one root (bert_int8/backends).

One list of Linear layers kept FP32 (quantize.keep_fp32 patterns, plus what each backend's
budget search adds) reaches every backend, so each int8 model honours the budget, not only
PyTorch's.
"""

import fnmatch
import random
import shutil

from bert_int8 import backends
from bert_int8.core import atomic, paths
from bert_int8.core.errors import PipelineError
from bert_int8.core.progress import progress
from bert_int8.data import buckets
from bert_int8.data.splits import load_prepared
from bert_int8.data.tokenizer import load_tokenizer
from bert_int8.model import roles
from bert_int8.model.modeling import linear_names, load_fp32
from bert_int8.quantize.accuracy_budget import dev_uncertainty, fit_budget, macro_f1_of, predictions


def _fresh(path):
    """An empty directory at `path` (each budget trial overwrites the last)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def ignored_params_warnings(params, chosen):
    """One line for each quantize.* key set to what one of the `chosen` backends does not honour
    (Backend.ignores), naming the key and the backend."""
    out = []
    for backend in chosen:
        for key, neutral in backend.ignores.items():
            value = getattr(params, key)
            if value != neutral:
                out.append(
                    f"warning: quantize.{key}: {backend.label} does not honour {value!r}; its int8 build "
                    "chooses for itself (its recipe in the model directory says how)"
                )
    return out


def build_int8_models(
    params, model, tokenizer, dev, classes, calibration_texts, root, threads=2, timing_only=False, train=None
):
    """Write each backend's FP32 form (where it has its own) and int8 model under `root`, in the
    order of the registry (each int8 method of a backend in its order); returns the report for
    metrics/quantize.json: per int8 build (backends.build_key), the budget search and the
    recipe. Progress: one step per int8 model, and the budget's trials.
    `timing_only`: models that are only timed (backends.Fp32Source). `train` (a data.splits.Split):
    the titles of quantization-aware training, tried (quantize.qat_steps) where a backend
    supports it, its int8 model misses the budget, and quantize.keep_fp32 keeps no layer."""
    source = backends.Fp32Source(
        model, tokenizer, params, list(calibration_texts), timing_only=timing_only, train=train
    )
    builds = Int8Builds(params, source, model, dev, classes, root, threads, train)
    chosen = backends.chosen(params.backends)
    try:
        with progress(sum(len(b.int8_methods) for b in chosen), "quantize", "int8 models") as bar:
            for backend in chosen:
                fp32_dir = backend.model_path("fp32", root)
                if backend.builds_fp32:
                    backend.build_fp32(source, builds.model_dir(backend, fp32_dir))
                for method in backend.int8_methods:
                    builds.int8_model(backend, method, fp32_dir)
                    bar.update()
    finally:
        source.close()
    return builds.report


class Int8Builds:
    """The int8 builds of one FP32 model, each within the accuracy budget, and their report."""

    def __init__(self, params, source, model, dev, classes, root, threads, train):
        self.params, self.source, self.dev, self.classes = params, source, dev, classes
        self.root, self.threads, self.train = root, threads, train
        self.tokenizer = source.tokenizer
        self.by_params = [n for n in linear_names(model) if any(fnmatch.fnmatchcase(n, p) for p in params.keep_fp32)]
        self.layers = [n for n in linear_names(model) if n not in self.by_params]
        self.budget = budget = params.max_f1_drop
        self.fp32_preds = predictions(model, self.tokenizer, dev) if budget is not None else None
        self.base_f1 = macro_f1_of(self.fp32_preds, dev, classes) if budget is not None else None
        self.report = {"budget": {"dev_fp32_macro_f1": self.base_f1, "max_f1_drop": budget}, "recipes": {}}
        self.lengths = buckets.lengths_for(params.length_buckets, self.tokenizer.model_max_length)

    def model_dir(self, backend, path):
        """`path` with the config and tokenizer, and the length buckets where the backend wants them."""
        path = self.source.save_config(path)
        if backend.length_buckets and self.lengths:
            buckets.write(path, self.lengths)
        return path

    def int8_model(self, backend, method, fp32_dir):
        """Build `backend`'s int8 model of `method` within the accuracy budget; its recipe and budget
        search go into the report under backends.build_key."""
        params, tokenizer, dev, classes, threads = self.params, self.tokenizer, self.dev, self.classes, self.threads
        key = backends.build_key(backend.name, method)
        int8_dir = backend.model_path("int8", self.root, method)
        # The last model scored and its dev predictions: fit_budget builds and scores the model it
        # returns last (its files and recipe are the ones left), so its statistics against FP32
        # need no second pass over dev.
        scored = {}

        def build(keep):
            d = self.model_dir(backend, _fresh(int8_dir))
            # a runtime with one int8 method need not take `method` (plugins written before there were two)
            extra = (method,) if len(backend.int8_methods) > 1 else ()
            self.report["recipes"][key] = backend.build_int8(self.source, fp32_dir, d, self.by_params + keep, *extra)
            return d

        def score(m):
            scored.update(model=m, preds=predictions(m, tokenizer, dev))
            return macro_f1_of(scored["preds"], dev, classes)

        def train_quantized():
            d = self.model_dir(backend, _fresh(int8_dir))
            self.report["recipes"][key] = backend.build_int8_qat(self.source, d, params.qat_steps, threads=threads)
            return backend.load(d, "int8", threads)

        # QAT builds every layer int8: not tried where the params keep some FP32
        qat = backend.supports_qat and params.qat_steps and self.train is not None and not self.by_params
        if self.budget is None:  # nothing to score: built, not loaded (the reference shape's bert-base)
            build([])
            self.report["budget"][key] = {}
            return
        keep, qmodel, b = fit_budget(
            lambda keep: backend.load(build(keep), "int8", threads),
            score,
            self.layers,
            self.base_f1,
            self.budget,
            desc=f"quantize {key}",
            train_quantized=train_quantized if qat else None,
        )
        preds = scored["preds"] if scored.get("model") is qmodel else predictions(qmodel, tokenizer, dev)
        b.update(dev_uncertainty(dev, self.fp32_preds, preds, classes))
        self.report["budget"][key] = self._qat_note(backend, qat, b)
        if not params.allow_over_budget:
            _check_budget(key, b, self.budget, len(self.by_params) + len(keep), len(keep) == len(self.layers))

    def _qat_note(self, backend, qat, b):
        """The budget search `b`, saying why QAT was not tried where it could have saved the budget."""
        if backend.supports_qat and not qat and b["recipe_dev_f1_drop"] > self.budget:
            why = "quantize.keep_fp32 keeps layers" if self.by_params else "quantize.qat_steps is 0"
            b["qat"] = "skipped: " + (why if self.by_params or not self.params.qat_steps else "no train split")
        return b


def _check_budget(backend, report, budget, kept, all_kept):
    if report["dev_f1_drop"] > budget:
        raise PipelineError(
            f"quantize.max_f1_drop: no recipe meets the budget of {budget}: {backend} int8 loses "
            f"{report['dev_f1_drop']} dev macro-F1 with {kept} Linear layers kept in FP32 "
            "(raise the budget, or set quantize.allow_over_budget: true)"
        )
    if all_kept:
        raise PipelineError(
            f"quantize.max_f1_drop: no recipe meets the budget of {budget} with any Linear layer in int8: "
            f"{backend} keeps all {kept} in FP32 "
            "(raise the budget, or set quantize.allow_over_budget: true)"
        )


def run(params, say=print, role=None):
    """The quantize stage: every chosen backend's models from the FP32 model into the layout,
    swapped in together, and the metrics file: the teacher's (models_save/fp32 into
    models_save/, metrics/quantize.json), or with role "student" the student's
    (models_save/student/fp32 into models_save/student/, metrics/quantize_student.json), each
    int8 model's budget against its own FP32 model."""
    chosen = [b.name for b in backends.chosen(params.backends)]  # a bad name stops it before any loading
    for line in ignored_params_warnings(params, backends.chosen(params.backends)):
        say(line)
    root = roles.root(role)
    fp32_dir = backends.get(backends.REFERENCE).model_path("fp32", root)
    model = load_fp32(fp32_dir)
    tokenizer = load_tokenizer(fp32_dir)
    classes, dev = load_prepared("dev")
    calibration, train = [], None
    if any(backends.get(b).needs_calibration or backends.get(b).supports_qat for b in chosen):
        train = load_prepared("train")[1]
        calibration = random.Random(0).sample(train.texts, min(params.calibration_samples, len(train.texts)))
    outputs = [d for b in backends.BACKENDS.values() for d in b.quantize_outputs()]
    with atomic.output_tree(root, outputs) as tmp_root:
        report = build_int8_models(params, model, tokenizer, dev, classes, calibration, tmp_root, train=train)
        for d in outputs:  # each output exists for DVC even when its backend is off
            atomic.write_json(tmp_root / d / "backends.json", sorted(chosen))
        atomic.write_json(paths.METRICS / roles.file_name("quantize", role), report)
    torch_recipe = report["recipes"][backends.REFERENCE]
    say(
        f"PyTorch: {torch_recipe['int8_linear_layers']} Linear layers int8, {len(torch_recipe['fp32_linear_layers'])} FP32"
    )
    for backend, b in report["budget"].items():
        if isinstance(b, dict) and "dev_f1_drop" in b:  # no entries when quantize.max_f1_drop is null
            say(
                f"{backend}: {b['method']} int8, dev macro-F1 drop {b['dev_f1_drop']} "
                f"[{b['dev_f1_drop_lo']}, {b['dev_f1_drop_hi']}] at 95%, {b['dev_verdict']} (budget {params.max_f1_drop}), "
                f"kept FP32 for the budget: {b['kept_fp32_for_budget'] or 'none'}"
            )
