"""Is anything else using the machine while we time? The CPU time of everyone but us.

A figure timed beside another busy process is not the model's: on 2 cores a low-priority
package install halved a runtime's throughput and nothing said so. `CpuWatch` samples the
machine's busy time from /proc/stat (steal included: time the hypervisor gave to other
guests) and subtracts the CPU time of the processes we run (this one's own threads, and the
pids it is told to watch with their descendants), every `interval` seconds, in a thread of its
own. Other children of this process are not ours: a test starts a CPU hog that way. Its `worst_share` is the largest share of the machine's CPU time that went to others in
any one window, from 0 (idle) to 1 (every core busy with something else).

Linux only; elsewhere (no /proc/stat) it reports None and nothing is flagged.
"""

import os
import threading
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# /proc/stat "cpu" columns: user nice system idle iowait irq softirq steal guest guest_nice.
# Busy is everything but idle and iowait; guest time is already counted in user and nice.
_BUSY = (0, 1, 2, 5, 6, 7)


def machine_busy_seconds():
    """CPU seconds the whole machine has spent busy since boot (steal included), or None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    values = [int(v) for v in fields[1:]]
    return sum(values[i] for i in _BUSY if i < len(values)) / TICKS


def _children(pid):
    """The pids whose parent is `pid` (every thread's children, as /proc lists them)."""
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text()
            out += [int(p) for p in text.split()]
    except OSError:
        pass
    return out


def _process_seconds(pid, reaped=True):
    """CPU seconds used by `pid` (all its threads), plus those of its reaped children; None
    when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    # utime, stime, cutime, cstime are fields 14-17 (1-based), here 11-14 after the name
    return sum(int(v) for v in fields[11 : 15 if reaped else 13]) / TICKS


def descendants(pids):
    """`pids` and every descendant of theirs, those alive now (a set): the children of every
    thread of each, as /proc lists them, down the whole tree."""
    seen, todo = set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen or not os.path.isdir(f"/proc/{pid}"):
            continue
        seen.add(pid)
        todo += _children(pid)
    return seen


def tree_seconds(pids):
    """(CPU seconds used by `pids` and every descendant of theirs alive now, those of `pids`
    that were read: alive)."""
    pids, total, alive = set(pids), 0.0, set()
    for pid in descendants(pids):
        seconds = _process_seconds(pid)
        if seconds is not None:
            total += seconds
            if pid in pids:
                alive.add(pid)
    return total, alive


class CpuWatch:
    """Context manager: while it is open, the largest share of the machine's CPU time that
    processes other than ours used in any `interval`-second window (`worst_share`), and the
    share over all windows (`mean_share`). Ours: this process's own threads, `pids`, and pids
    added with `watch(pid)` (a worker started inside the block), each with its descendants.

    A watched process that exits inside a window takes its CPU seconds with it, so the watch
    skips a window in which a watched pid disappeared.
    """

    def __init__(self, pids=(), interval=1.0):
        self.pids = set(pids)
        self.interval = interval
        self.worst_share = None
        self.mean_share = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._cpus = os.cpu_count() or 1

    def watch(self, pid):
        with self._lock:
            self.pids.add(pid)

    def _sample(self):
        with self._lock:
            pids = set(self.pids)
        # alive: the watched pids whose seconds were read. One reaped between the listing and
        # the reading (its seconds now in its parent's, maybe already read) is not, so the
        # window in which it went is skipped, not read as others' work.
        seconds, alive = tree_seconds(pids)
        ours = (_process_seconds(os.getpid(), reaped=False) or 0.0) + seconds
        return time.perf_counter(), machine_busy_seconds(), ours, alive

    def _others(self, a, b):
        """(others' CPU seconds, the machine's CPU seconds) between two samples, or None."""
        (t0, busy0, ours0, _), (t1, busy1, ours1, _) = a, b
        wall = (t1 - t0) * self._cpus
        if busy0 is None or busy1 is None or wall <= 0:
            return None
        return max(0.0, (busy1 - busy0) - (ours1 - ours0)), wall

    def _window(self, last, now):
        if not now[3] >= last[3]:  # a watched process ended in this window: its seconds left with it
            return
        got = self._others(last, now)
        if got is None:
            return
        others, wall = got
        self._others_total, self._wall_total = self._others_total + others, self._wall_total + wall
        if now[0] - last[0] < self.interval / 2:
            return  # a sliver of a window: a tick or two of anyone's would read as a large share
        share = min(1.0, others / wall)
        self.worst_share = share if self.worst_share is None else max(self.worst_share, share)

    def _run(self):
        last = self._first
        while not self._stop.wait(self.interval):
            now = self._sample()
            self._window(last, now)
            last = now
        self._last = last

    def __enter__(self):
        self._others_total = self._wall_total = 0.0
        self._first = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._window(self._last, self._sample())  # the last, partial window
        if self._wall_total:
            self.mean_share = min(1.0, self._others_total / self._wall_total)
            if self.worst_share is None:  # shorter than one window
                self.worst_share = self.mean_share
        for name in ("worst_share", "mean_share"):
            value = getattr(self, name)
            setattr(self, name, None if value is None else round(value, 4))
        return False
