"""Run the HTTP service and drive it on loopback with the load generator (bert_int8.load_gen):
a sweep over concurrency and titles per request, bounded in time and count, 127.0.0.1 only."""

import contextlib
import json
import socket
import subprocess
import sys
import time

import httpx

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


def drive(base, texts, concurrency, seconds, texts_per_request, max_requests=200_000):
    """`concurrency` clients (bert_int8.load_gen, a process of its own) post `texts_per_request`
    titles per request back to back for `seconds`; returns load_gen's summary."""
    count = max(1, min(500, len(texts) // texts_per_request))
    bodies = [texts[i * texts_per_request : (i + 1) * texts_per_request] for i in range(count)]
    config = {
        "url": f"{base}/predict",
        "bodies": bodies,
        "concurrency": concurrency,
        "seconds": seconds,
        "max_requests": max_requests,
    }
    result = subprocess.run(
        [sys.executable, "-m", "bert_int8.load_gen"],
        input=json.dumps(config, ensure_ascii=False),  # on stdin: 64-title bodies overflow an argument list
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    if result.returncode != 0:
        raise PipelineError(f"load generator failed: {result.stderr.strip()[-300:]}")
    return json.loads(result.stdout)


def sweep(base, texts, params, model_rate=None, bar=None):
    """Every (concurrency, titles per request) of load_test.*, keyed c<N> for single titles and
    c<N>_batch<K> for K titles per request, each with its share of the model's own real-title
    rate (from the benchmark) when given; `bar` (bert_int8.progress) advances once per run."""
    # whether the server batches across requests (not for dynamic int8), as its /health says
    report = {"shares_batches": httpx.get(f"{base}/health", timeout=10).json()["shares_batches"]}
    drive(base, texts, 1, min(2.0, params.seconds), 1)  # warm-up
    for per_request in params.texts_per_request:
        for concurrency in params.concurrency:
            key = f"c{concurrency}" + ("" if per_request == 1 else f"_batch{per_request}")
            r = drive(base, texts, concurrency, params.seconds, per_request)
            if model_rate:
                r["share_of_model_rate"] = round(r["titles_per_s"] / model_rate, 4)
            report[key] = r
            if bar:
                bar.update()
    return report
