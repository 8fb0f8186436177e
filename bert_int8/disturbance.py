"""Is anything else using the machine while we time? The CPU time of everyone but us.

A figure timed beside another busy process is not the model's: on 2 cores a low-priority
package install halved OpenVINO's throughput and nothing said so. `CpuWatch` samples the
machine's busy time from /proc/stat (steal included: time the hypervisor gave to other
guests) and subtracts the CPU time of the processes we run (this one, and the pids it is
given, with their threads and their children), every `interval` seconds, in a thread of its
own. Its `worst_share` is the largest share of the machine's CPU time that went to others in
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


def _process_seconds(pid):
    """CPU seconds used by `pid` (all its threads), plus those of its reaped children."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()  # the command name may hold spaces and parentheses
    # utime, stime, cutime, cstime are fields 14-17 (1-based), here 11-14 after the name
    return sum(int(v) for v in fields[11:15]) / TICKS


def tree_seconds(pids):
    """CPU seconds used by `pids` and every descendant of theirs alive now."""
    seen, todo, total = set(), list(pids), 0.0
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += _process_seconds(pid)
        todo += _children(pid)
    return total


class CpuWatch:
    """Context manager: while it is open, the largest share of the machine's CPU time that
    processes other than ours used in any `interval`-second window (`worst_share`), and the
    share over the whole time (`mean_share`). Ours: this process, `pids`, and pids added with
    `watch(pid)` (a worker started inside the block), each with its descendants.

    A process of ours that exits inside a window takes its CPU seconds with it (its parent's
    cutime only counts it once reaped), so that window may read high; start and end what you
    time inside the block, and treat the windows around a process's exit with care: the
    watch skips a window in which a watched pid disappeared.
    """

    def __init__(self, pids=(), interval=0.5):
        self.pids = {os.getpid(), *pids}
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
        alive = {p for p in pids if Path(f"/proc/{p}").exists()}
        return time.perf_counter(), machine_busy_seconds(), tree_seconds(alive), alive

    def _share(self, a, b):
        (t0, busy0, ours0, _), (t1, busy1, ours1, _) = a, b
        wall = (t1 - t0) * self._cpus
        if busy0 is None or busy1 is None or wall <= 0:
            return None
        return min(1.0, max(0.0, ((busy1 - busy0) - (ours1 - ours0)) / wall))

    def _run(self):
        last = self._first
        while not self._stop.wait(self.interval):
            now = self._sample()
            if now[3] >= last[3]:  # no watched process ended in this window
                share = self._share(last, now)
                if share is not None:
                    self.worst_share = share if self.worst_share is None else max(self.worst_share, share)
            last = now

    def __enter__(self):
        self._first = self._sample()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if machine_busy_seconds() is None:
            return False
        end = self._sample()
        self.mean_share = self._share(self._first, end)
        if self.worst_share is None:  # shorter than one window
            self.worst_share = self.mean_share
        for name in ("worst_share", "mean_share"):
            value = getattr(self, name)
            setattr(self, name, None if value is None else round(value, 4))
        return False
