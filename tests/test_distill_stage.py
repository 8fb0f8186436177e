"""The distill stage as DVC runs it, on the micro params: killed, it resumes from its last
checkpoint; under two processes it takes the steps the global batch implies; without a teacher
it stops in one line, having written nothing."""

import json
import math
import os
import shutil

import preloaded
import pytest
from conftest import REPO, ok, run_script, set_params
from fixtures import kill_after_first_epoch

PER_EPOCH = math.ceil(300 / 16)  # the fixture's 300 training titles, MICRO_PARAMS' distill batch


@pytest.fixture(scope="module")
def teacher_once(tmp_path_factory, prepared_once):
    """A teacher trained once for this module on the micro data (one epoch: any teacher will do)."""
    root = tmp_path_factory.mktemp("taught")
    for name in ("data", "metrics"):
        shutil.copytree(prepared_once / name, root / name)
    shutil.copy(prepared_once / "params.yaml", root / "params.yaml")
    set_params(root, train={"epochs": 1})
    ok(run_script("train", root))
    return root / "models_save" / "fp32"


@pytest.fixture
def taught(prepared, teacher_once):
    """The micro repository (prepared) with that teacher in models_save/fp32."""
    shutil.copytree(teacher_once, prepared / "models_save" / "fp32")
    return prepared


def test_killed_distill_resumes_from_its_last_checkpoint(taught):
    workdir, epochs = taught, 8
    set_params(workdir, distill={"epochs": epochs})
    env = {"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    said = kill_after_first_epoch("distill", workdir, PER_EPOCH)
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


def test_the_loss_gets_the_teachers_logits_in_training_and_none_on_dev(taught, monkeypatch):
    """Through the Trainer, its collator and its column filter: each training batch's loss sees
    the teacher's logits for those titles, the dev passes none."""
    import numpy as np

    from bert_int8.core.params import load_params
    from bert_int8.data.splits import load_prepared
    from bert_int8.data.tokenizer import load_tokenizer
    from bert_int8.model.modeling import load_fp32, predict_logits
    from bert_int8.train import distill as distill_module

    seen, real = [], distill_module.distill_loss

    def spy(logits, labels, teacher_logits, temperature, soft_weight):
        seen.append(None if teacher_logits is None else teacher_logits.detach().numpy().copy())
        return real(logits, labels, teacher_logits, temperature, soft_weight)

    monkeypatch.setattr(distill_module, "distill_loss", spy)
    params = load_params().distill.model_copy(update={"epochs": 1.0})
    teacher, tokenizer = load_fp32("models_save/fp32"), load_tokenizer("models_save/fp32")
    _, train = load_prepared("train")
    dev = load_prepared("dev")[1]
    distill_module.distill(teacher, params, tokenizer, train, dev)
    training = [s for s in seen if s is not None]
    assert len(training) == PER_EPOCH and training[0].shape == (16, 10)
    assert any(s is None for s in seen)  # the dev pass: the labels alone
    # the logits a batch carries are the teacher's for titles of the train split
    every = predict_logits(teacher, tokenizer, train.texts)
    for row in training[0]:
        assert np.abs(every - row).max(axis=1).min() < 1e-4
