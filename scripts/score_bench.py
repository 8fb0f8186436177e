"""What `bert-int8 score` sustains on a corpus: titles/s and peak resident memory on the local
engine and on Ray (a local cluster), for synthetic corpora of 1,000,000 and 200,000 titles made
from the test split's titles, against the model's real-title rate from the benchmark.

    python scripts/score_bench.py                 # measure; writes metrics/score_bench.json
    python scripts/score_bench.py --write-docs    # docs/scoring.md's figures from that file

Run it on an idle machine after `dvc repro` (it scores with `auto`, the throughput choice, as
`bert-int8 score auto` does), and nothing beside it: each job is a process of its own, timed
whole (start-up, reading, scoring and writing; Ray's cluster start included), once.

- Titles/s: titles over the job's wall time. The benchmark's figure (metrics/benchmark.json,
  real_titles.<model>.dynamic_titles_per_s) scores the test titles in length-sorted batches of
  64 with every core; its interval gives the ratio's. The host's speed drifts (a run on this
  VM went 18% slower throughout than one an hour before), so the model's rate is also timed
  again just before each local job, in this process (`title_rate`), for a ratio of the same
  moment.
- Peak memory: the local job's peak resident set (the kernel's ru_maxrss of the process). On
  Ray the job is many processes (driver, raylet, GCS, actors): the peak of their sum, read
  from /proc every 0.2 s, so a shorter peak may be missed.

The corpora are JSON Lines (a line per title: the format that streams line by line); the
outputs are Parquet parts of 100,000 rows, deleted after each job. tests/test_score_docs.py
checks that docs/scoring.md shows what metrics/score_bench.json holds.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bert_int8.score.job import plural

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "metrics" / "score_bench.json"
DOCS = ROOT / "docs" / "scoring.md"
START, END = "<!-- score-bench:start (scripts/score_bench.py --write-docs) -->", "<!-- score-bench:end -->"
SIZES = (1_000_000, 200_000)
ENGINES = ("local", "ray")
MIB = 1024 * 1024
# the targets (bert-int8 score, issue 30)
LOCAL_VS_BENCHMARK, RAY_VS_LOCAL, PEAK_MIB, SIZE_SPREAD = 0.90, 0.70, 600, 0.10


def make_corpus(path, n, seed=0):
    """`n` titles drawn from data/raw/test.txt, shuffled, as JSON Lines."""
    titles = [line.split("\t")[0] for line in (ROOT / "data/raw/test.txt").read_text(encoding="utf-8").splitlines()]
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(n):
            f.write(json.dumps({"text": rng.choice(titles)}, ensure_ascii=False) + "\n")


# Runs the job as its own child and prints the job's peak resident set (wait4's ru_maxrss) on
# the last line of stderr. A child's ru_maxrss starts at its parent's peak (exec keeps the high
# water mark of the memory it replaces), so the job is started from this small interpreter, not
# from the script, which holds a model of its own (title_rate).
LAUNCHER = """
import os, sys
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print("maxrss_kib", usage.ru_maxrss, file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _session_rss(sid):
    """The resident memory of every process in session `sid`, in bytes."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) != sid:  # the session id, after the state, ppid and pgrp
                continue
            with open(f"/proc/{entry}/status") as f:
                total += next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmRSS:"))
        except (OSError, StopIteration, IndexError):
            continue  # gone, or a kernel thread
    return total


def run_job(corpus, out, engine, extra=()):
    """One `bert-int8 score auto` job: its wall time, the peak resident memory of its process
    (the kernel's ru_maxrss) and of its whole session (sampled), and its manifest."""
    command = [sys.executable, "-m", "bert_int8.cli", "score", "auto", str(corpus), "-o", str(out), "--engine", engine]
    command = [sys.executable, "-S", "-c", LAUNCHER, *command, *extra]
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True)
    peak, said, done = [0], [], threading.Event()

    def sample():  # Ray's processes sit in the job's session
        while not done.wait(0.2):
            peak[0] = max(peak[0], _session_rss(proc.pid))

    threads = [threading.Thread(target=sample), threading.Thread(target=lambda: said.append(proc.stderr.read()))]
    for t in threads:
        t.start()
    proc.wait()
    seconds = time.perf_counter() - start
    done.set()
    for t in threads:
        t.join()
    if proc.returncode != 0:
        sys.exit(f"score_bench: {' '.join(command)} failed:\n{said[0][-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return seconds, int(said[0].splitlines()[-1].removeprefix("maxrss_kib ")) * 1024, peak[0], manifest


def title_rate(model, titles, passes=6):
    """The model's real-title rate now, in this process: `Classifier.logits` over the test
    titles (length-sorted batches of 64, every core), as the benchmark times them; one warm-up
    pass, then `passes` timed ones: (median, lo, hi) by intervals.median_interval (six passes: the
    95% order-statistic interval is min..max)."""
    from bert_int8.serve.predict import Classifier
    from bert_int8.stats.intervals import median_interval

    clf = Classifier(model)
    clf.logits(titles)
    rates = []
    for _ in range(passes):
        start = time.perf_counter()
        clf.logits(titles)
        rates.append(len(titles) / (time.perf_counter() - start))
    median, lo, hi, _ = median_interval(rates)
    return {"value": round(median, 1), "lo": round(lo, 1), "hi": round(hi, 1)}


def measure(sizes, engines):
    sys.path.insert(0, str(ROOT))
    from bert_int8.core import machine
    from bert_int8.serve.choose import choose

    choice = choose("throughput", allow_other_machine=False)
    name = choice.model.name
    bench = json.loads((ROOT / "metrics/benchmark.json").read_text(encoding="utf-8"))
    rate = bench["real_titles"][name]
    reference = {k: rate[f"dynamic_titles_per_s{s}"] for k, s in (("value", ""), ("lo", "_lo"), ("hi", "_hi"))}
    runs, same_run = {}, {}
    test_titles = [
        line.split("\t")[0] for line in (ROOT / "data/raw/test.txt").read_text(encoding="utf-8").splitlines()
    ]
    with tempfile.TemporaryDirectory(prefix="score-bench-") as tmp:
        for n in sizes:
            # the host's speed drifts between the benchmark stage and now: the model's rate is
            # timed again just before the local job, in this process (idle while the job runs)
            same_run[n] = title_rate(choice.model, test_titles)
            corpus = Path(tmp) / f"corpus-{n}.jsonl"
            make_corpus(corpus, n)
            jobs = [(engine, engine, ()) for engine in engines]
            if "ray" in engines and n == SIZES[-1]:  # Ray's other layout: an actor per core
                cpus = os.cpuplural()
                jobs.append((f"ray_{cpus}x1", "ray", ("--actors", str(cpus), "--threads", "1")))
            for key, engine, extra in jobs:
                out = Path(tmp) / "out"
                shutil.rmtree(out, ignore_errors=True)
                seconds, process_peak, session_peak, manifest = run_job(corpus, out, engine, extra)
                peak = process_peak if engine == "local" else session_peak
                titles = manifest["scored_this_run"] + manifest["rejected_this_run"]
                runs[f"{key}_{n}"] = {
                    "engine": engine,
                    "titles": titles,
                    "seconds": round(seconds, 2),
                    "titles_per_s": round(titles / seconds, 1),
                    "peak_rss_mib": round(peak / MIB, 1),
                    "peak_rss_how": "ru_maxrss of the process"
                    if engine == "local"
                    else "sum over the session, sampled",
                    "workers": manifest["engine"],
                }
                print(f"score_bench: {key}, {n:,} titles: {runs[f'{key}_{n}']}", file=sys.stderr)
                shutil.rmtree(out, ignore_errors=True)
            corpus.unlink()
    return {
        "machine": {
            **machine.environment(libraries=("onnxruntime", "openvino", "ray", "pyarrow")),
        },
        "model": {"name": name, "path": str(choice.model.path), "chosen_by": choice.by},
        "benchmark_real_titles_per_s": reference,
        "same_run_real_titles_per_s": {str(n): r for n, r in same_run.items()},
        "runs": runs,
        "ratios": ratios(runs, reference, same_run),
    }


def ratios(runs, reference, same_run):
    """Each size's local rate over the benchmark's and over the same run's real-title rate
    (with the interval of that rate), Ray's over local, and the memory checks; each with its
    target and whether it is met."""
    out = {}
    for n in SIZES:
        local, ray = runs.get(f"local_{n}"), runs.get(f"ray_{n}")
        if local:
            r = local["titles_per_s"]
            for name, rate in (("benchmark", reference), ("same_run", same_run.get(n))):
                if rate:
                    out[f"local_vs_{name}_{n}"] = {
                        "value": round(r / rate["value"], 3),
                        "lo": round(r / rate["hi"], 3),
                        "hi": round(r / rate["lo"], 3),
                        "target": LOCAL_VS_BENCHMARK,
                        "met": r / rate["value"] >= LOCAL_VS_BENCHMARK,
                    }
        if local and ray:
            v = ray["titles_per_s"] / local["titles_per_s"]
            out[f"ray_vs_local_{n}"] = {"value": round(v, 3), "target": RAY_VS_LOCAL, "met": v >= RAY_VS_LOCAL}
    big, small = runs.get(f"local_{SIZES[0]}"), runs.get(f"local_{SIZES[1]}")
    if big:
        out["local_peak_rss_mib"] = {
            "value": big["peak_rss_mib"],
            "target": PEAK_MIB,
            "met": big["peak_rss_mib"] <= PEAK_MIB,
        }
    if big and small:
        spread = abs(big["peak_rss_mib"] - small["peak_rss_mib"]) / big["peak_rss_mib"]
        out["local_peak_rss_spread"] = {"value": round(spread, 3), "target": SIZE_SPREAD, "met": spread <= SIZE_SPREAD}
    return out


def render(result):
    """docs/scoring.md's figures block from a score_bench.json."""
    m, runs = result["machine"], result["runs"]
    ref = result["benchmark_real_titles_per_s"]
    lines = [
        f"Measured by `scripts/score_bench.py` on {m['cpu']} ({_cpu_id(m)}{m['logical_cpus']} logical CPUs; "
        f"ISA {m['isa']}), scoring with `auto`'s throughput choice, "
        f"{result['model']['name']}, whose real-title rate in the benchmark is "
        f"{ref['value']:,.0f} titles/s ({ref['lo']:,.0f}-{ref['hi']:,.0f}). Each job ran once, "
        "timed whole (start-up included). The host's speed drifts between the benchmark stage and "
        "this script, so the model's rate is timed again just before each local job, in process on "
        "the lean path `score` uses (`Classifier.logits`; the benchmark stage calls the model "
        "through its torch-facing wrapper): "
        + "; ".join(
            f"{int(n):,} titles: {r['value']:,.0f} ({r['lo']:,.0f}-{r['hi']:,.0f})"
            for n, r in result.get("same_run_real_titles_per_s", {}).items()
        )
        + ".",
        "",
        "| engine | titles | titles/s | peak resident memory |",
        "|---|---:|---:|---:|",
    ]
    for run in runs.values():
        workers = run["workers"]
        how = (
            f"{plural(workers['actors'], 'actor')} x {plural(workers['threads_per_actor'], 'thread')}"
            if run["engine"] == "ray"
            else _local_threads(workers)
        )
        memory = f"{run['peak_rss_mib']:,.0f} MiB" + (" (all its processes)" if run["engine"] == "ray" else "")
        lines.append(f"| {run['engine']} ({how}) | {run['titles']:,} | {run['titles_per_s']:,.0f} | {memory} |")
    lines.append("")
    words = {
        "local_vs_benchmark": "local engine over the benchmark stage's real-title rate",
        "local_vs_same_run": "local engine over the model's real-title rate timed just before it",
        "ray_vs_local": "Ray over the local engine",
    }
    for key, r in result["ratios"].items():
        verdict = "met" if r["met"] else "not met"
        if key.startswith(tuple(words)):
            what, n = key.rsplit("_", 1)
            span = f" ({r['lo']:.2f}-{r['hi']:.2f})" if "lo" in r else ""
            lines.append(
                f"- {words[what]}, {int(n):,} titles: {r['value']:.2f}{span}; target {r['target']:.2f}, {verdict}"
            )
        elif key == "local_peak_rss_mib":
            lines.append(
                f"- local peak memory, 1,000,000 titles: {r['value']:,.0f} MiB; target {r['target']} MiB, {verdict}"
            )
        else:
            lines.append(
                f"- local peak memory, 200,000 against 1,000,000 titles: {r['value']:.1%} apart; "
                f"target {r['target']:.0%}, {verdict}"
            )
    return "\n".join(lines) + "\n"


def _local_threads(workers):
    if isinstance(workers["threads"], int):
        return plural(workers["threads"], "thread")
    return f"{workers['threads']} threads on {plural(workers['cpus'], 'CPU')}"


def _cpu_id(m):
    from bert_int8.core.machine import cpu_id_words

    words = cpu_id_words(m.get("cpu_id") or {})
    return f"{words}; " if words else ""


def write_docs(result):
    text = DOCS.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{START}\n{render(result)}{END}{tail}", encoding="utf-8")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write-docs", action="store_true", help="only regenerate docs/scoring.md's figures")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help=argparse.SUPPRESS)
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.write_docs:
        result = measure(args.sizes, args.engines)
        RESULT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    write_docs(json.loads(RESULT.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
