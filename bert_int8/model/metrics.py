"""Classification metrics for one model and the comparison of two."""

import numpy as np
from sklearn.metrics import accuracy_score, precision_recall_fscore_support

from bert_int8.stats.significance import r4


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
