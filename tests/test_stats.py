"""bert_int8.stats.significance: every expectation here is computed independently of the code under test
(sklearn, math.comb, the closed forms written out, published values), and everything is
seeded, so each test is deterministic."""

import math

import numpy as np
import pytest
from fixtures import CLASSES
from sklearn.metrics import f1_score

from bert_int8.stats import significance as stats


def _paired(rng, n, n_classes, shares):
    """n titles with labels and two models' predictions; `shares` = probabilities of (both
    right, only the reference right, only the candidate right, both wrong). A wrong prediction
    is one of the other classes, at random."""
    labels = rng.integers(0, n_classes, n)
    kind = rng.choice(4, size=n, p=shares)

    def wrong():
        return (labels + rng.integers(1, n_classes, n)) % n_classes

    ref = np.where((kind == 0) | (kind == 1), labels, wrong())
    cand = np.where((kind == 0) | (kind == 2), labels, wrong())
    return labels, ref, cand


def test_weighted_scores_match_sklearn_on_resamples():
    """The vectorised per-resample scores are sklearn's accuracy and macro-F1 of the resampled
    titles, resample by resample; small n, so some resamples miss a class entirely."""
    rng = np.random.default_rng(3)
    for n, n_classes in ((30, 5), (400, 10)):
        labels, ref, _ = _paired(rng, n, n_classes, [0.7, 0.1, 0.1, 0.1])
        idx = rng.integers(0, n, size=(6, n))  # 6 resamples, as title indices
        counts = np.stack([np.bincount(row, minlength=n) for row in idx])
        acc, f1 = stats.weighted_scores(counts, labels, ref, n_classes)
        for r, row in enumerate(idx):
            y, p = labels[row], ref[row]
            assert acc[r] == pytest.approx(np.mean(y == p), abs=1e-12)
            expected = f1_score(y, p, labels=list(range(n_classes)), average="macro", zero_division=0)
            assert f1[r] == pytest.approx(expected, abs=1e-12)
            if len(set(y) | set(p)) == n_classes:  # every class seen: sklearn's default labels agree
                assert f1[r] == pytest.approx(f1_score(y, p, average="macro", zero_division=0), abs=1e-12)


def test_bootstrap_is_paired_seeded_and_fast():
    rng = np.random.default_rng(4)
    labels, ref, cand = _paired(rng, 10_000, 10, [0.9, 0.004, 0.004, 0.092])
    # the same predictions: every paired resample has no drop at all
    same = stats.paired_bootstrap(labels, ref, ref, 10)
    assert same == {"accuracy_drop": (0.0, 0.0), "macro_f1_drop": (0.0, 0.0)}
    first = stats.paired_bootstrap(labels, ref, cand, 10)
    assert first == stats.paired_bootstrap(labels, ref, cand, 10)  # seeded
    lo, hi = first["accuracy_drop"]
    # Paired, the interval is about the discordant titles only (0.8% here): a few tenths of a
    # point wide. Unpaired, two accuracies near 0.90 on 10,000 titles each give about +-0.0083.
    assert lo < np.mean(ref == labels) - np.mean(cand == labels) < hi and hi - lo < 0.005


def test_bootstrap_interval_covers_a_known_drop_95_percent_of_the_time():
    """A population of 200,000 paired outcomes with a known accuracy drop (and macro-F1 drop);
    600 samples of 1,000 titles from it; the 95% interval of each sample should cover the
    population's drop in 93% to 97% of them (binomial sd of the rate over 600 trials: 0.9%).
    Here: 94.7% (accuracy) and 94.2% (macro-F1); over 2,000 trials of another seed 94.4% and
    94.8%: the percentile bootstrap runs a little under 95% at this size, as is usual."""
    rng = np.random.default_rng(2024)
    n_classes = 4
    pop_labels, pop_ref, pop_cand = _paired(rng, 200_000, n_classes, [0.80, 0.06, 0.03, 0.11])
    true_acc_drop = np.mean(pop_ref == pop_labels) - np.mean(pop_cand == pop_labels)
    true_f1_drop = f1_score(pop_labels, pop_ref, average="macro") - f1_score(pop_labels, pop_cand, average="macro")
    assert 0.02 < true_acc_drop < 0.04 and 0.02 < true_f1_drop < 0.04  # a real, known difference
    trials, n = 600, 1000
    covered_acc = covered_f1 = 0
    for trial in range(trials):
        idx = rng.integers(0, len(pop_labels), n)  # titles drawn independently from the population
        found = stats.paired_bootstrap(pop_labels[idx], pop_ref[idx], pop_cand[idx], n_classes, 1000, seed=trial)
        covered_acc += found["accuracy_drop"][0] <= true_acc_drop <= found["accuracy_drop"][1]
        covered_f1 += found["macro_f1_drop"][0] <= true_f1_drop <= found["macro_f1_drop"][1]
    assert 0.93 <= covered_acc / trials <= 0.97
    assert 0.93 <= covered_f1 / trials <= 0.97


def test_mcnemar_exact_against_hand_computed_values():
    # b=4, c=5: 9 discordant titles, p = 2 * P(X <= 4), X ~ Bin(9, 1/2)
    #   = 2 * (1 + 9 + 36 + 84 + 126) / 512 = 512 / 512 = 1.0
    assert stats.mcnemar_exact(4, 5) == 1.0
    assert stats.mcnemar_exact(5, 4) == 1.0
    # b=10, c=1: p = 2 * (C(11,0) + C(11,1)) / 2^11 = 2 * 12 / 2048
    assert stats.mcnemar_exact(10, 1) == pytest.approx(0.01171875, abs=1e-15)
    assert stats.mcnemar_exact(1, 10) == stats.mcnemar_exact(10, 1)
    # b=0, c=6: 2 / 64
    assert stats.mcnemar_exact(0, 6) == pytest.approx(0.03125, abs=1e-15)
    # no discordant title: no evidence either way
    assert stats.mcnemar_exact(0, 0) == 1.0
    assert stats.mcnemar_exact(5, 5) == 1.0  # capped: 2 * P(X <= 5) > 1
    # many discordant titles: the same formula with math.comb, in exact fractions
    b, c = 480, 560
    expected = 2 * sum(math.comb(b + c, k) for k in range(b + 1)) / 2 ** (b + c)
    assert stats.mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)
    assert 0.01 < expected < 0.02


def test_wilson_interval_against_hand_computed_and_published_values():
    # 0 successes: the closed form is lo = 0, hi = z^2 / (n + z^2)
    z = 1.959964
    lo, hi = stats.wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(z * z / (10 + z * z), abs=1e-12)
    # 8 of 10, by hand: p = 0.8, z^2 = 3.841459; centre = (0.8 + 0.192073) / 1.384146 = 0.716740;
    # half = 1.959964 * sqrt(0.016 + 0.009604) / 1.384146 = 1.959964 * 0.160011 / 1.384146 = 0.226578
    lo, hi = stats.wilson_interval(8, 10)
    assert (lo, hi) == (pytest.approx(0.490162, abs=2e-6), pytest.approx(0.943318, abs=2e-6))
    # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson, no correction)
    for (x, n), published in {
        (81, 263): (0.2553, 0.3662),
        (15, 148): (0.0624, 0.1605),
        (1, 29): (0.0061, 0.1718),
    }.items():
        assert tuple(round(v, 4) for v in stats.wilson_interval(x, n)) == published
    # the interval the issue quotes for FP32's accuracy: 0.9137 on 10,000 titles
    assert tuple(round(v, 3) for v in stats.wilson_interval(9137, 10_000)) == (0.908, 0.919)


def test_verdict_rule():
    assert stats.verdict(0.2, 30, 20) == "no significant change"
    assert stats.verdict(0.01, 30, 10) == "significant loss"
    assert stats.verdict(0.01, 10, 30) == "significant gain"
    assert stats.verdict(0.05, 30, 10) == "no significant change"  # p < 5%, strictly


class _FakeDir:
    """Stands for a ModelDir: load() gives a handle that the patched predict_logits maps to
    fixed predictions, so the comparison is known title by title."""

    length_buckets = None

    def __init__(self, preds):
        self.preds = preds

    def load(self, threads):
        return self


def test_evaluate_models_reports_intervals_and_verdicts(monkeypatch, tmp_path):
    from bert_int8.core.params import EvaluateParams
    from bert_int8.data.splits import Split
    from bert_int8.measure import evaluate
    from bert_int8.measure.evaluate import evaluate_models

    # 40 titles, 4 classes used of the 10. FP32 gets 30 right. "int8": 28 of FP32's 30 right
    # ones, plus 1 FP32 got wrong (b = 2, c = 1). "bad": only 10 of FP32's right ones (b = 20).
    labels = [i % 4 for i in range(40)]
    fp32 = [y if i < 30 else (y + 1) % 4 for i, y in enumerate(labels)]
    int8 = [(y + 1) % 4 if i in (3, 7) else (y if i == 30 else p) for i, (y, p) in enumerate(zip(labels, fp32))]
    bad = [y if i < 10 else (y + 2) % 4 for i, y in enumerate(labels)]
    models = {"fp32": _FakeDir(fp32), "int8": _FakeDir(int8), "bad": _FakeDir(bad)}
    monkeypatch.setattr(
        evaluate,
        "predict_logits",
        lambda model, tok, texts, batch_size, desc=None, lengths=None: np.eye(10)[model.preds],
    )
    split = Split([f"title {i}" for i in range(40)], labels)
    report = evaluate_models(models, None, split, CLASSES, EvaluateParams(threads=1), tmp_path)

    for name, right in (("fp32", 30), ("int8", 29), ("bad", 10)):
        lo, hi = stats.wilson_interval(right, 40)
        assert report.models[name]["accuracy"] == right / 40
        assert (report.models[name]["accuracy_lo"], report.models[name]["accuracy_hi"]) == (round(lo, 4), round(hi, 4))
        assert report.models[name]["accuracy_lo"] < right / 40 < report.models[name]["accuracy_hi"]

    vs = report.versus("int8", "fp32")
    # the keys that were there before keep their meaning
    assert vs["prediction_agreement"] == 37 / 40 and vs["accuracy_drop"] == 0.025
    assert (vs["only_fp32_right"], vs["only_model_right"]) == (2, 1)
    assert vs["mcnemar_p"] == 1.0  # 2 * (1 + 3) / 8, capped
    assert vs["verdict"] == "no significant change"
    assert vs["accuracy_drop_lo"] <= vs["accuracy_drop"] <= vs["accuracy_drop_hi"]
    assert vs["macro_f1_drop_lo"] <= vs["macro_f1_drop"] <= vs["macro_f1_drop_hi"]
    assert vs["loses_at_most"] == max(0.0, vs["macro_f1_drop_hi"]) > 0
    assert vs["agreement_lo"] < 37 / 40 < vs["agreement_hi"]

    bad_vs = report.versus("bad", "fp32")
    assert (bad_vs["only_fp32_right"], bad_vs["only_model_right"]) == (20, 0)
    assert bad_vs["mcnemar_p"] == float(f"{2 / 2**20:.3g}") == 1.91e-06  # 3 significant digits, not 0
    assert bad_vs["verdict"] == "significant loss"
    assert 0 < bad_vs["accuracy_drop_lo"] < 0.5 < bad_vs["accuracy_drop_hi"]
    assert bad_vs["loses_at_most"] == bad_vs["macro_f1_drop_hi"] > bad_vs["macro_f1_drop_lo"] > 0
    assert report.versus("fp32", "fp32") is None and set(report.comparisons) == {"int8_vs_fp32", "bad_vs_fp32"}
