"""How sure a comparison of two classifiers on the same titles is: a paired bootstrap of the
accuracy and macro-F1 drops, McNemar's exact test on the titles only one model gets right, and
Wilson intervals for proportions. numpy only (no scipy), so any stage can use it cheaply.

A point drop of -0.0003 on 10,000 titles is three titles: without an interval a reader cannot
tell a loss from noise. The two models are scored on the same titles, so their errors are
correlated; resampling titles (not each model's predictions separately) keeps that pairing and
gives much narrower, honest intervals of the difference.
"""

import math

import numpy as np

# One home for the bootstrap's size and seed: every report made with them is reproducible.
RESAMPLES = 2000
SEED = 0
Z95 = 1.959964  # the standard normal's 97.5% quantile: two-sided 95%
ALPHA = 0.05
# Resamples drawn per chunk: bounds the (chunk, cells) count matrix (at most 250 x 1,000 for 10 classes).
_CHUNK = 250


def r4(x):
    """Round to 4 decimals, as every metric in metrics/*.json is written."""
    return round(float(x), 4)


def weighted_scores(counts, labels, preds, n_classes):
    """(accuracy, macro_f1), one value per row of `counts` (how often each title, or each cell
    of alike titles, is drawn): the scores of `preds` on that resample, without building it.
    Each per-class count is counts @ indicator, so a chunk of resamples costs one matrix product.
    Integer product: exact, and numpy runs it without BLAS, whose thread pool stalls when other
    processes hold the cores (6x slower measured on a busy 2-core machine).
    F1 = 2TP / (2TP + FP + FN) = 2TP / (predicted + true); a class neither predicted nor present
    scores 0 and still counts in the mean, as sklearn's
    f1_score(labels=range(n_classes), average="macro", zero_division=0) (metrics.py) does."""
    eye = np.eye(n_classes, dtype=np.int64)
    truth, predicted = eye[np.asarray(labels)], eye[np.asarray(preds)]
    per_class = np.asarray(counts, dtype=np.int64) @ np.concatenate([truth, predicted, truth * predicted], axis=1)
    true_count, pred_count, tp = np.split(per_class, 3, axis=1)
    denom = pred_count + true_count
    f1 = np.divide(2 * tp, denom, out=np.zeros(tp.shape), where=denom > 0)
    # correct titles = true positives summed over the classes
    return tp.sum(axis=1) / np.sum(counts, axis=1), f1.mean(axis=1)


def paired_bootstrap(labels, ref_preds, cand_preds, n_classes, resamples=RESAMPLES, seed=SEED):
    """95% percentile intervals of the accuracy drop and the macro-F1 drop (reference minus
    candidate): {"accuracy_drop": (lo, hi), "macro_f1_drop": (lo, hi)}, unrounded.

    Paired: each resample draws one set of titles and scores both models on it. Titles with the
    same (label, reference prediction, candidate prediction) are interchangeable to every score,
    so drawing n titles with replacement is drawing n from those distinct cells in proportion to
    their size: one multinomial per resample, over at most n_classes^3 cells (a few hundred)
    rather than n titles. Same distribution as resampling the titles, a cost that does not grow
    with n. Drawn in fixed-size chunks, so the draws depend on the seed only."""
    labels, ref_preds, cand_preds = (np.asarray(a, dtype=np.int64) for a in (labels, ref_preds, cand_preds))
    n = len(labels)
    cells, size = np.unique(np.stack([labels, ref_preds, cand_preds], axis=1), axis=0, return_counts=True)
    rng = np.random.default_rng(seed)
    acc_drop, f1_drop = [], []
    for start in range(0, resamples, _CHUNK):
        counts = rng.multinomial(n, size / n, size=min(_CHUNK, resamples - start))
        ref_acc, ref_f1 = weighted_scores(counts, cells[:, 0], cells[:, 1], n_classes)
        cand_acc, cand_f1 = weighted_scores(counts, cells[:, 0], cells[:, 2], n_classes)
        acc_drop.append(ref_acc - cand_acc)
        f1_drop.append(ref_f1 - cand_f1)
    return {
        "accuracy_drop": tuple(np.percentile(np.concatenate(acc_drop), [2.5, 97.5])),
        "macro_f1_drop": tuple(np.percentile(np.concatenate(f1_drop), [2.5, 97.5])),
    }


def mcnemar_exact(b, c):
    """Two-sided exact McNemar p-value. b: titles only the reference gets right, c: only the
    candidate. Under "no difference" each discordant title is a fair coin, so min(b, c) is
    Binomial(b + c, 1/2); p = 2 P(X <= min(b, c)), capped at 1. Exact integer arithmetic (the
    binomial terms built one from the last), so thousands of discordant titles neither
    overflow nor underflow; no discordant title at all is no evidence: p = 1."""
    b, c = int(b), int(c)
    n = b + c
    if n == 0:
        return 1.0
    term, tail = 1, 1  # C(n, 0)
    for i in range(min(b, c)):
        term = term * (n - i) // (i + 1)  # C(n, i + 1), exact
        tail += term
    return min(1.0, 2 * tail / 2**n)


def wilson_interval(successes, n, z=Z95):
    """(lo, hi) Wilson score interval of a proportion: unlike the normal approximation it stays
    inside [0, 1] and keeps its coverage near 0 and 1 (agreement of 0.998 is near 1)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    center = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, center - half), min(1.0, center + half)


def verdict(p, b, c, alpha=ALPHA):
    """The rule: a change is significant when McNemar's exact p < alpha (5%); its direction is
    the sign of b - c (more titles only the reference gets right: a loss). McNemar tests
    accuracy on the discordant titles; the macro-F1 interval is reported beside it, and the
    bound on the loss comes from that interval, not from this verdict."""
    if p >= alpha or b == c:
        return "no significant change"
    return "significant loss" if b > c else "significant gain"


def accuracy_interval(labels, preds):
    """{"accuracy_lo", "accuracy_hi"}: Wilson 95% interval of one model's accuracy."""
    correct = int(np.sum(np.asarray(labels) == np.asarray(preds)))
    lo, hi = wilson_interval(correct, len(labels))
    return {"accuracy_lo": r4(lo), "accuracy_hi": r4(hi)}


def compare(labels, ref_preds, cand_preds, n_classes, resamples=RESAMPLES, seed=SEED):
    """The uncertainty of one candidate against the reference (FP32) on one split, rounded:
    bootstrap intervals of the drops, the discordant counts and McNemar's p, Wilson interval of
    the prediction agreement, the verdict, and loses_at_most, the macro-F1 the candidate loses
    at most at 95% (the interval's upper end; 0 when the interval lies below 0, a gain)."""
    labels, ref_preds, cand_preds = (np.asarray(a) for a in (labels, ref_preds, cand_preds))
    ref_right, cand_right = ref_preds == labels, cand_preds == labels
    b = int(np.sum(ref_right & ~cand_right))
    c = int(np.sum(~ref_right & cand_right))
    boot = paired_bootstrap(labels, ref_preds, cand_preds, n_classes, resamples, seed)
    p = mcnemar_exact(b, c)
    agree_lo, agree_hi = wilson_interval(int(np.sum(ref_preds == cand_preds)), len(labels))
    (acc_lo, acc_hi), (f1_lo, f1_hi) = boot["accuracy_drop"], boot["macro_f1_drop"]
    return {
        "accuracy_drop_lo": r4(acc_lo),
        "accuracy_drop_hi": r4(acc_hi),
        "macro_f1_drop_lo": r4(f1_lo),
        "macro_f1_drop_hi": r4(f1_hi),
        "only_fp32_right": b,
        "only_model_right": c,
        "mcnemar_p": float(f"{p:.3g}"),  # significant digits: 4 decimals would print 2e-6 as 0
        "agreement_lo": r4(agree_lo),
        "agreement_hi": r4(agree_hi),
        "verdict": verdict(p, b, c),
        "loses_at_most": r4(max(0.0, f1_hi)),
    }
