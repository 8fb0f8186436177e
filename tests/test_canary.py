"""The canary (bert_int8.measure.canary): a pass whose canary runs slow is timed once more, the second
timing kept, and marked when it is slow too; the first timing is kept apart, as a run without
the canary would have reported it."""

import numpy as np
import pytest

from bert_int8.core.params import BenchmarkParams
from bert_int8.measure.canary import UNCHECKED, Canary
from bert_int8.measure.timing import fixed_shape_passes


class ScriptedClock:
    """A clock that makes each canary run last the next of `durations` (two readings a run)."""

    def __init__(self, durations):
        self.durations, self.now, self.reads = list(durations), 0.0, 0

    def __call__(self):
        self.reads += 1
        if self.reads % 2 == 0:  # the end of a run
            self.now += self.durations.pop(0)
        return self.now


class Passes:
    """A timed pass that answers 1, 2, 3, ... in turn."""

    def __init__(self):
        self.n = 0

    def __call__(self):
        self.n += 1
        return self.n


WARM = [1.0, 1.0, 1.0]  # the canary's own warm-up: its fastest run is 1.0


@pytest.mark.parametrize(
    "durations, kept, retimed, marked",
    [
        ([1.0, 1.4], 1, 0, 0),  # 1.4 is no more than 50% slower: kept as timed
        ([1.6, 1.0, 1.0, 1.0], 2, 1, 0),  # slow before the pass: timed again, the second kept
        ([1.0, 1.6, 1.0, 1.0], 2, 1, 0),  # slow after it: the same
        ([1.6, 1.0, 1.0, 1.7], 2, 1, 1),  # slow again on the second timing: kept, and marked
    ],
)
def test_a_slow_canary_retimes_the_pass_once(durations, kept, retimed, marked):
    canary, timed_pass = Canary(0.5, ScriptedClock(WARM + durations)), Passes()
    assert canary.check(timed_pass) == (kept, 1)  # the first timing is always the unchecked one
    counts = canary.counts()
    assert (counts["canary_checked"], counts["canary_retimed"], counts["canary_marked"]) == (1, retimed, marked)
    assert timed_pass.n == kept and counts["canary_fastest_ms"] == 1000.0


def test_the_fastest_canary_so_far_counts_the_warm_up_and_each_run_since():
    # warm-up fastest 1.0; a pass's canaries of 0.5 lower it, so 0.8 is then 60% slower
    canary, timed_pass = Canary(0.5, ScriptedClock(WARM + [0.5, 0.5, 0.8, 1.0, 1.0, 1.0])), Passes()
    assert canary.check(timed_pass) == (1, 1)
    assert canary.check(timed_pass) == (3, 2) and canary.counts()["canary_retimed"] == 1


def test_without_a_slowdown_there_is_no_canary():
    clock = ScriptedClock([])
    canary, timed_pass = Canary(None, clock), Passes()
    assert canary.check(timed_pass) == (1, 1) and clock.reads == 0
    assert canary.counts() == {
        "canary_checked": 0,
        "canary_retimed": 0,
        "canary_marked": 0,
        "canary_fastest_ms": None,
    }


class Recorder:
    def __init__(self):
        self.calls = 0

    def __call__(self, input_ids, **_):
        self.calls += 1


def test_the_passes_keep_the_retimed_figure_and_the_first_apart():
    """fixed_shape_passes through a canary that finds the first latency pass slow: one more
    latency pass is timed, the figures hold one per pass, and UNCHECKED + key holds the first
    timing of each (a run without the canary)."""
    params = BenchmarkParams(seq_len=8, batch_size=4, warmup=1, runs=6, throughput_runs=6, min_pass_seconds=0)
    # per pass: canary before and after the latency pass, then the throughput pass; only the
    # first latency pass's "after" canary is slow
    durations = WARM + [1.0, 2.0, 1.0, 1.0] + [1.0] * 2 + [1.0] * 4 * (params.repeats - 1)
    canary, model = Canary(0.5, ScriptedClock(durations)), Recorder()
    passes, _ = fixed_shape_passes(model, 50, params, canary=canary)
    # cold 2 calls, warm-up 0 more (warmup 1 is the cold call), then 1 call a pass each shape,
    # and the latency pass once more
    assert model.calls == 2 + 2 * params.repeats + 1
    for key in ("latency_ms_p50", "throughput_seq_per_s"):
        assert len(passes[key]) == len(passes[UNCHECKED + key]) == params.repeats
    assert len(passes["latency_ms_calls"]) == params.repeats  # the kept passes' calls only
    assert UNCHECKED + "latency_ms_calls" not in passes
    counts = canary.counts()
    assert (counts["canary_checked"], counts["canary_retimed"], counts["canary_marked"]) == (2 * params.repeats, 1, 0)
    assert np.isfinite(passes["latency_ms_p50"]).all()
