"""Progress with an ETA for the steps that take more than a few seconds.

On a terminal: a tqdm bar. Elsewhere (CI, `dvc repro > log`): a plain line at every tenth of
the way, with elapsed time and ETA, instead of carriage-return spam in the log; closing early
(a search that stopped before its maximum) prints a last line with what was done, unless an
error stopped it (the error is the last line then).
"""

import sys
import time


def clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class LineProgress:
    def __init__(self, total, desc, unit, stream):
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n, self.printed, self.next_report, self.start = 0, 0, 0.1, time.monotonic()
        self.closed = False

    def _done(self):
        return min(1.0, self.n / self.total) if self.total else 1.0

    def _print(self, end=""):
        done, elapsed = self._done(), time.monotonic() - self.start
        eta = f", ETA {clock(elapsed / done * (1 - done))}" if done and not end else ""
        print(
            f"{self.desc}: {self.n}/{self.total} {self.unit} ({done:.0%}), {clock(elapsed)} elapsed{eta}{end}",
            file=self.stream,
            flush=True,
        )
        self.printed = self.n

    def update(self, k=1):
        self.n += k
        done = self._done()
        if done + 1e-9 >= self.next_report:
            while self.next_report <= done + 1e-9:
                self.next_report += 0.1
            self._print()

    def close(self):
        """A last line when it stopped short of the total, or past the last line printed."""
        if not self.closed and (self.n < self.total or self.printed != self.n):
            self._print(", done" if self.n >= self.total else ", stopped early")
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.close()
        self.closed = True  # an error says itself what stopped the step, in one line


def progress(total, desc, unit="it", stream=None):
    """A progress reporter with update(k) and close(), usable as a context manager."""
    stream = stream or sys.stderr
    if stream.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return LineProgress(total, desc, unit, stream)
