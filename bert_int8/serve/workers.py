"""`bert-int8 serve --workers N`: N processes serving one port, each with its own model, its
own batching thread and its share of the threads.

The parent forks the workers before anything heavy is imported (no model, no runtime's thread
pool exists yet), then only supervises: it forwards SIGTERM and SIGINT to them as SIGTERM (each
worker's uvicorn answers its in-flight requests, then exits) and, when one worker ends on its
own, stops the others and exits with that worker's status (a process manager restarts the
service, as it would restart a single process). Each worker binds the port with SO_REUSEPORT
once its model is loaded, so the kernel spreads new connections over the workers that are
ready (by a hash of the client's address and port) and none waits behind a loading model.
Linux (and BSDs with SO_REUSEPORT) only; a worker dies with its parent (PR_SET_PDEATHSIG).
"""

import os
import signal
import socket
import sys

from bert_int8.core.errors import PipelineError
from bert_int8.core.parent_death import die_with_parent


def cpu_count():
    """The CPUs this process may use."""
    return len(os.sched_getaffinity(0))


def thread_share(threads, workers):
    """Intra-op threads of each worker: `threads` (default: the CPUs this process may use)
    split evenly over `workers`, at least one; None (the runtime's default) for one worker
    without `threads`."""
    if workers <= 1:
        return threads
    total = threads or cpu_count()
    return max(1, total // workers)


def _probe(host, port):
    """Fail in one line, before forking, when the port cannot be bound. A plain bind, without
    SO_REUSEPORT: with it, a second `serve --workers` would quietly share the port of a server
    still running (and split its traffic with another model)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise PipelineError(f"{host}:{port}: cannot listen: {err.strerror}") from None


def _socket(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise PipelineError(f"{host}:{port}: cannot listen: {err.strerror}") from None
    return sock


def shared_socket(host, port):
    """The worker's own socket on the shared port: bound, not yet listening (uvicorn listens
    once the app has started, so no connection waits on a worker that is not serving)."""
    sock = _socket(host, port)
    sock.set_inheritable(True)
    return sock


def fork(workers, host, port, threads=None):
    """With one worker, returns at once. With several, forks them: returns in each worker
    (which goes on to load its model and serve on `shared_socket`), and in the parent
    supervises them and exits with the service's status; it never returns there."""
    if workers < 1:
        raise PipelineError(f"--workers: {workers}; at least 1")
    if threads is not None and threads < workers:
        raise PipelineError(f"--threads {threads} over --workers {workers}: each worker needs a thread of its own")
    if workers == 1:
        return
    if not hasattr(socket, "SO_REUSEPORT") or not hasattr(os, "fork"):
        raise PipelineError("--workers above 1 needs SO_REUSEPORT and fork (Linux)")
    if port == 0:  # each worker would get a port of its own
        raise PipelineError("--workers above 1 needs a --port other than 0")
    _probe(host, port)
    sys.stdout.flush()
    sys.stderr.flush()
    pids, parent = [], os.getpid()
    for _ in range(workers):
        pid = os.fork()
        if pid == 0:
            die_with_parent(parent)
            return
        pids.append(pid)
    sys.exit(_supervise(pids))


def _supervise(pids):
    """Wait for the workers; the status of the first that ends on its own, else 0."""
    alive, stopping, status = set(pids), [False], 0

    def stop(signum=None, frame=None):
        stopping[0] = True
        for pid in alive:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)  # from a terminal the workers get SIGINT too: SIGTERM is not a second Ctrl-C
    while alive:
        try:
            pid, wait_status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid not in alive:
            continue
        alive.discard(pid)
        code = os.waitstatus_to_exitcode(wait_status)
        ended_on_its_own = not stopping[0]
        if ended_on_its_own or code not in (0, -signal.SIGTERM, -signal.SIGINT):
            status = status or (code if code > 0 else 1)
        if ended_on_its_own:
            print(f"bert-int8 serve: worker {pid} exited ({code}); stopping the others", file=sys.stderr)
            stop()
    return status
