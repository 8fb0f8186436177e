"""Progress with an ETA for the steps that take more than a few seconds.

On a terminal: a tqdm bar. Elsewhere (CI, `dvc repro > log`): a plain line at every tenth of
the way, with elapsed time and ETA, instead of carriage-return spam in the log.
"""

import sys
import time


def _clock(seconds):
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


class LineProgress:
    def __init__(self, total, desc, unit, stream):
        self.total, self.desc, self.unit, self.stream = total, desc, unit, stream
        self.n, self.next_report, self.start = 0, 0.1, time.monotonic()

    def update(self, k=1):
        self.n += k
        done = self.n / self.total if self.total else 1.0
        if done + 1e-9 >= self.next_report:
            while self.next_report <= done + 1e-9:
                self.next_report += 0.1
            elapsed = time.monotonic() - self.start
            eta = elapsed / done * (1 - done) if done else 0
            print(
                f"{self.desc}: {self.n}/{self.total} {self.unit} ({done:.0%}), {_clock(elapsed)} elapsed, "
                f"ETA {_clock(eta)}",
                file=self.stream,
                flush=True,
            )

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def progress(total, desc, unit="it", stream=None):
    """A progress reporter with update(k) and close(), usable as a context manager."""
    stream = stream or sys.stderr
    if stream.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=desc, unit=unit, file=stream, dynamic_ncols=True)
    return LineProgress(total, desc, unit, stream)
