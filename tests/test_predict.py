import json
import subprocess
import sys

import pytest
from conftest import REPO
from fixtures import CLASSES, save_tiny_model_dirs

from bert_int8.serve.predict import Classifier

TITLES = ["银行利率今日发布", "球队比赛冠军", "电影明星导演"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    return save_tiny_model_dirs(tmp_path_factory.mktemp("models"))


def test_classifier_detects_kind_and_keeps_order(model_dirs):
    fp32, int8 = (Classifier(d) for d in model_dirs)
    assert (fp32.precision, int8.precision) == ("fp32", "int8")
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
    """The command as a user runs it: its own process."""
    return subprocess.run(
        [sys.executable, "-m", "bert_int8.cli", *args], input=stdin, capture_output=True, text=True, cwd=REPO
    )


def _main(args, capsys):
    """The same command's entry point (bert_int8.cli.main) in this process: (status, stdout,
    stderr). One process per command costs seconds of imports; the entry is _cli's test."""
    from bert_int8.cli import main

    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as stopped:
        code = stopped.code
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_command_on_stdin_and_file(model_dirs, tmp_path, capsys):
    _, int8 = model_dirs
    on_stdin = _cli(["predict", str(int8), "--top-k", "2"], stdin="\n".join(TITLES) + "\n\n")
    assert on_stdin.returncode == 0, on_stdin.stderr
    rows = [json.loads(line) for line in on_stdin.stdout.splitlines()]
    assert [r["text"] for r in rows] == TITLES and all(len(r["top_k"]) == 2 for r in rows)

    f = tmp_path / "titles.txt"
    f.write_text("\n".join(TITLES) + "\n", encoding="utf-8")
    from_file = _main(["predict", str(int8), "--file", str(f), "--top-k", "2", "--threads", "1"], capsys)
    assert from_file == (0, on_stdin.stdout, "")
    assert _main(["predict", str(int8), *TITLES, "--top-k", "2"], capsys) == (0, on_stdin.stdout, "")


def test_predict_command_errors(model_dirs, tmp_path, capsys):
    _, int8 = model_dirs
    missing = _main(["predict", str(tmp_path / "nope"), "x"], capsys)
    assert missing == (2, "", f"error: {tmp_path / 'nope'}: model directory not found\n")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok\n\xff\xfe\n")
    code, out, err = _main(["predict", str(int8), "--file", str(bad)], capsys)
    assert code == 2 and out == "" and "not valid UTF-8" in err and len(err.strip().splitlines()) == 1
