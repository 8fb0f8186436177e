"""The real `dvc repro` on micro params and fixture data, in a temporary git repository."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO
from fixtures import CLASSES, MICRO_PARAMS, check_call, write_raw

from bert_int8.core.machine import native_bf16

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.com"]


def _run(cmd, cwd, env):
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def _make_repo(root):
    """A copy of this repository's tracked files with fixture data, micro params, one commit."""
    # tracked files and new ones not yet committed (but not ignored ones: data, models, .venv)
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    results = ("dvc.lock", "metrics/", "dvclive/", "plots/", "models_save/", "data/")
    for rel in tracked:
        if (REPO / rel).is_file() and not rel.startswith(results):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, root / rel)
    write_raw(root / "data" / "raw")
    (root / "params.yaml").write_text(yaml.safe_dump(MICRO_PARAMS), encoding="utf-8")
    env = _env(root)
    _run(GIT + ["init", "-q", "-b", "main"], root, env)
    _run(GIT + ["add", "-A"], root, env)
    _run(GIT + ["commit", "-qm", "micro"], root, env)
    return root


def _env(root):
    env = dict(os.environ, PYTHONPATH=str(root), PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("THUCNEWS_DIR", None)
    return env


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """The micro repository after one full `dvc repro`, its results committed, and the output."""
    root = _make_repo(tmp_path_factory.mktemp("e2e") / "repo")
    out = dvc(["repro"], (root, _env(root)))
    _run(GIT + ["add", "-A"], root, _env(root))
    _run(GIT + ["commit", "-qm", "results"], root, _env(root))
    return root, out


@pytest.fixture
def repo(reproduced, tmp_path):
    """A private copy of the reproduced repository: each test may change it, in any order."""
    root = tmp_path / "repo"
    shutil.copytree(reproduced[0], root, symlinks=True)
    return root, _env(root)


def dvc(args, repo):
    root, env = repo
    return _run([sys.executable, "-m", "dvc", *args], root, env)


def stages_run(output):
    return re.findall(r"Running stage '([a-z_]+)'", output)


def test_full_pipeline(reproduced, repo):
    root, env = repo
    ran = stages_run(reproduced[1])
    assert sorted(ran) == sorted(
        ["prepare_data", "train", "distill", "classical", "quantize", "quantize_student", "qat_case", "evaluate"]
        + ["benchmark", "load_test", "figures"]
    )
    assert ran.index("distill") > ran.index("train") and ran.index("quantize_student") > ran.index("distill")
    assert ran.index("qat_case") > ran.index("distill")  # a receipt that no later stage reads
    assert [s for s in ran if s != "qat_case"][-4:] == ["evaluate", "benchmark", "load_test", "figures"]
    assert json.loads(dvc(["status", "--json"], repo)) == {}

    metrics = {p.stem: json.loads(p.read_text()) for p in (root / "metrics").glob("*.json")}
    assert set(metrics) == {
        "data", "train", "distill", "classical", "quantize", "quantize_student", "qat_case", "evaluate",
        "benchmark", "load_test",
    }  # fmt: skip
    assert metrics["data"]["splits"]["train"]["lines"] == 300
    assert metrics["quantize"]["recipes"]["torch"]["int8_linear_layers"] == 14  # 2 layers of 6, pooler, classifier
    assert metrics["quantize_student"]["recipes"]["torch"]["int8_linear_layers"] == 8  # its one layer
    assert set(metrics["quantize"]["budget"]) >= {"torch", "onnxruntime", "onnxruntime_static", "openvino"}
    # the student: one of the teacher's two layers (the first), every tensor copied from it
    assert metrics["distill"]["from_teacher_layers"] == [0] and metrics["distill"]["new_tensors"] == 0
    assert metrics["distill"]["parameters"] < metrics["distill"]["teacher_parameters"]
    teacher = {"fp32", "int8", "onnx_fp32", "onnx_int8", "onnx_int8_static", "openvino_fp32", "openvino_int8"}
    if native_bf16():
        teacher |= {"bf16", "openvino_bf16"}
    student = {f"student_{name}" for name in teacher}
    built = teacher | student
    ev = metrics["evaluate"]
    # models and comparisons in sections of their own; the run's facts beside them
    assert set(ev) == {"models", "comparisons", "test_examples", "max_f1_loss", "environment"}
    models, versus = ev["models"], ev["comparisons"]
    assert set(models) == built | {"classical"}
    # A model trained on fixture titles: better than chance, and int8 agrees with it.
    assert metrics["train"]["dev_accuracy"] > 0.5 and models["fp32"]["accuracy"] > 0.5
    assert models["student_fp32"]["accuracy"] > 0.5 and models["classical"]["accuracy"] > 0.5
    for model in teacher - {"fp32"}:
        assert versus[f"{model}_vs_fp32"]["prediction_agreement"] >= 0.8, model
    for model in built | {"classical"}:
        assert set(models[model]["per_class"]) == set(CLASSES)
        if model != "fp32":  # every model, the classical floor too, against the teacher's FP32
            assert versus[f"{model}_vs_fp32"]["verdict"] and "loses_at_most" in versus[f"{model}_vs_fp32"], model
    for model in student - {"student_fp32"}:  # and each student model against the student's FP32
        assert versus[f"{model}_vs_student_fp32"]["prediction_agreement"] >= 0.8, model
    assert ev["max_f1_loss"] == 0.01
    assert versus["onnx_fp32_vs_fp32"]["prediction_agreement"] == 1.0  # the same model, exported
    assert versus["openvino_fp32_vs_fp32"]["prediction_agreement"] == 1.0
    assert ev["environment"]["cpu"] == metrics["benchmark"]["setup"]["cpu"]
    bench = metrics["benchmark"]["trained"]
    assert set(bench) == set(metrics["benchmark"]["real_titles"]) == built
    # the best student model against the teacher's best: the point-fastest of each, its ratio
    head, real = metrics["benchmark"]["headline"]["student"], metrics["benchmark"]["real_titles"]
    best = max(student, key=lambda n: real[n]["dynamic_titles_per_s"])
    assert head["real_titles_student"] == best
    assert head["real_titles_teacher"] == max(teacher, key=lambda n: real[n]["dynamic_titles_per_s"])
    assert (
        head["real_titles_titles_per_s_lo"] <= head["real_titles_titles_per_s"] <= head["real_titles_titles_per_s_hi"]
    )
    assert metrics["benchmark"]["classical"]["dynamic_titles_per_s"] > 0
    # one real title per call: p50 and p95 with their intervals, the cold pass apart
    for name, r in real.items():
        for key in ("title_latency_ms_p50", "title_latency_ms_p95"):
            assert 0 < r[f"{key}_lo"] <= r[key] <= r[f"{key}_hi"], (name, key)
        assert r["title_latency_ms_p50"] <= r["title_latency_ms_p95"] and r["cold_title_latency_ms_max"] > 0
    assert head["real_titles_batch_1_teacher"] == min(teacher, key=lambda n: real[n]["title_latency_ms_p50"])
    # served with length buckets where the backend wants them (OpenVINO), each model timed the other way too
    for name, r in real.items():
        openvino = name.replace("student_", "").startswith("openvino")
        assert r["length_buckets"] == ([8, 16] if openvino else None), name  # data.max_seq_length 16: multiples of 8
        other = "unbucketed_title_latency_ms_p50" if r["length_buckets"] else "bucketed_title_latency_ms_p50"
        assert 0 < r[f"{other}_lo"] <= r[other] <= r[f"{other}_hi"], name
        assert r["buckets_over_none_lo"] <= r["buckets_over_none"] <= r["buckets_over_none_hi"], name
    # the case made for post-training int8 to lose: both builds of the student, judged on test
    case = metrics["qat_case"]
    assert case["calibration_items"] == 1 and case["test_examples"] == ev["test_examples"]
    assert case["qat"]["recipe"]["qat"]["steps"] == 20 and "qat" not in case["post_training"]["recipe"]
    for build in ("post_training", "qat"):
        assert case[build]["verdict"] and case[build]["loses_at_most"] >= 0
    assert bench["int8"]["weight_bytes"] < bench["fp32"]["weight_bytes"]
    assert bench["int8"]["vs_fp32"]["file_bytes"] < 1
    assert bench["onnx_int8"]["file_bytes"] < bench["onnx_fp32"]["file_bytes"]
    winners, real = metrics["benchmark"]["winners"]["trained"], metrics["benchmark"]["real_titles"]
    int8 = ["int8", "onnx_int8", "onnx_int8_static", "openvino_int8"]
    check_call(bench, int8, "throughput_seq_per_s", False, winners["int8_batch_8"])
    check_call(bench, sorted(teacher - set(int8)), "latency_ms_p50", True, winners["baseline_batch_1"])
    check_call(real, sorted(teacher), "dynamic_titles_per_s", False, winners["real_titles"])
    # each model timed alone: the worst CPU share others took is recorded for every one of them
    assert set(metrics["benchmark"]["setup"]["others_cpu_share"]["trained"]) == built
    assert all(r["cold_latency_ms"] > 0 and isinstance(r["disturbed"], bool) for r in bench.values())
    assert len((root / "plots/confusion/openvino_int8.csv").read_text().splitlines()) == 101
    assert sorted(p.stem for p in (root / "plots/confusion").glob("*.csv")) == sorted(built)
    assert (root / "dvclive/plots/metrics/eval/accuracy.tsv").is_file()
    assert sorted(p.name for p in (root / "plots/images").iterdir()) == [
        "confusion.svg",
        "frontier.svg",
        "speed.svg",
        "tradeoff.svg",
        "training.svg",
    ]
    tradeoff = (root / "plots/tradeoff.csv").read_text().splitlines()
    assert tradeoff[0] == "model,macro_f1,file_mib,latency_ms_p50,latency_ms_p50_lo,latency_ms_p50_hi"
    assert len(tradeoff) == 1 + len(built)
    assert (root / "models_save/int8/quantization_recipe.json").is_file()
    load = metrics["load_test"]
    assert set(load) - {"setup"} == {m for m in built if "bf16" not in m}
    # static int8 shares batches across requests; dynamic int8 cannot
    assert load["onnx_int8_static"]["shares_batches"] and not load["onnx_int8"]["shares_batches"]
    for model in set(load) - {"setup"}:
        assert set(load[model]) >= {"c1", "c4", "c1_batch4", "c4_batch4"}, model
        for run in ("c1", "c4", "c1_batch4", "c4_batch4"):
            r = load[model][run]
            assert r["requests"] > 0 and r["errors"] == 0 and r["share_of_model_rate"] > 0, (model, run)

    # The outputs that reviewers diff are small files tracked by git, not by the DVC cache.
    tracked = _run(["git", "ls-files"], root, env).split()
    assert {"dvc.lock", "metrics/evaluate.json", "plots/confusion/fp32.csv"} <= set(tracked)
    assert not any(t.startswith(("models_save/", "data/")) and not t.endswith("/.gitignore") for t in tracked)


def test_changing_one_quantize_param_reruns_only_what_follows(repo):
    """quantize.* is read by quantize alone: DVC finds only that stage changed, and once it has
    run, the stages its new models feed (figures follows those); data and training stay."""
    root, env = repo
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["quantize"]["scheme"] = "per_channel"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    changed = [{"changed deps": {"params.yaml": {"quantize": "modified"}}}]
    assert json.loads(dvc(["status", "--json"], repo)) == {"quantize": changed, "quantize_student": changed}
    int8_files = [root / "models_save/int8/int8_state_dict.pt", root / "models_save/onnx/int8/model.onnx"]
    before = [f.stat().st_size for f in int8_files]
    assert stages_run(dvc(["repro", "--single-item", "quantize"], repo)) == ["quantize"]
    dvc(["commit", "--force", "quantize_student"], repo)  # this test follows the teacher's models alone
    assert set(json.loads(dvc(["status", "--json"], repo))) == {"evaluate", "benchmark", "load_test"}
    # per-channel scales cost bytes: a scale per output channel where there was one per tensor
    assert all(f.stat().st_size > b for f, b in zip(int8_files, before))
    _run(GIT + ["commit", "-qam", "per-channel"], root, env)

    # A reviewer's view of that commit against the one before.
    modified = {d["path"] for d in json.loads(dvc(["diff", "HEAD~1", "HEAD", "--json"], repo))["modified"]}
    assert {"models_save/int8/", "models_save/onnx/"} <= modified
    assert not any(p.startswith(("models_save/fp32", "data/")) for p in modified)
    diff = json.loads(dvc(["metrics", "diff", "HEAD~1", "HEAD", "--json"], repo))["metrics/quantize.json"]
    assert diff["recipes.torch.scheme"] == {"old": "per_tensor", "new": "per_channel"}
    pdiff = json.loads(dvc(["params", "diff", "HEAD~1", "HEAD", "--json"], repo))
    assert pdiff["params.yaml"]["quantize.scheme"] == {"old": "per_tensor", "new": "per_channel"}


def test_changing_the_students_layers_reruns_distill_and_what_follows(repo):
    """`dvc exp run -S distill.layers=N`: distill reruns, then the stages its student feeds; data,
    training, the teacher's int8 models and the classical floor stay as they were. (Run up to
    evaluate, and the rest read from `dvc status`: the benchmark and the load test would run
    next, and nothing before distill would.)"""
    root, _ = repo
    teacher = (root / "models_save/int8/int8_state_dict.pt").read_bytes()
    out = dvc(["exp", "run", "-S", "distill.layers=2", "-S", "distill.hidden=16", "evaluate"], repo)
    assert stages_run(out) == ["distill", "quantize_student", "evaluate"]
    assert set(json.loads(dvc(["status", "--json"], repo))) == {"qat_case", "benchmark", "load_test", "figures"}
    distill = json.loads((root / "metrics/distill.json").read_text())
    assert distill["layers"] == 2 and distill["hidden"] == 16 and distill["from_teacher_layers"] == [0, 1]
    assert (root / "models_save/int8/int8_state_dict.pt").read_bytes() == teacher


def test_forced_rerun_gives_identical_models_and_evaluation(repo):
    """Training, quantizing and evaluating again from scratch give the same bytes: no stage that
    reads the models is stale afterwards (figures reads DVCLive's logs, which hold timestamps)."""
    root, _ = repo
    before = (root / "metrics/evaluate.json").read_bytes()
    stages = ["train", "distill", "quantize", "evaluate"]  # quantize_student builds as quantize does
    out = dvc(["repro", "--force", "--single-item", *stages], repo)
    assert stages_run(out) == stages
    assert (root / "metrics/evaluate.json").read_bytes() == before
    assert set(json.loads(dvc(["status", "--json"], repo))) <= {"figures"}


def test_another_machine_pulls_the_results_instead_of_retraining(repo, tmp_path):
    """A DVC remote (a local directory here; S3, GCS or SSH the same way): push from one clone,
    pull in a fresh clone with the raw data of its own, and nothing needs to run again."""
    root, env = repo
    remote = tmp_path / "remote"
    dvc(["remote", "add", "-d", "shared", str(remote)], repo)
    _run(GIT + ["commit", "-qam", "remote"], root, env)
    dvc(["push", "--run-cache"], repo)

    other = tmp_path / "other"
    _run(GIT + ["clone", "-q", str(root), str(other)], tmp_path, env)
    write_raw(other / "data" / "raw")  # the other machine's own copy of the raw data
    second = (other, _env(other))
    dvc(["pull"], second)
    assert json.loads(dvc(["status", "--json"], second)) == {}
    assert stages_run(dvc(["repro"], second)) == []
    for model in ("fp32", "int8", "openvino/int8"):
        a, b = root / "models_save" / model, other / "models_save" / model
        assert sorted(p.read_bytes() for p in a.rglob("*") if p.is_file()) == sorted(
            p.read_bytes() for p in b.rglob("*") if p.is_file()
        ), model
    for name in ("evaluate", "benchmark", "load_test"):
        assert (other / "metrics" / f"{name}.json").read_bytes() == (root / "metrics" / f"{name}.json").read_bytes()
