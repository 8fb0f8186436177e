"""The distill stage as DVC runs it, on the micro params: killed, it resumes from its last
checkpoint; under two processes it takes the steps the global batch implies; without a teacher
it stops in one line, having written nothing."""

import fcntl
import json
import math
import os
import re
import subprocess
import sys

import preloaded
import pytest
from conftest import REPO, ok, run_script, set_params
from fixtures import read_until

PER_EPOCH = math.ceil(300 / 16)  # the fixture's 300 training titles, MICRO_PARAMS' distill batch


@pytest.fixture
def taught(prepared):
    """The micro repository with its teacher trained (one epoch: any teacher will do)."""
    set_params(prepared, train={"epochs": 1})
    ok(run_script("train", prepared))
    return prepared


def test_killed_distill_resumes_from_its_last_checkpoint(taught):
    workdir, epochs = taught, 8
    set_params(workdir, distill={"epochs": epochs})
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "stages/distill.py")],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    # as train's test: a line past the first epoch comes after that epoch's checkpoint, and a
    # one-page pipe left unread blocks the stage long before it could finish
    fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    try:
        said = read_until(
            proc.stdout, lambda text: any(int(n) > PER_EPOCH for n in re.findall(r"distill: step (\d+)/", text))
        )
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert f"distill: step {PER_EPOCH + 1}/{epochs * PER_EPOCH} " in said
    ck = workdir / "models_save" / "checkpoints-distill"
    assert list(ck.glob("checkpoint-*/trainer_state.json"))
    assert not (workdir / "models_save" / "student").exists()  # nothing half-written

    rerun = preloaded.run([REPO / "stages/distill.py"], workdir, env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resuming from models_save/checkpoints-distill/checkpoint-" in rerun.stdout
    report = json.loads((workdir / "metrics" / "distill.json").read_text())
    assert report["resumed"] is True and report["steps"] == epochs * PER_EPOCH
    assert (workdir / "models_save" / "student" / "fp32" / "model.safetensors").is_file()
    assert (workdir / "dvclive-distill" / "metrics.json").is_file()
    assert not ck.exists()


def test_two_processes_distill_one_student_with_the_global_batch(taught):
    workdir = taught
    set_params(workdir, distill={"processes": 2, "threads": 2, "epochs": 2})
    result = ok(run_script("distill", workdir))
    assert "distill: 2 processes" in result.stdout and result.stdout.count("dev accuracy") == 1
    report = json.loads((workdir / "metrics" / "distill.json").read_text())
    assert report["processes"] == 2 and report["steps"] == 2 * PER_EPOCH
    assert sorted(p.name for p in (workdir / "models_save" / "student").iterdir()) == ["fp32"]


def test_no_teacher_is_one_line_and_nothing_written(prepared):
    result = run_script("distill", prepared)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: models_save/fp32"), lines
    assert not (prepared / "models_save").exists() and not (prepared / "metrics" / "distill.json").exists()
