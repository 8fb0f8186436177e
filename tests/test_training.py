import json
import math
import os

import preloaded
from conftest import REPO, ok, run_script, set_params
from fixtures import kill_after_first_epoch, save_tiny_model_dirs

from bert_int8.model.modeling import load_fp32
from bert_int8.train.training import resumable_checkpoint, run_fingerprint


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


def test_killed_training_resumes_from_its_last_checkpoint(prepared):
    """Start train, kill it after its first checkpoint, rerun: it resumes and finishes."""
    workdir = prepared
    epochs, per_epoch = 8, math.ceil(300 / 16)  # the fixture's 300 training titles, MICRO_PARAMS' batch
    set_params(workdir, train={"epochs": epochs})
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    said = kill_after_first_epoch("train", workdir, per_epoch)
    assert f"train: step {per_epoch + 1}/{epochs * per_epoch} " in said
    ck = workdir / "models_save" / "checkpoints"
    assert list(ck.glob("checkpoint-*/trainer_state.json"))  # one complete checkpoint at least
    assert not (workdir / "models_save" / "fp32").exists()  # nothing half-written

    rerun = preloaded.run([REPO / "stages/train.py"], workdir, env)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "resuming from models_save/checkpoints/checkpoint-" in rerun.stdout
    report = json.loads((workdir / "metrics" / "train.json").read_text())
    assert report["resumed"] is True and report["steps"] == epochs * per_epoch
    assert (workdir / "models_save" / "fp32" / "model.safetensors").is_file()
    assert not ck.exists()


def test_two_processes_train_one_model_with_the_global_batch(prepared):
    """train.processes: 2 runs DDP under torchrun (gloo on CPU): one model, one metrics file,
    and the optimizer steps that the global batch implies, as one process would take."""
    workdir = prepared
    set_params(workdir, train={"processes": 1, "threads": 2, "epochs": 3})
    ok(run_script("train", workdir))
    one = json.loads((workdir / "metrics" / "train.json").read_text())
    set_params(workdir, train={"processes": 2})
    result = ok(run_script("train", workdir))
    assert "2 processes" in result.stdout

    report = json.loads((workdir / "metrics" / "train.json").read_text())
    # The same global batch size, steps and schedule: about the same loss as one process (the
    # Trainer's default loss scaling across devices would double it).
    assert abs(report["train_loss"] - one["train_loss"]) < 0.1 * one["train_loss"], (report, one)
    n, batch = report["train_examples"], 16  # MICRO_PARAMS' global batch
    assert report["processes"] == 2
    assert report["steps"] == 3 * math.ceil(n / batch)
    model = load_fp32(workdir / "models_save" / "fp32")
    assert model.config.num_labels == 10
    # Rank 0 alone wrote: no second metrics file or model, no leftovers, one DVCLive run.
    assert sorted(p.name for p in (workdir / "metrics").iterdir()) == ["data.json", "train.json"]
    assert sorted(p.name for p in (workdir / "models_save").iterdir()) == ["fp32"]
    assert result.stdout.count("dev accuracy") == 1
    assert (workdir / "dvclive" / "metrics.json").is_file()


def test_global_batch_must_divide_over_the_processes(workdir):
    set_params(workdir, train={"processes": 3})
    result = run_script("train", workdir)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: params.yaml: train.batch_size (16, the global batch) must divide evenly over train.processes (3)"
    ]


def test_an_error_in_the_processes_is_one_line_and_exit_2(prepared, tmp_path):
    """A model that cannot be loaded is found by every rank: rank 0 alone says it, the stage
    exits 2 as a single process would, and nothing is written."""
    workdir = prepared
    set_params(workdir, model={"pretrained": str(tmp_path / "no-such-model")}, train={"processes": 2})
    result = run_script("train", workdir)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("error: model.pretrained: cannot load"), errors
    assert not (workdir / "models_save").exists()


def test_a_finetuned_model_is_passed_on_by_one_process_whatever_train_processes(workdir):
    save_tiny_model_dirs(workdir / "models_in")
    (workdir / "models_in" / "fp32").rename(workdir / "models_in" / "mine")
    set_params(workdir, model={"finetuned": "models_in/mine"}, train={"processes": 2})
    ok(run_script("prepare_data", workdir))
    result = ok(run_script("train", workdir))
    assert "processes" not in result.stdout and result.stdout.count("passed on models_in/mine") == 1
    assert json.loads((workdir / "metrics" / "train.json").read_text())["finetuned"] == "models_in/mine"
    assert load_fp32(workdir / "models_save" / "fp32").config.num_labels == 10
