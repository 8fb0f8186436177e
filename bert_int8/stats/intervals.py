"""Distribution-free intervals for timings: the median of a set of passes, a quantile, and the
ratio of two independent sets, each at 95%. Plain maths (numpy, and scipy's binomial for the
quantile): what timing, comparison and the load test's layouts share, with no model in sight."""

from math import comb

import numpy as np
from scipy.stats import binom

LEVEL = 0.95


def interval_coverage(n, k):
    """Probability that [x_(k), x_(n-k+1)] of n passes covers the true median (1-based order
    statistics; each pass falls below the median with probability 1/2, whatever the
    distribution of the passes)."""
    return 1 - 2 * sum(comb(n, i) for i in range(k)) / 2**n


def order_statistic(n, level=LEVEL):
    """The largest k whose [x_(k), x_(n-k+1)] still covers the median with probability >= level
    (1 when none does: min..max)."""
    k = 1
    while k + 1 <= (n + 1) // 2 and interval_coverage(n, k + 1) >= level:
        k += 1
    return k


def median_interval(values, level=LEVEL):
    """(median, lo, hi, coverage): the median of `values` and the narrowest order-statistic
    interval around it that covers the true median with probability >= level. No normality is
    assumed: pass times are skewed (a pass hit by a page fault or a preempted thread is slow,
    never fast). Six passes are the fewest for 95% (min..max covers 96.9%); with fewer the
    interval is min..max and `coverage` says what it is worth."""
    x = sorted(float(v) for v in values)
    n = len(x)
    k = order_statistic(n, level)
    return float(np.median(x)), x[k - 1], x[n - k], interval_coverage(n, k)


def quantile_interval(values, q, level=LEVEL):
    """(the q-quantile of `values`, lo, hi): order statistics whose ranks the Binomial(n, q)
    count of values below the true quantile reaches with probability (1 - level) / 2 at each
    end (at the extremes, min or max)."""
    x = sorted(float(v) for v in values)
    n, tail = len(x), (1 - level) / 2
    lo = max(0, int(binom.ppf(tail, n, q)) - 1)
    hi = min(n - 1, int(binom.ppf(1 - tail, n, q)))
    return float(np.percentile(x, 100 * q)), x[lo], x[hi]


def ratio_interval(a, b, level=LEVEL):
    """(ratio, lo, hi) of the typical a over the typical b, from two independent sets of passes
    (each model is timed in processes of its own: pass i of one has nothing in common with pass
    i of the other). The Hodges-Lehmann estimate on the log scale, the median of all
    len(a) x len(b) ratios, with the distribution-free interval of Moses: order statistics k and
    N - k + 1 of those ratios, k from the exact Mann-Whitney distribution; it covers the true
    ratio with probability >= level when the two differ by a factor (a shift in log time)."""
    ratios = sorted(x / y for x in a for y in b if y)
    m, n = len(a), len(b)
    # counts[u]: arrangements of m a's among m + n values with Mann-Whitney statistic u
    counts = [[[0] * (i * j + 1) for j in range(n + 1)] for i in range(m + 1)]
    for i in range(m + 1):
        for j in range(n + 1):
            if i == 0 or j == 0:
                counts[i][j][0] = 1
                continue
            for u in range(i * j + 1):
                # the largest value is an a (it exceeds all j b's) or a b
                counts[i][j][u] = (counts[i - 1][j][u - j] if u >= j else 0) + (
                    counts[i][j - 1][u] if u <= i * (j - 1) else 0
                )
    dist, total = counts[m][n], comb(m + n, m)
    k, below = 0, 0  # k: how many ratios to cut at each end
    while k < len(dist) and (below + dist[k]) / total <= (1 - level) / 2:
        below += dist[k]
        k += 1
    k = max(k, 1)
    return float(np.median(ratios)), ratios[k - 1], ratios[len(ratios) - k]


def summarize(passes, digits):
    """{key: median, key_lo: .., key_hi: ..} for each key's list of per-pass values."""
    out = {}
    for key, values in passes.items():
        mid, lo, hi, _ = median_interval(values)
        d = digits.get(key, 4)
        out.update({key: round(mid, d), f"{key}_lo": round(lo, d), f"{key}_hi": round(hi, d)})
    return out
