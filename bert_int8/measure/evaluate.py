"""The evaluate stage's work: every built model, the student's and the classical floor on the
test split (their metrics: bert_int8.model.metrics), compared with their references, with the
confusion matrices for the plots."""

import sys
from pathlib import Path

from bert_int8 import backends
from bert_int8.backends.model_dir import built_models, weight_range_warnings
from bert_int8.core import atomic, paths
from bert_int8.core.machine import environment
from bert_int8.core.reports import Evaluation
from bert_int8.data.splits import load_prepared
from bert_int8.data.tokenizer import load_tokenizer
from bert_int8.model import roles
from bert_int8.model.metrics import classification_metrics, confusion_rows, drops_against
from bert_int8.model.modeling import predict_logits
from bert_int8.stats.significance import accuracy_interval, compare
from bert_int8.train.classical import ClassicalModel


def run(params):
    """Write metrics/evaluate.json and plots/confusion/ (evaluate.*), and print a line a model."""
    classes, test = load_prepared("test")
    models = built_models()
    for warning in weight_range_warnings(models):  # pulled from a VNNI machine: evaluated as they are, said so
        print(warning, file=sys.stderr)
    tokenizer = load_tokenizer(paths.FP32_DIR)
    with atomic.output_dir(paths.PLOTS / "confusion") as confusion:
        classical = ClassicalModel.load(paths.CLASSICAL_DIR)
        report = evaluate_models(models, tokenizer, test, classes, params, confusion, classical)
        report.environment = environment(backends.libraries())
        atomic.write_json(paths.METRICS / "evaluate.json", report.to_json())
    for line in summary_lines(report, [*models, roles.CLASSICAL]):
        print(line)


def evaluate_models(model_dirs, tokenizer, split, classes, params, confusion_dir, classical=None):
    """The Evaluation (core.reports) of every model (`model_dirs`: name -> ModelDir, the
    teacher's FP32 first) on `split`: each model's metrics with the Wilson interval of its
    accuracy, and one confusion CSV per model in confusion_dir. Each other model is compared
    with the teacher's FP32 (`<name>_vs_fp32`: point drops, then their uncertainty:
    stats.significance.compare), and each student model also with the student's FP32
    (`<name>_vs_student_fp32`). `classical`: the classical floor's model, measured and compared
    with the teacher's FP32 as `classical` (no confusion file: not a served model).
    `max_f1_loss` (evaluate.max_f1_loss) is recorded for `auto`."""
    preds, models, comparisons = {}, {}, {}
    for name, model_dir in model_dirs.items():
        model = model_dir.load(params.threads)
        # padded as it is served: up to the directory's length buckets where it records them
        logits = predict_logits(
            model, tokenizer, split.texts, params.batch_size, desc=f"evaluate {name}", lengths=model_dir.length_buckets
        )
        preds[name] = logits.argmax(axis=1)
        (Path(confusion_dir) / f"{name}.csv").write_text(
            confusion_rows(split.labels, preds[name], classes), encoding="utf-8"
        )
    if classical is not None:
        preds[roles.CLASSICAL] = classical.predict(split.texts)
    for name, p in preds.items():
        models[name] = classification_metrics(split.labels, p, classes)
        models[name].update(accuracy_interval(split.labels, p))
    for name in preds:
        role = roles.split(name)[0]
        references = [roles.fp32_name(roles.TEACHER)] + ([roles.fp32_name(role)] if role is not None else [])
        for ref in references:
            if name != ref and ref in preds:
                comparisons[Evaluation.key(name, ref)] = {
                    **drops_against(models[ref], models[name], preds[ref], preds[name]),
                    **compare(split.labels, preds[ref], preds[name], len(classes)),
                }
    return Evaluation(models, comparisons, len(split.labels), params.max_f1_loss)


def summary_lines(report, names):
    """One line per model of an Evaluation: accuracy with its interval, macro-F1, and
    against FP32 the agreement and the macro-F1 drop with its interval and verdict."""
    for name in names:
        r = report.models[name]
        vs = report.versus(name, roles.fp32_name(roles.TEACHER))
        extra = (
            f", agreement with fp32 {vs['prediction_agreement']:.4f}, macro-F1 drop {vs['macro_f1_drop']:+.4f} "
            f"[{vs['macro_f1_drop_lo']:+.4f}, {vs['macro_f1_drop_hi']:+.4f}] at 95%, {vs['verdict']}"
            if vs
            else ""
        )
        yield (
            f"{name}: accuracy {r['accuracy']:.4f} [{r['accuracy_lo']:.4f}, {r['accuracy_hi']:.4f}], "
            f"macro-F1 {r['macro_f1']:.4f}{extra}"
        )
