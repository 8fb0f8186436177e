"""Classification metrics for one model and the comparison of two."""

from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from bert_int8.core.reports import Evaluation
from bert_int8.model import roles
from bert_int8.stats.significance import accuracy_interval, compare, r4


def accuracy(labels, preds):
    """The share of titles predicted right (unrounded: training logs it every step)."""
    return float(accuracy_score(labels, preds))


def classification_metrics(labels, preds, classes):
    """Accuracy and macro precision / recall / F1, plus per-class P/R/F1.

    Macro, not micro: micro precision over single-label predictions equals accuracy,
    which is what the reference printed as "precision".
    """
    ids = list(range(len(classes)))
    p, r, f, support = precision_recall_fscore_support(labels, preds, labels=ids, zero_division=0)
    mp, mr, mf, _ = precision_recall_fscore_support(labels, preds, labels=ids, average="macro", zero_division=0)
    return {
        "accuracy": r4(accuracy(labels, preds)),
        "macro_precision": r4(mp),
        "macro_recall": r4(mr),
        "macro_f1": r4(mf),
        "per_class": {
            classes[i]: {"precision": r4(p[i]), "recall": r4(r[i]), "f1": r4(f[i]), "support": int(support[i])}
            for i in ids
        },
    }


def drops_against(reference, candidate, ref_preds, cand_preds):
    """What the candidate (int8) lost against the reference (FP32) on the same inputs."""
    return {
        "prediction_agreement": r4(np.mean(np.asarray(ref_preds) == np.asarray(cand_preds))),
        "accuracy_drop": r4(reference["accuracy"] - candidate["accuracy"]),
        "macro_f1_drop": r4(reference["macro_f1"] - candidate["macro_f1"]),
    }


def confusion_rows(labels, preds, classes):
    """CSV rows for DVC's confusion template: one (actual, predicted) pair per example."""
    lines = ["actual,predicted"] + [f"{classes[a]},{classes[b]}" for a, b in zip(labels, preds)]
    return "\n".join(lines) + "\n"


def evaluate_models(model_dirs, tokenizer, split, classes, params, confusion_dir, classical=None):
    """The Evaluation (core.reports) of every model (`model_dirs`: name -> ModelDir, the
    teacher's FP32 first) on `split`: each model's metrics with the Wilson interval of its
    accuracy, and one confusion CSV per model in confusion_dir. Each other model is compared
    with the teacher's FP32 (`<name>_vs_fp32`: point drops, then their uncertainty:
    stats.significance.compare), and each student model also with the student's FP32
    (`<name>_vs_student_fp32`). `classical`: the classical floor's model, measured and compared
    with the teacher's FP32 as `classical` (no confusion file: not a served model).
    `max_f1_loss` (evaluate.max_f1_loss) is recorded for `auto`."""
    # torch (modeling) loads only here: the classical stage uses `accuracy` without it
    from bert_int8.model.modeling import predict_logits

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
