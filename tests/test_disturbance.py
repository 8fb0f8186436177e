"""The benchmark notices another process using the CPU while it times a model, and does not
cry wolf on a quiet machine. The hog is a real process spinning on one core; the share it
should show is computed here from the machine's size, not from the code under test."""

import json
import os
import subprocess
import sys

import pytest

from bert_int8.backends.model_dir import ModelDir
from bert_int8.core.params import BenchmarkParams
from bert_int8.measure.disturbance import CpuWatch, machine_busy_seconds
from bert_int8.measure.launcher import time_in_processes

pytestmark = pytest.mark.skipif(machine_busy_seconds() is None, reason="needs Linux /proc/stat")

HOG = "import time\nend = time.time() + 120\nwhile time.time() < end: pass"
# a toy model takes a second or two per timing: a few hundred calls, in two processes
PARAMS = BenchmarkParams(
    threads=1, seq_len=8, batch_size=4, warmup=2, runs=600, throughput_runs=60, repeats=6, processes=2
)


@pytest.fixture
def hog():
    """One process spinning on one core: 1 / cores of the machine's CPU, not ours."""
    proc = subprocess.Popen([sys.executable, "-c", HOG])
    yield 1 / os.cpu_count()
    proc.kill()
    proc.wait()


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory):
    from fixtures import save_tiny_model_dirs

    fp32, _ = save_tiny_model_dirs(tmp_path_factory.mktemp("toy"))
    return ModelDir.open(fp32)


def _vocab(model_dir):
    return json.loads((model_dir.path / "config.json").read_text())["vocab_size"]


def _busy_wait(seconds):
    """Our own work (this process's thread): must never count as another's."""
    import time

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_a_hog_beside_us_is_seen_and_our_own_work_is_not(hog):
    with CpuWatch(interval=0.25) as watch:
        _busy_wait(1.5)
    # the hog's core, less what it lost to us and the sampler on a busy machine
    assert watch.worst_share >= 0.6 * hog and watch.mean_share >= 0.5 * hog


# What these tests can hold a quiet machine to. Ours miscounted as another's would read as a
# whole core (1 / cores of the machine) each; half of that is the bound, or the stage's own
# threshold where that is higher (many cores). On 2 cores the stage's 5% is a target for an
# idle benchmark machine (checked by the stage's runs, not here): a CI machine is a guest whose
# steal time and neighbours can take that much with nothing of ours wrong, and a test held to
# it failed there.
OWN_CORE_MISCOUNTED = max(BenchmarkParams().disturbed_share, 0.5 / os.cpu_count())


def test_our_own_work_on_a_quiet_machine_is_not_flagged():
    # the benchmark's own window (1 s): shorter ones count a tick or two of kernel threads as a share
    with CpuWatch() as watch:
        _busy_wait(3.0)
    assert watch.worst_share < OWN_CORE_MISCOUNTED, f"others took {watch.worst_share:.1%}"


def test_a_model_timed_beside_a_hog_is_retimed_then_marked(toy_dir, hog):
    said = []
    timed = time_in_processes({"fp32": toy_dir}, PARAMS, _vocab(toy_dir), say=said.append)
    passes, _, share, disturbed = timed["fp32"]
    assert disturbed and share >= 0.6 * hog
    # each process is disturbed, so each is timed again; one warning for the model
    for i, line in enumerate(said[:-1], 1):
        assert (
            line.startswith(f"benchmark: fp32 (process {i} of 2): other processes took") and "timing it again" in line
        )
    assert len(said) == 3
    assert said[-1].startswith("warning: fp32 timed while other processes took") and "disturbed" in said[-1]
    assert len(passes["throughput_seq_per_s"]) == PARAMS.repeats


def test_a_model_timed_on_a_quiet_machine_is_not_marked(toy_dir):
    # the workers (ours, a core each while they time) must not count as others
    params = PARAMS.model_copy(update={"disturbed_share": OWN_CORE_MISCOUNTED})
    said = []
    _, _, share, disturbed = time_in_processes({"fp32": toy_dir}, params, _vocab(toy_dir), say=said.append)["fp32"]
    assert not disturbed and share < params.disturbed_share and said == [], f"others took {share:.1%}: {said}"
