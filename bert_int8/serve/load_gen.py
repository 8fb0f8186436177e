"""A light HTTP load generator for the service: asyncio clients on raw keep-alive connections,
in a process of their own, so the load test measures the server rather than the client.

    echo '{"url": "http://127.0.0.1:8000/predict", "bodies": [[title, ...], ...],
           "concurrency": 8, "seconds": 5, "max_requests": 100000}' | python -m bert_int8.serve.load_gen

Prints one JSON line: requests, errors, requests/s, titles/s, latency percentiles, and the CPU
seconds this process spent (a reader sees what the client cost). Bounded in time and count, and
only loopback addresses are accepted.
"""

import asyncio
import json
import resource
import sys
import time
from urllib.parse import urlsplit

import numpy as np

LOOPBACK = ("127.0.0.1", "localhost", "::1")


async def _request(reader, writer, host, path, body):
    """One POST on a keep-alive connection: (status, wants_close)."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    status = int((await reader.readline()).split()[1])
    length, close = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "connection" and value.strip().lower() == "close":
            close = True
    await reader.readexactly(length)
    return status, close


async def _client(host, port, path, bodies, start_at, deadline, budget, out, timeout=30):
    reader = writer = None
    k = start_at
    try:
        while time.monotonic() < deadline and budget["left"] > 0:
            budget["left"] -= 1
            body, titles = bodies[k % len(bodies)]
            k += 1
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            t0 = time.perf_counter()
            try:
                status, close = await asyncio.wait_for(_request(reader, writer, host, path, body), timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, IndexError, ValueError):
                status, close = None, True  # a dropped or garbled answer: an error, and a new connection
            took = time.perf_counter() - t0
            if status == 200:
                out["latencies"].append(took)
                out["titles"] += titles
            else:
                out["errors"] += 1
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def _run(config):
    url = urlsplit(config["url"])
    if url.hostname not in LOOPBACK:
        raise SystemExit(f"load_gen: {url.hostname}: only loopback addresses are allowed")
    bodies = [(json.dumps({"texts": texts}, ensure_ascii=False).encode(), len(texts)) for texts in config["bodies"]]
    out = {"latencies": [], "titles": 0, "errors": 0}
    budget = {"left": config.get("max_requests", 1_000_000)}
    start = time.perf_counter()
    deadline = time.monotonic() + config["seconds"]
    n = config["concurrency"]
    await asyncio.gather(
        *(_client(url.hostname, url.port, url.path, bodies, k * 7919, deadline, budget, out) for k in range(n))
    )
    return out, time.perf_counter() - start


def summarize(out, elapsed, cpu_seconds):
    ms = np.asarray(out["latencies"]) * 1000

    def pct(q):
        return round(float(np.percentile(ms, q)), 2) if len(ms) else None

    return {
        "requests": len(ms),
        "errors": out["errors"],
        "requests_per_s": round(len(ms) / elapsed, 2),
        "titles_per_s": round(out["titles"] / elapsed, 2),
        "latency_ms_p50": pct(50),
        "latency_ms_p95": pct(95),
        "latency_ms_p99": pct(99),
        "client_cpu_seconds": round(cpu_seconds, 2),
        "seconds": round(elapsed, 2),
    }


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(args[0] if args else sys.stdin.read())
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    out, elapsed = asyncio.run(_run(config))
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    print(json.dumps(summarize(out, elapsed, cpu)))


if __name__ == "__main__":
    main()
