"""Drive the HTTP service with concurrent clients on loopback and measure it.

Bounded on both counts: a fixed number of client threads, each sending requests one after
another until a fixed time is up. Traffic goes to 127.0.0.1 only.
"""

import contextlib
import socket
import subprocess
import sys
import threading
import time

import httpx
import numpy as np

from .errors import PipelineError


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(model_dir, threads, extra_args=(), startup_timeout=120):
    """`bert-int8 serve` in a subprocess on a free loopback port; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bert_int8.cli",
            "serve",
            str(model_dir),
            "--port",
            str(port),
            "--threads",
            str(threads),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise PipelineError(f"{model_dir}: the server exited at start-up: {proc.stderr.read().strip()[-300:]}")
            if time.monotonic() > deadline:
                raise PipelineError(f"{model_dir}: the server did not answer within {startup_timeout}s")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def drive(base, texts, clients, seconds, texts_per_request):
    """Each client posts batches of titles back to back for `seconds`; returns the summary."""
    latencies, errors = [], []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(k):
        i = k * 7919  # each client starts at another place in the titles
        with httpx.Client(base_url=base, timeout=30) as http:
            while time.monotonic() < stop_at:
                batch = [texts[(i + j) % len(texts)] for j in range(texts_per_request)]
                i += texts_per_request
                start = time.perf_counter()
                r = http.post("/predict", json={"texts": batch})
                took = time.perf_counter() - start
                with lock:
                    (latencies if r.status_code == 200 else errors).append(took)

    start = time.perf_counter()
    workers = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1000 if latencies else np.zeros(1)
    return {
        "requests": len(latencies),
        "errors": len(errors),
        "requests_per_s": round(len(latencies) / elapsed, 2),
        "titles_per_s": round(len(latencies) * texts_per_request / elapsed, 2),
        "latency_ms_p50": round(float(np.percentile(ms, 50)), 2),
        "latency_ms_p95": round(float(np.percentile(ms, 95)), 2),
        "latency_ms_p99": round(float(np.percentile(ms, 99)), 2),
    }
