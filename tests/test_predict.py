import json
import subprocess
import sys

import pytest
from conftest import REPO
from fixtures import CLASSES, save_tiny_model_dirs

from bert_int8.predict import Classifier

TITLES = ["银行利率今日发布", "球队比赛冠军", "电影明星导演"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    return save_tiny_model_dirs(tmp_path_factory.mktemp("models"))


def test_classifier_detects_kind_and_keeps_order(model_dirs):
    fp32, int8 = (Classifier(d) for d in model_dirs)
    assert (fp32.kind, int8.kind) == ("fp32", "int8")
    assert fp32.labels == CLASSES
    rows = int8.predict(TITLES + TITLES[:1], top_k=3)
    assert [r["text"] for r in rows] == TITLES + TITLES[:1]
    assert rows[0] == rows[-1]
    for r in rows:
        probs = [s["probability"] for s in r["top_k"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True)
        assert r["label"] == r["top_k"][0]["label"] == CLASSES[r["label_id"]]
    # the same titles one at a time give the same answers (batching and padding change nothing)
    assert [int8.predict([t])[0]["label_id"] for t in TITLES] == [r["label_id"] for r in rows[:3]]


def _cli(args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "bert_int8.cli", *args], input=stdin, capture_output=True, text=True, cwd=REPO
    )


def test_predict_command_on_stdin_and_file(model_dirs, tmp_path):
    _, int8 = model_dirs
    on_stdin = _cli(["predict", str(int8), "--top-k", "2"], stdin="\n".join(TITLES) + "\n\n")
    assert on_stdin.returncode == 0, on_stdin.stderr
    rows = [json.loads(line) for line in on_stdin.stdout.splitlines()]
    assert [r["text"] for r in rows] == TITLES and all(len(r["top_k"]) == 2 for r in rows)

    f = tmp_path / "titles.txt"
    f.write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    from_file = _cli(["predict", str(int8), "--file", str(f), "--top-k", "2", "--threads", "1"])
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout == on_stdin.stdout

    as_args = _cli(["predict", str(int8), *TITLES, "--top-k", "2"])
    assert as_args.stdout == on_stdin.stdout


def test_predict_command_errors(model_dirs, tmp_path):
    _, int8 = model_dirs
    missing = _cli(["predict", str(tmp_path / "nope"), "x"])
    assert (
        missing.returncode == 2 and missing.stderr.strip() == f"error: {tmp_path / 'nope'}: model directory not found"
    )
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    r = _cli(["predict", str(int8), "--file", str(bad)])
    assert r.returncode == 2 and "not valid UTF-8" in r.stderr and len(r.stderr.strip().splitlines()) == 1
