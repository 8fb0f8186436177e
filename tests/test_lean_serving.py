"""Lean serving: for the directories of backends with numpy_io, `bert-int8 predict` and `serve` run in
a process where importing torch or transformers fails, and answer what the full path answers
(the transformers tokenizer, `modeling.predict_logits`, the model's torch call), computed here
in-process. `auto` runs there too, on metrics written for the tiny models."""

import contextlib
import json
import os
import subprocess
import sys

import httpx
import numpy as np
import pytest
from conftest import REPO
from fixtures import CLASSES, full_path_probabilities, read_until, tiny_models_in_every_backend

from bert_int8.backends.model_dir import ModelDir
from bert_int8.core.digest import model_sha256
from bert_int8.core.machine import environment
from bert_int8.serve.http_load import free_port

# Titles the tiny tokenizer cuts (longer than its 32 tokens), splits into unknown pieces, or
# lower-cases; more of them than one batch of BATCH, of different lengths.
TITLES = [
    "银行利率今日发布",
    "球队比赛冠军",
    "电影明星导演演唱会综艺",
    "股票大盘涨停个股券商" * 6,
    "ABC Ünïcødé 全角ＡＢＣ 😀",
    "芯片",
    "高考考生留学大学学校 今日新的将在了和与对为中国上海北京发布最新消息",
    "x",
    "警方男子村民事故法院",
    "网游玩家游戏副本公测",
    "外交总统政府会谈选举",
    "楼盘房价地产开盘住宅",
]
BATCH = 4
BLOCK = '''
import sys


class NoTrainingStack:
    """Importing torch or transformers fails, as where they are not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"No module named {name!r} (blocked by the lean serving test)")
        return None


sys.meta_path.insert(0, NoTrainingStack())
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return tiny_models_in_every_backend(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def lean_env(tmp_path_factory):
    """The environment of a process where importing torch or transformers fails."""
    block = tmp_path_factory.mktemp("block")
    (block / "sitecustomize.py").write_text(BLOCK, encoding="utf-8")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(block), str(REPO)]))


def assert_same_answers(rows, titles, probs):
    assert [r["text"] for r in rows] == titles
    for row, p in zip(rows, probs):
        assert row["label"] == CLASSES[int(np.argmax(p))] == CLASSES[row["label_id"]]
        got = {s["label"]: s["probability"] for s in row["top_k"]}
        assert set(got) == set(CLASSES)
        for i, label in enumerate(CLASSES):
            assert abs(got[label] - p[i]) <= 1e-6, (row["text"], label, got[label], p[i])


def cli(args, env, cwd=REPO):
    return subprocess.run(
        [sys.executable, "-m", "bert_int8.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


@contextlib.contextmanager
def serving(args, env, cwd=REPO, startup_s=120):
    """`bert-int8 serve ARGS` on a free loopback port; yields an httpx client once uvicorn has
    said on stderr that it listens (its info line, read as it comes)."""
    port = free_port()
    command = ["serve", *args, "--port", str(port), "--threads", "1", "--log-level", "info"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bert_int8.cli", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        read_until(proc.stderr, f"Uvicorn running on http://127.0.0.1:{port}", startup_s)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stderr.close()


@pytest.mark.parametrize("which", ["onnx", "openvino"])
def test_lean_predict_answers_as_the_full_path(built, lean_env, which):
    model_dir = built / "models_save" / which / "int8"
    result = cli(["predict", str(model_dir), *TITLES, "--top-k", "10", "--batch-size", str(BATCH)], lean_env)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    # the same batches (length-sorted, BATCH titles): dynamic int8 answers depend on batch-mates
    assert_same_answers(rows, TITLES, full_path_probabilities(model_dir, TITLES, BATCH))


@pytest.mark.parametrize("which, name", [("onnx", "onnx_int8"), ("openvino", "openvino_int8")])
def test_lean_service_answers_as_the_full_path(built, lean_env, which, name):
    model_dir = built / "models_save" / which / "int8"
    with serving([str(model_dir)], lean_env) as client:
        health = client.get("/health").json()
        r = client.post("/predict", json={"texts": TITLES})
    assert (health["model"], health["path"], health["chosen"]) == (name, str(model_dir), None)
    assert (health["kind"], health["labels"]) == ("int8", CLASSES)
    assert r.status_code == 200, r.text
    # one request is one batch of the service's 64 titles at most; top 3 labels per title
    probs = full_path_probabilities(model_dir, TITLES, 64)
    for row, p in zip(r.json()["predictions"], probs):
        best = np.argsort(-p, kind="stable")[:3]
        assert [s["label"] for s in row["top_k"]] == [CLASSES[i] for i in best]
        assert all(abs(s["probability"] - p[i]) <= 1e-6 for s, i in zip(row["top_k"], best))


def test_lean_path_imports_no_training_stack_even_where_installed(built):
    """Where torch and transformers are installed, the lean path still leaves them unimported."""
    code = (
        "import sys\n"
        "from bert_int8.serve.predict import Classifier\n"
        f"for d in {[str(built / 'models_save' / b / 'int8') for b in ('onnx', 'openvino')]!r}:\n"
        "    Classifier(d).predict(['银行利率'])\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers', 'nncf')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_pytorch_directory_without_torch_fails_in_one_line(built, lean_env):
    model_dir = built / "models_save" / "int8"
    result = cli(["predict", str(model_dir), "银行"], lean_env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {model_dir}: a PyTorch model needs torch and transformers (pip install 'bert-int8[pipeline]'); "
        "models of the other runtimes run without them"
    ]


def write_metrics(root, figures):
    """metrics/ for the models under root/models_save, as the pipeline writes them, measured on this machine."""
    paths = {
        "fp32": "models_save/fp32",
        "onnx_int8": "models_save/onnx/int8",
        "openvino_int8": "models_save/openvino/int8",
    }
    env = environment()
    artifacts = {n: {"path": paths[n], "sha256": model_sha256(ModelDir.open(root / paths[n]))} for n in figures}
    metrics = root / "metrics"
    metrics.mkdir(exist_ok=True)
    # the real-title figures auto ranks on: here the fixed-shape ones renamed
    real = {
        n: {
            k.replace("throughput_seq_per_s", "dynamic_titles_per_s").replace(
                "latency_ms_p50", "title_latency_ms_p50"
            ): v
            for k, v in f.items()
        }
        for n, f in figures.items()
    }
    setup = {"cpu": env["cpu"], "isa": env["isa"], "cpu_id": env["cpu_id"], "batch_size": 64}
    bench = {"setup": setup, "trained": figures, "real_titles": real}
    (metrics / "benchmark.json").write_text(json.dumps({**bench, "artifacts": artifacts}))
    (metrics / "evaluate.json").write_text(
        json.dumps(
            {
                "models": {n: {} for n in figures},
                "comparisons": {f"{n}_vs_fp32": {"loses_at_most": 0.002} for n in figures},
                "test_examples": 100,
                "max_f1_loss": 0.01,
            }
        )
    )


def _fig(tp, lat, size):
    return {
        "throughput_seq_per_s": tp,
        "throughput_seq_per_s_lo": tp * 0.98,
        "throughput_seq_per_s_hi": tp * 1.02,
        "latency_ms_p50": lat,
        "latency_ms_p50_lo": lat * 0.98,
        "latency_ms_p50_hi": lat * 1.02,
        "file_bytes": size,
        "disturbed": False,
    }


def test_auto_serves_and_predicts_the_measured_winner_lean(built, lean_env):
    # onnx_int8 is fastest but dynamic: throughput goes to openvino_int8, latency to onnx_int8
    write_metrics(
        built,
        {
            "fp32": _fig(900, 3.4, 23_000_000),
            "onnx_int8": _fig(3000, 0.7, 5_800_000),
            "openvino_int8": _fig(1700, 1.0, 6_100_000),
        },
    )
    with serving(["auto"], lean_env, cwd=built) as client:
        health = client.get("/health").json()
    assert (health["model"], health["path"]) == ("openvino_int8", "models_save/openvino/int8")
    chosen = health["chosen"]
    assert chosen["by"] == "throughput" and chosen["candidates"] == ["openvino_int8"]
    assert "torch is not installed" in chosen["skipped"]["fp32"]  # a PyTorch model cannot run here
    assert chosen["reason"] == (
        "openvino_int8: 1,700 real titles/s [1,666, 1,734] on the test titles batched by length, the only candidate; "
        "loses at most 0.20 point of "
        "test macro-F1 against the teacher's FP32 at 95% (max_f1_loss 1 point)"
    )
    assert "batch-mates" in chosen["skipped"]["onnx_int8"]

    by_latency = cli(["predict", "auto", *TITLES[:3], "--prefer", "latency"], lean_env, cwd=built)
    named = cli(["predict", "models_save/onnx/int8", *TITLES[:3]], lean_env, cwd=built)
    assert by_latency.returncode == 0, by_latency.stderr
    assert by_latency.stdout == named.stdout and len(by_latency.stdout.splitlines()) == 3
    assert by_latency.stderr.startswith("auto: models_save/onnx/int8 by latency: onnx_int8: 0.70 ms p50")

    bench_file = built / "metrics" / "benchmark.json"
    bench = json.loads(bench_file.read_text())
    bench["artifacts"]["openvino_int8"]["sha256"] = "0" * 64  # the directory is not what was measured
    bench_file.write_text(json.dumps(bench))
    changed = cli(["serve", "auto"], lean_env, cwd=built)
    assert changed.returncode == 2 and len(changed.stderr.strip().splitlines()) == 1
    assert "models_save/openvino/int8: its files differ from the openvino_int8 that metrics" in changed.stderr
