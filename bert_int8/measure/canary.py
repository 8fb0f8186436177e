"""A canary for slow phases of the host: a small kernel of fixed work, timed in the model's own
process just before and just after each timed pass.

Slow phases hit one process and not the next (1.4-1.8x at batch 1 on AVX2 EPYCs, with
OpenVINO's batch-1 p50 ranging 1.56-3.50 ms between processes) without showing in /proc/stat,
so the interference guard (bert_int8.measure.disturbance) cannot see them. A phase that slows the pass
slows the canary beside it: a pass whose canary runs more than `slowdown` slower than the
fastest canary of the process so far is timed once more, and the second timing is kept, marked
when its canary is slow too.

The kernel is numpy element-wise work on one thread, in cache: no BLAS thread pool that would
spin beside the model's threads after it, no memory traffic of its own to speak of. About 1 ms
on a Zen 4 EPYC (median 0.92 ms; 0.2% of its runs over 1.5x the fastest, 17% over 1.25x: hence
benchmark.canary_slowdown's 0.5). A pass lasts at least benchmark.min_pass_seconds (100 ms), so
two canaries add about 2%.
"""

import time

import numpy as np

UNCHECKED = "unchecked:"  # the key prefix of the figures a run without the canary would have kept
ELEMENTS = 1 << 14  # 64 KiB of float32: stays in L2
ROUNDS = 96


class Canary:
    def __init__(self, slowdown, clock=time.perf_counter):
        """`slowdown`: how much slower than the fastest canary (0.25: 25%) marks a pass; None:
        no check, every pass kept as timed."""
        self.slowdown, self.clock = slowdown, clock
        self.x = np.linspace(0.0, 1.0, ELEMENTS, dtype=np.float32)
        self.fastest = None
        self.checked = self.retimed = self.marked = 0
        if slowdown is not None:
            for _ in range(3):  # its own warm-up: the first runs page in and fill the cache
                self.run()

    def run(self):
        """Seconds the fixed work took; the fastest so far is kept."""
        start = self.clock()
        x = self.x.copy()
        for _ in range(ROUNDS):
            np.multiply(x, 0.999, out=x)
            np.add(x, 0.001, out=x)
            np.sqrt(x, out=x)
        took = self.clock() - start
        self.fastest = took if self.fastest is None else min(self.fastest, took)
        return took

    def _slow(self, took):
        return took > (1 + self.slowdown) * self.fastest

    def check(self, timed_pass):
        """(kept, first): `timed_pass()`'s result between two canaries; timed once more when
        either canary ran slow, and the second result kept (marked when a canary of the second
        timing ran slow too); `first` is the first timing's result, what a run without the
        canary would have kept."""
        if self.slowdown is None:
            result = timed_pass()
            return result, result
        self.checked += 1
        first = None
        for attempt in (1, 2):
            before = self.run()
            result = timed_pass()
            after = self.run()  # always: it may lower the fastest
            slow = self._slow(before) or self._slow(after)
            first = result if attempt == 1 else first
            if not slow:
                return result, first
            if attempt == 1:
                self.retimed += 1
        self.marked += 1
        return result, first

    def counts(self):
        """What the process's canary saw: passes checked, retimed and marked, and its fastest run (ms)."""
        fastest = None if self.fastest is None else self.fastest * 1000
        return {
            "canary_checked": self.checked,
            "canary_retimed": self.retimed,
            "canary_marked": self.marked,
            "canary_fastest_ms": fastest,
        }
