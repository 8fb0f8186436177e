"""A case made for post-training int8 to lose, and what quantization-aware training wins back.

Where no int8 model of a run loses significantly against its own FP32 model (see
metrics/evaluate.json; docs/results.md says which), the case is made: the student's OpenVINO
int8 calibrated on qat_case.calibration_samples train titles (1 by default), whose activation
ranges then clip other titles. One toolchain (NNCF on the torch model, backends/openvino_qat.quantize_int8_qat)
builds it twice from the same calibration: post-training (no training step) and after
quantize.qat_steps steps of quantization-aware training, the recipe quantize tries when a
post-training int8 model misses its budget. Both are compared with the student's FP32 model on
test by evaluate's paired tests (bert_int8.stats.significance.compare).
"""

import random
import tempfile
import time
from pathlib import Path

from bert_int8 import backends
from bert_int8.core import atomic, paths
from bert_int8.core.errors import PipelineError
from bert_int8.core.machine import environment
from bert_int8.data.splits import load_prepared
from bert_int8.data.tokenizer import load_tokenizer
from bert_int8.model import roles
from bert_int8.model.modeling import load_fp32
from bert_int8.quantize.accuracy_budget import macro_f1_of, predictions
from bert_int8.stats.significance import compare

METRICS_FILE = "qat_case.json"


def recovers(post, qat):
    """The issue's bar, from evaluate-style comparisons (stats.significance.compare) of each build against FP32:
    post-training loses significantly, and quantization-aware training's verdict is "no
    significant change" or its loss bound at most half post-training's."""
    return post["verdict"] == "significant loss" and (
        qat["verdict"] == "no significant change" or qat["loses_at_most"] <= post["loses_at_most"] / 2
    )


def run(params, say=print):
    """Build both int8 models of the student (quantize.*, qat_case.*), score them on test, write
    metrics/qat_case.json."""
    quantize_params, case_params = params.quantize, params.qat_case
    if not quantize_params.qat_steps:
        raise PipelineError("quantize.qat_steps: 0 trains nothing; the qat_case stage needs at least one step")
    # the runtime whose toolchain trains with its quantizers in place
    backend = next((b for b in backends.BACKENDS.values() if b.supports_qat), None)
    if backend is None:
        raise PipelineError("quantize.backends: no registered runtime trains with its quantizers in place (QAT)")
    fp32_dir = backends.get(backends.REFERENCE).model_path("fp32", roles.root(roles.STUDENT))
    model, tokenizer = load_fp32(fp32_dir), load_tokenizer(fp32_dir)
    classes, train = load_prepared("train")
    test = load_prepared("test")[1]
    calibration = random.Random(0).sample(train.texts, min(case_params.calibration_samples, len(train.texts)))
    source = backends.Fp32Source(model, tokenizer, quantize_params, calibration, train=train)
    fp32_preds = predictions(model, tokenizer, test)
    fp32_f1 = macro_f1_of(fp32_preds, test, classes)
    report = {
        "model": roles.fp32_name(roles.STUDENT),
        "backend": backend.name,
        "calibration_items": len(calibration),
        "test_examples": len(test.labels),
        "fp32_test_macro_f1": round(fp32_f1, 4),
    }
    with tempfile.TemporaryDirectory(prefix="bert-int8-qat-case-") as tmp:
        for name, steps in (("post_training", 0), ("qat", quantize_params.qat_steps)):
            out = source.save_config(Path(tmp) / name)
            start = time.perf_counter()
            recipe = backend.build_int8_qat(source, out, steps, desc=f"qat_case: {name}")
            seconds = time.perf_counter() - start
            preds = predictions(backend.load(out, "int8"), tokenizer, test)
            f1 = macro_f1_of(preds, test, classes)
            report[name] = {
                "test_macro_f1": round(f1, 4),
                "macro_f1_drop": round(fp32_f1 - f1, 4),
                **compare(test.labels, fp32_preds, preds, len(classes)),
                "build_seconds": round(seconds, 1),
                "recipe": recipe,
            }
    post, qat = report["post_training"], report["qat"]
    report["qat_recovers"] = recovers(post, qat)
    report["recovered_loss_bound"] = round(post["loses_at_most"] - qat["loses_at_most"], 4)
    report["environment"] = environment(backends.libraries())
    atomic.write_json(paths.METRICS / METRICS_FILE, report)
    titles = f"{len(calibration)} calibration title{'' if len(calibration) == 1 else 's'}"
    for name, r in (("post-training", post), ("quantization-aware training", qat)):
        say(
            f"{name} int8 ({titles}): test macro-F1 {r['test_macro_f1']}, "
            f"loses at most {r['loses_at_most']} against FP32 {report['fp32_test_macro_f1']}, {r['verdict']}"
        )
    return report
