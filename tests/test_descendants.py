"""The /proc walk that the CPU watch (disturbance.tree_seconds) and the server's memory
(http_load.tree_rss_kib) share: a real tree of processes started here, some by a second thread
of their parent, each reporting its own pid; synchronised by pipes, never by the clock."""

import os
import subprocess
import sys

import pytest
from fixtures import read_until

from bert_int8.measure.disturbance import descendants
from bert_int8.serve.http_load import tree_rss_kib

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux /proc")

# A node of the tree: with depth > 0 it starts two children, one from its main thread and one
# from a second thread that stays alive (its children are listed under that thread's task);
# once both have said their subtree's pids, it says its own line (its pid first) and lives until
# its stdin closes, then ends its children.
NODE = """
import os, subprocess, sys, threading

depth, kids, started, done = int(sys.argv[1]), [], threading.Event(), threading.Event()

def start():
    kids.append(subprocess.Popen([sys.executable, "-c", sys.argv[2], str(depth - 1), sys.argv[2]],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE))

def start_and_stay():
    start()
    started.set()
    done.wait()

if depth:
    start()
    second = threading.Thread(target=start_and_stay)
    second.start()
    started.wait()
pids = [str(os.getpid())] + [k.stdout.readline().decode().strip() for k in kids]
print(" ".join(pids), flush=True)
sys.stdin.read()
done.set()
for k in kids:
    k.stdin.close()
    k.wait()
"""


def test_descendants_are_every_process_below_through_every_thread():
    root = subprocess.Popen([sys.executable, "-c", NODE, "2", NODE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = read_until(root.stdout, "\n")
        said = [int(p) for p in line.split()]
        assert len(said) == 7 and said[0] == root.pid  # the root, 2 children, 4 grandchildren
        assert descendants([root.pid]) == set(said)
        assert descendants([os.getpid()]) >= set(said) | {os.getpid()}
        assert descendants([said[1]]) == set(said[1:4])  # a child of the main thread, with its own two
        assert descendants([said[4]]) == set(said[4:7])  # the second thread's child, with its own two
        assert descendants(said[1:]) == set(said[1:])  # trees that overlap: each process once
        # the same processes, named by the root or one by one: each counted once (they sleep in a read)
        assert tree_rss_kib([root.pid]) == tree_rss_kib(said) > tree_rss_kib(said[1:])
    finally:
        root.stdin.close()  # each node then closes its children's stdin and waits for them
        assert root.wait(timeout=60) == 0
        root.stdout.close()
    assert descendants([root.pid]) == set() and descendants(said) == set()  # all gone, all reaped
