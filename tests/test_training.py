import json
import os
import subprocess
import sys
import time

import yaml
from conftest import REPO

from bert_int8.training import resumable_checkpoint, run_fingerprint


def test_checkpoints_resume_only_for_the_same_run(tmp_path):
    ck = tmp_path / "checkpoints"
    assert resumable_checkpoint(ck, "run-a") is None
    for step, complete in ((10, True), (20, True), (30, False)):  # 30: killed while saving
        (ck / f"checkpoint-{step}").mkdir()
        if complete:
            (ck / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert resumable_checkpoint(ck, "run-a") == str(ck / "checkpoint-20")
    assert resumable_checkpoint(ck, "run-b") is None  # other params or data: start afresh
    assert list(ck.iterdir()) == [ck / "run_fingerprint.json"]


def test_fingerprint_follows_params_and_data(tmp_path):
    f = tmp_path / "train.tsv"
    f.write_text("a\t1\n")
    a = run_fingerprint({"lr": 1}, [f])
    assert a == run_fingerprint({"lr": 1}, [f]) != run_fingerprint({"lr": 2}, [f])
    f.write_text("a\t2\n")
    assert run_fingerprint({"lr": 1}, [f]) != a


def test_killed_training_resumes_from_its_last_checkpoint(workdir):
    """Start train, kill it after its first checkpoint, rerun: it resumes and finishes."""
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    params["train"]["epochs"] = 40
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    assert subprocess.run([sys.executable, str(REPO / "stages/prepare_data.py")], cwd=workdir, env=env).returncode == 0

    proc = subprocess.Popen(
        [sys.executable, str(REPO / "stages/train.py")],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ck = workdir / "models_save" / "checkpoints"
    deadline = time.monotonic() + 120
    while not list(ck.glob("checkpoint-*/trainer_state.json")):
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert not (workdir / "models_save" / "fp32").exists()  # nothing half-written

    rerun = subprocess.run(
        [sys.executable, str(REPO / "stages/train.py")], cwd=workdir, env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resuming from models_save/checkpoints/checkpoint-" in rerun.stdout
    assert json.loads((workdir / "metrics" / "train.json").read_text())["resumed"] is True
    assert (workdir / "models_save" / "fp32" / "model.safetensors").is_file()
    assert not ck.exists()
