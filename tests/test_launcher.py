"""The benchmark's launcher: several fresh processes per model, round-robin over the models, their
passes pooled, a disturbed process retimed, no worker outliving its parent.

Most tests put a recording stand-in for the worker (`launcher._run_worker`) that hands back
pass lists made here, so every expected figure is worked out by hand from those lists."""

import contextlib
import json
import os
import select
import signal
import subprocess
import sys

import pytest
from fixtures import save_tiny_model_dirs

from bert_int8.backends.model_dir import ModelDir
from bert_int8.core.errors import PipelineError
from bert_int8.core.params import BenchmarkParams, parse_params
from bert_int8.measure import launcher
from bert_int8.measure.comparison import compare_models
from bert_int8.measure.disturbance import _children

PARAMS = BenchmarkParams(
    threads=1, seq_len=8, batch_size=4, warmup=1, runs=6, throughput_runs=3, min_pass_seconds=0, repeats=6
)


@pytest.fixture(scope="module")
def toy_dirs(tmp_path_factory):
    fp32, int8 = save_tiny_model_dirs(tmp_path_factory.mktemp("toy"))
    return {"fp32": ModelDir.open(fp32), "int8": ModelDir.open(int8)}


class FakeWorker:
    """Stands in for one worker process: records (model path, passes asked for) in start order
    and answers each model's k-th process with the k-th of `answers[path]`: (result, share)."""

    def __init__(self, answers):
        self.answers = {path: list(a) for path, a in answers.items()}
        self.started = []

    def __call__(self, spec, zygote):
        self.started.append((spec["path"], spec["passes"]))
        return self.answers[spec["path"]].pop(0)


def _result(throughput, latency=(1.0,), cold=1.0):
    passes = {"throughput_seq_per_s": list(throughput), "latency_ms_p50": list(latency)}
    passes["latency_ms_calls"] = list(latency)
    return {"passes": passes, "extra": {"cold_latency_ms": cold, "cold_batch_ms": cold}}


def test_processes_go_round_robin_over_the_models_with_their_share_of_the_passes(monkeypatch):
    params = PARAMS.model_copy(update={"repeats": 7, "processes": 3})
    names = ["a", "b", "c"]
    fake = FakeWorker({f"/m/{n}": [(_result([1.0]), 0.0)] * 3 for n in names})
    monkeypatch.setattr(launcher, "_run_worker", fake)
    launcher.time_in_processes({n: _Dir(n) for n in names}, params, 50, say=_no_lines)
    # 7 passes over 3 processes: 3, 2, 2; every model's first process before any model's second
    assert fake.started == [(f"/m/{n}", k) for k in (3, 2, 2) for n in names]


class _Dir:
    """What the launcher reads of a ModelDir to write a spec."""

    def __init__(self, name):
        self.name, self.path, self.precision = name, f"/m/{name}", "fp32"


def _no_lines(line):
    raise AssertionError(f"nothing to say on a quiet machine, said: {line}")


def test_figures_and_ratios_come_from_every_pass_of_every_process(monkeypatch, toy_dirs):
    params = PARAMS.model_copy(update={"processes": 3})
    fp32, int8 = (str(d.path) for d in toy_dirs.values())
    fake = FakeWorker(
        {
            fp32: [(_result([1.0, 1.0], cold=5.0), 0.0), (_result([1.0, 1.0], cold=1.0), 0.0)]
            + [(_result([1.0, 1.0], cold=2.0), 0.0)],
            int8: [(_result([10.0, 20.0], latency=(1.0, 2.0)), 0.0), (_result([30.0, 40.0], latency=(3.0, 4.0)), 0.0)]
            + [(_result([50.0, 60.0], latency=(5.0, 100.0)), 0.0)],
        }
    )
    monkeypatch.setattr(launcher, "_run_worker", fake)
    out = compare_models(toy_dirs, 50, params)["models"]
    # six passes in all (pooled), so min..max is the interval (coverage 1 - 2 / 2**6); the
    # first process alone would say 1.5 [1, 2]
    assert (out["int8"]["latency_ms_p50"], out["int8"]["latency_ms_p50_lo"], out["int8"]["latency_ms_p50_hi"]) == (
        3.5,
        1.0,
        100.0,
    )
    # the ratio over all 6 x 6 pairs: int8's six values against 1, Moses cuts 5 ratios at each
    # end (Mann-Whitney for 6 and 6): 35 [10, 60]; from the first processes alone it would be 15
    vs = out["int8"]["vs_fp32"]
    assert (vs["throughput"], vs["throughput_lo"], vs["throughput_hi"]) == (35.0, 10.0, 60.0)
    # cold: each process's own first call, median over the three (5, 1, 2), not the first one's
    assert out["fp32"]["cold_latency_ms"] == 2.0


def test_a_disturbed_process_is_retimed_once_and_a_model_still_disturbed_is_marked(monkeypatch):
    params = PARAMS.model_copy(update={"repeats": 6, "processes": 2, "disturbed_share": 0.05})
    fake = FakeWorker(
        {
            # a: the first process disturbed then clean on its retry; the second disturbed twice
            "/m/a": [(_result([1.0, 2.0, 2.5]), 0.5), (_result([3.0, 4.0, 4.5]), 0.01)]
            + [(_result([5.0, 6.0, 6.5]), 0.3), (_result([7.0, 8.0, 8.5]), 0.2)],
            "/m/b": [(_result([1.0, 1.0, 1.0]), 0.01), (_result([1.0, 1.0, 1.0]), 0.02)],
        }
    )
    monkeypatch.setattr(launcher, "_run_worker", fake)
    said = []
    out = launcher.time_in_processes({n: _Dir(n) for n in "ab"}, params, 50, say=said.append)
    # 6 passes over 2 processes: 3 each
    assert fake.started == [("/m/a", 3), ("/m/a", 3), ("/m/b", 3), ("/m/a", 3), ("/m/a", 3), ("/m/b", 3)]
    passes, _, share, disturbed = out["a"]
    # the retry's passes replace the disturbed ones; the worst share is that of the passes kept
    assert passes["throughput_seq_per_s"] == [3.0, 4.0, 4.5, 7.0, 8.0, 8.5] and share == 0.2 and disturbed
    assert out["b"][2:] == (0.02, False)
    assert [line.split(":")[0] for line in said] == ["benchmark", "benchmark", "warning"]
    assert "a (process 1 of 2)" in said[0] and "a (process 2 of 2)" in said[1] and said[2].startswith("warning: a ")


def test_more_processes_than_passes_is_refused():
    with pytest.raises(PipelineError, match="benchmark.processes"):
        parse_params({"benchmark": {"repeats": 6, "processes": 7}})


PARENT = """
import sys
from bert_int8.measure import launcher
from bert_int8.backends.model_dir import ModelDir
from bert_int8.core.params import BenchmarkParams

params = BenchmarkParams(threads=1, seq_len=8, batch_size=4, warmup=1, runs=3, throughput_runs=1, min_pass_seconds=0, repeats=6, processes=1)
launcher.time_in_processes({"fp32": ModelDir.open(sys.argv[1])}, params, int(sys.argv[2]), (sys.argv[3], sys.argv[1]))
"""


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="needs Linux pidfd_open")
def test_a_killed_parent_leaves_no_worker_behind(toy_dirs, tmp_path):
    # The titles file is a FIFO: the worker, past its start-up, blocks reading it, and our
    # opening it for writing returns only once the worker has opened it: no sleep, no guess.
    fifo = tmp_path / "titles"
    os.mkfifo(fifo)
    fp32 = toy_dirs["fp32"].path
    vocab = json.loads((fp32 / "config.json").read_text())["vocab_size"]
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(fp32), str(vocab), str(fifo)])
    left, gone = set(), {}
    try:
        with open(fifo, "w"):
            (zygote,) = _children(parent.pid)
            (worker,) = _children(zygote)  # forked by the zygote, blocked on the FIFO
            left = {worker, zygote}
            gone = {os.pidfd_open(p): p for p in left}
            parent.kill()  # SIGKILL: no handler of the parent's runs, only the kernel can tell the zygote
            parent.wait()
            while gone:
                ended, _, _ = select.select(list(gone), [], [], 60)
                if not ended:
                    break
                for fd in ended:
                    left.discard(gone.pop(fd))
                    os.close(fd)
        assert not left, f"outlived their parent: {left}"
    finally:
        parent.kill()
        parent.wait()
        for fd in gone:
            os.close(fd)
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_the_worker_freezes_the_heap_after_loading_and_before_timing(toy_dirs, tmp_path, monkeypatch):
    events = []
    monkeypatch.setattr(launcher, "freeze_heap", lambda: events.append("freeze"))
    monkeypatch.setattr(launcher, "fixed_shape_passes", lambda *a: events.append("timed") or ({}, {}))
    monkeypatch.setattr(ModelDir, "load", lambda self, threads: events.append("load"))
    fp32 = toy_dirs["fp32"]
    spec = launcher._spec(fp32, PARAMS, 50, None, 1)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    launcher._worker(tmp_path / "spec.json", tmp_path / "out.json")
    assert events == ["load", "freeze", "timed"]


def test_the_canary_counts_add_up_over_processes_and_the_first_timings_give_the_calls_without_it(monkeypatch, toy_dirs):
    """A model whose retimed passes were slow the first time: its canary counts summed over its
    processes, and the calls without the canary made from the first timings (UNCHECKED + key)."""
    from bert_int8.measure.canary import UNCHECKED

    params = PARAMS.model_copy(update={"processes": 3})
    fp32, int8 = (str(d.path) for d in toy_dirs.values())

    def result(kept, first, retimed):
        r = _result(kept)
        r["passes"][UNCHECKED + "throughput_seq_per_s"] = list(first)
        r["passes"][UNCHECKED + "latency_ms_p50"] = [1.0]
        counts = {
            "canary_checked": 4,
            "canary_retimed": retimed,
            "canary_marked": 0,
            "canary_fastest_ms": retimed + 1.0,
        }
        r["extra"].update(counts)
        return (r, 0.0)

    fake = FakeWorker(
        {
            fp32: [result([2.0, 2.0], [2.0, 2.0], 0)] * 3,
            int8: [
                result([3.0, 3.0], [1.0, 1.0], 2),
                result([3.0, 3.0], [1.0, 1.5], 1),
                result([3.0, 3.0], [1.0, 1.0], 2),
            ],
        }
    )
    monkeypatch.setattr(launcher, "_run_worker", fake)
    out = compare_models(toy_dirs, 50, params)
    assert out["winners"]["batch_4"] == "int8" and out["canary"]["without"]["winners"]["batch_4"] == "fp32"
    assert out["canary"]["models"]["int8"] == {"checked": 12, "retimed": 5, "marked": 0, "fastest_ms": 2.0}
    assert out["canary"]["models"]["fp32"]["retimed"] == 0
