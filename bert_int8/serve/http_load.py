"""Run the HTTP service and drive it on loopback with the load generator (bert_int8.serve.load_gen):
a sweep over concurrency and titles per request, bounded in time and count, 127.0.0.1 only.
Each run is watched for other load on the machine (bert_int8.measure.disturbance): a disturbed run is
run once more, and marked if it is disturbed again."""

import contextlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bert_int8.core.errors import PipelineError
from bert_int8.measure.disturbance import CpuWatch, descendants
from bert_int8.stats.intervals import interval_coverage, order_statistic, ratio_interval, summarize
from bert_int8.stats.ranking import call, label

PROBE_TITLE = "新闻"  # the first request a started server answers: valid under any --max-chars


class Served(str):
    """A running server's base URL (a str), with `proc` and `pid` (the `bert-int8 serve`
    process, the parent of its workers), `workers`, and `start_to_first_answer_s`: from
    starting the process to its first answered /predict."""

    proc: subprocess.Popen
    pid: int
    workers: int
    start_to_first_answer_s: float

    def rss_mib(self):
        """Resident memory of the server's process tree (its workers included), from /proc."""
        return round(tree_rss_kib([self.pid]) / 1024, 1)


def tree_rss_kib(pids):
    """VmRSS summed over `pids` and their descendants alive now (KiB; pages that processes
    share, as forked workers do, count once per process)."""
    return sum(_rss_kib(pid) for pid in descendants(pids))


def _rss_kib(pid):
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0  # ended since it was listed
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(model_dir, threads, extra_args=(), startup_timeout=120, workers=1):
    """`bert-int8 serve` in a subprocess on a free loopback port; yields its base URL (a
    `Served`) once it has answered a /predict and every one of its `workers` has answered
    /health."""
    port = free_port()
    started = time.monotonic()
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
            "--workers",
            str(workers),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = Served(f"http://127.0.0.1:{port}")
    base.pid, base.workers, base.proc = proc.pid, workers, proc
    try:
        deadline = time.monotonic() + startup_timeout
        pids, first = set(), None
        # Each poll is a new connection: the kernel spreads them over the workers listening.
        while len(pids) < workers:
            try:
                r = httpx.get(f"{base}/health", timeout=1)
                if r.status_code == 200:
                    pids.add(r.json().get("pid"))
                    if first is None:
                        answer = httpx.post(f"{base}/predict", json={"texts": [PROBE_TITLE]}, timeout=30)
                        if answer.status_code != 200:
                            raise PipelineError(f"{model_dir}: the server's first answer was {answer.status_code}")
                        first = time.monotonic() - started
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                raise PipelineError(f"{model_dir}: the server exited at start-up: {proc.stderr.read().strip()[-300:]}")
            if time.monotonic() > deadline:
                raise PipelineError(f"{model_dir}: the server did not answer within {startup_timeout}s")
            if len(pids) < workers:
                time.sleep(0.05)  # polling for readiness, bounded by the deadline above
        base.start_to_first_answer_s = round(first, 3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def drive(base, texts, concurrency, seconds, texts_per_request, max_requests=200_000, on_start=None):
    """`concurrency` clients (bert_int8.serve.load_gen, a process of its own) post `texts_per_request`
    titles per request back to back for `seconds`; returns load_gen's summary. `on_start(pid)`
    is told the load generator's pid once it runs."""
    count = max(1, min(500, len(texts) // texts_per_request))
    bodies = [texts[i * texts_per_request : (i + 1) * texts_per_request] for i in range(count)]
    config = {
        "url": f"{base}/predict",
        "bodies": bodies,
        "concurrency": concurrency,
        "seconds": seconds,
        "max_requests": max_requests,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bert_int8.serve.load_gen"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if on_start:
        on_start(proc.pid)
    try:
        # on stdin: 64-title bodies overflow an argument list
        out, err = proc.communicate(json.dumps(config, ensure_ascii=False), timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise PipelineError(f"load generator did not finish within {seconds + 120:.0f} s") from None
    if proc.returncode != 0:
        raise PipelineError(f"load generator failed: {err.strip()[-300:]}")
    return json.loads(out)


def watched_drive(base, texts, concurrency, seconds, texts_per_request, disturbed_share, label=None):
    """`drive`, watched for other load on the machine (ours: this process, the server's
    process tree, the load generator). When others took more than `disturbed_share` of the
    machine's CPU in some one-second window, the run is done once more; if that one is disturbed
    too, it is kept with `"disturbed": true` and one warning line names the share. Adds
    `others_cpu_share` (None where /proc/stat is missing) and `disturbed` to the summary."""
    pids = [base.pid] if getattr(base, "pid", None) else []
    for _ in range(2):
        with CpuWatch(pids=pids) as watch:
            r = drive(base, texts, concurrency, seconds, texts_per_request, on_start=watch.watch)
        share = watch.worst_share
        disturbed = share is not None and share > disturbed_share
        if not disturbed:
            break
    r["others_cpu_share"], r["disturbed"] = share, disturbed
    if disturbed:
        print(
            f"warning: {label or base}: other processes took {share:.1%} of the machine's CPU during the run "
            f"(above load_test.disturbed_share {disturbed_share:.1%}), twice; its figures are marked disturbed",
            file=sys.stderr,
        )
    return r


def sweep(base, texts, params, model_rate=None, bar=None, name=None):
    """Every (concurrency, titles per request) of load_test.*, keyed c<N> for single titles and
    c<N>_batch<K> for K titles per request, each with its share of the model's own real-title
    rate (from the benchmark) when given, and watched for other load (`watched_drive`; `name`
    labels its warning); `bar` (bert_int8.core.progress) advances once per run. For a `Served` base,
    also its resident memory now (it has answered once) and after the sweep, and the time its
    process took to its first answer."""
    # whether the server batches across requests (not for dynamic int8), as its /health says
    report = {"shares_batches": httpx.get(f"{base}/health", timeout=10).json()["shares_batches"]}
    if isinstance(base, Served):
        report.update(rss_mib_at_start=base.rss_mib(), start_to_first_answer_s=base.start_to_first_answer_s)
    drive(base, texts, 1, min(2.0, params.seconds), 1)  # warm-up
    for per_request in params.texts_per_request:
        for concurrency in params.concurrency:
            key = f"c{concurrency}" + ("" if per_request == 1 else f"_batch{per_request}")
            label = f"{name or base} {key}"
            r = watched_drive(base, texts, concurrency, params.seconds, per_request, params.disturbed_share, label)
            if model_rate:
                r["share_of_model_rate"] = round(r["titles_per_s"] / model_rate, 4)
            report[key] = r
            if bar:
                bar.update()
    if isinstance(base, Served):
        report["rss_mib_after_sweep"] = base.rss_mib()
    return report


def layouts(threads, streams):
    """The serving layouts of `threads` threads to compare: {name: (workers, threads per worker,
    streams per worker)}; one worker with `threads` streams where the runtime has them."""
    out = {f"workers_1_threads_{threads}": (1, threads, 1), f"workers_{threads}_threads_1": (threads, 1, 1)}
    if streams:
        out[f"workers_1_streams_{threads}"] = (1, threads, threads)
    return out


def compare_layouts(model, name, texts, params, flags=()):
    """The ModelDir `model` served in each of `layouts` (params.threads; streams where its
    runtime has them), single titles from the highest of `params.concurrency` clients: every
    layout's server up at once (idle ones take no CPU), and `params.layout_runs` runs of each,
    taking turns, so that a slow phase of the host falls on all of them (each run watched like
    the sweep's). Per layout: the median of its runs' titles/s, p50 and p99 with their intervals
    (95% from 6 runs; `interval_coverage` says what they are worth), and its server's resident
    memory; then which served most (a tie where the intervals overlap), and each other layout's
    titles/s over the first's (`order`), with its interval."""
    top, runs = max(params.concurrency), params.layout_runs
    plan = layouts(params.threads, model.runtime.streams)
    out = {
        "model": name,
        "concurrency": top,
        "texts_per_request": 1,
        "runs": runs,
        "order": list(plan),  # the metrics file sorts its keys: the layouts' order, the first the reference
        "interval_coverage": round(interval_coverage(runs, order_statistic(runs)), 4),
    }
    figures = {layout: {"titles_per_s": [], "latency_ms_p50": [], "latency_ms_p99": []} for layout in plan}
    disturbed = dict.fromkeys(plan, 0)
    with contextlib.ExitStack() as stack:
        bases = {}
        for layout, (workers, _, streams) in plan.items():
            extra = [*flags, "--streams", str(streams)]
            bases[layout] = stack.enter_context(running_server(model.path, params.threads, extra, workers=workers))
            drive(bases[layout], texts, 1, min(2.0, params.seconds), 1)  # warm-up
        for i in range(runs):
            for layout, base in bases.items():
                what = f"{name} {layout} run {i + 1}"
                r = watched_drive(base, texts, top, params.seconds, 1, params.disturbed_share, what)
                for key, values in figures[layout].items():
                    values.append(r[key])
                disturbed[layout] += r["disturbed"]
        rss = {layout: base.rss_mib() for layout, base in bases.items()}
    for layout, (workers, threads, streams) in plan.items():
        out[layout] = {
            "workers": workers,
            "threads_per_worker": threads,
            "streams_per_worker": streams,
            **summarize(figures[layout], {"titles_per_s": 1, "latency_ms_p50": 3, "latency_ms_p99": 3}),
            "runs_titles_per_s": figures[layout]["titles_per_s"],
            "disturbed_runs": disturbed[layout],
            "rss_mib": rss[layout],
        }
    out["faster"] = label(*call(out, list(plan), "titles_per_s", lowest=False))
    first, *others = plan
    for layout in others:
        r, lo, hi = ratio_interval(figures[layout]["titles_per_s"], figures[first]["titles_per_s"])
        out[f"{layout}_over_{first}"] = {
            "titles_per_s": round(r, 4),
            "titles_per_s_lo": round(lo, 4),
            "titles_per_s_hi": round(hi, 4),
        }
    said = ", ".join(f"{layout} {out[layout]['titles_per_s']:,.0f}" for layout in plan)
    print(f"{name} at {top} clients, titles/s (median of {runs} runs): {said}; most: {out['faster']}")
    return out
