"""`bert-int8 score`: a corpus in each format to parts in each format, ids carried through, bad
rows stopping the job in one line or set aside with --skip-bad, a rerun resuming after a kill
to the output of an uninterrupted run, no torch in the process for a lean model, and the Ray
engine on a local cluster agreeing with the local engine.

Expected answers come from the transformers path (fixtures.full_path_probabilities: its
tokenizer and torch call on the same weights), not from the scorer. A kill is made to land
halfway by a pipe the test stops reading: the job blocks on its progress lines a few parts in.
"""

import fcntl
import json
import os
import re
import secrets
import select
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, run_cli
from fixtures import CLASSES, full_path_probabilities, make_titles, read_until, tiny_models_in_every_backend

PROGRESS = re.compile(
    r"score: part-\d{5}-\d{5} written \([\d,]+ rows, [\d,]+ rejected\); [\d,]+ of about [\d,]+ titles "
    r"\(\d+%\), [\d,]+ titles/s, ETA \d+:\d\d"
)
TOLERANCE = 1e-5  # ONNX Runtime against torch, in FP32; JSONL rounds to 6 digits


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return tiny_models_in_every_backend(tmp_path_factory.mktemp("score")) / "models_save"


@pytest.fixture(scope="module")
def titles():
    # a comma and quotes for CSV, of several lengths
    return [t for t, _ in make_titles(4, 11)] + ['银行,"利率"今日', "芯片 手机", "x"]


def write_input(path, fmt, titles, ids=None, column="text"):
    """`titles` (and `ids`) in `fmt`, written by the standard library or pyarrow, not by the code
    under test."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{column: t, **({"key": i} if ids else {})} for t, i in zip(titles, ids or titles)]
    if fmt == "jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    elif fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif fmt == "csv":
        import csv

        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    else:  # TSV: never quoted, a tab between fields
        path.write_text("".join("\t".join(r) + "\n" for r in [list(rows[0]), *map(list, map(dict.values, rows))]))
    return path


def read_output(out):
    """Every row of the parts under `out`, in part order, as dicts (scores by class name)."""
    rows = []
    for part in sorted(out.glob("part-*")):
        if part.suffix == ".parquet":
            rows += pq.read_table(part).to_pylist()
        else:
            rows += [json.loads(line) for line in part.read_text(encoding="utf-8").splitlines()]
    return rows


def score(args, cwd):
    return run_cli(["score", *map(str, args)], cwd)


def one_error_line(result):
    """The job's one error line (after the progress lines of the parts it finished first)."""
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("score: part-")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0].removeprefix("error: ")


def no_temporary_files(out):
    return [p.name for p in out.rglob("*") if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("fmt_in", ["csv", "tsv", "jsonl", "parquet"])
@pytest.mark.parametrize("fmt_out", ["parquet", "jsonl"])
def test_each_format_in_and_out(tmp_path, models, titles, fmt_in, fmt_out):
    model = models / "onnx" / "fp32"
    ids = [f"doc-{i}" for i in range(len(titles))]
    src = write_input(tmp_path / f"in.{fmt_in}", fmt_in, titles, ids, column="title")
    out = tmp_path / "out"
    args = [model, src, "-o", out, "--format", fmt_out, "--rows-per-part", 7, "--text-column", "title"]
    result = score([*args, "--id-column", "key", "--all-scores", "--batch-size", 4], tmp_path)
    assert result.returncode == 0, result.stderr

    parts = sorted(p.name for p in out.glob("part-*"))
    n_parts = -(-len(titles) // 7)
    progress = [line for line in result.stderr.splitlines() if line.startswith("score: part-")]
    assert len(progress) == n_parts and all(PROGRESS.fullmatch(line) for line in progress), result.stderr
    assert parts == [f"part-00000-{k:05d}.{fmt_out}" for k in range(n_parts)]
    rows = read_output(out)
    assert [r["id"] for r in rows] == ids  # input order, the id column carried through
    # one chunk per part: the scorer's batches are the part's titles, sorted by length
    expected = np.concatenate([full_path_probabilities(model, titles[k : k + 7], 4) for k in range(0, len(titles), 7)])
    for row, p in zip(rows, expected):
        assert row["label"] == int(np.argmax(p)) and row["label_name"] == CLASSES[row["label"]]
        assert abs(row["probability"] - p.max()) <= TOLERANCE
        assert list(row["scores"]) == CLASSES
        assert np.allclose(list(row["scores"].values()), p, atol=TOLERANCE)

    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["complete"] and manifest["parts"] == n_parts and manifest["labels"] == CLASSES
    assert manifest["input"][0]["name"] == src.name and manifest["input"][0]["bytes"] == src.stat().st_size
    assert manifest["model"]["name"] == "onnx_fp32" and len(manifest["model"]["sha256"]) == 64
    assert not (out / "rejects.jsonl").exists() and no_temporary_files(out)


def test_default_ids_name_the_file_and_record_in_a_folder(tmp_path, models, titles):
    folder = tmp_path / "corpus"
    write_input(folder / "a.csv", "csv", titles[:3])
    write_input(folder / "sub" / "b.jsonl", "jsonl", titles[3:5])
    write_input(folder / "c.parquet", "parquet", titles[5:7])
    (folder / "notes.txt").write_text("not an input\n", encoding="utf-8")
    out = tmp_path / "out"
    result = score([models / "openvino" / "int8", folder, "-o", out, "--format", "jsonl"], tmp_path)
    assert result.returncode == 0, result.stderr
    # files in sorted order of their paths, a part each; CSV records by line (the header is line 1),
    # JSONL by line, Parquet by row
    assert sorted(p.name for p in out.glob("part-*")) == [f"part-{i:05d}-00000.jsonl" for i in range(3)]
    assert [r["id"] for r in read_output(out)] == [
        "a.csv:2",
        "a.csv:3",
        "a.csv:4",
        "c.parquet:1",
        "c.parquet:2",
        "sub/b.jsonl:1",
        "sub/b.jsonl:2",
    ]


BAD_ROWS = [
    ("jsonl", b'{"text": "ok"}\n{"title": "x"}\n', "in.jsonl:2: no 'text' key"),
    ("jsonl", b'{"text": "ok"}\n{"text": 5}\n', "in.jsonl:2: 'text' is not a string"),
    ("jsonl", b'{"text": "ok"}\n{"text": "a\\u0007b"}\n', "in.jsonl:2: text has a control character (U+0007)"),
    ("csv", b"text\nok\n\xff\xfebad\n", "in.csv:3: not valid UTF-8 (byte 0xff at character 1)"),
    ("tsv", "text\nok\n{}\n".format("长" * 1001).encode(), "in.tsv:3: text is 1001 characters long"),
    ("jsonl", b'{"text": "ok"}\n{"text": "ok"\n', "in.jsonl:2: not valid JSON"),
    ("jsonl", b'{"text": "ok"}\n{"text": "a\\ud800b"}\n', "in.jsonl:2: not valid Unicode (a lone surrogate, U+D800"),
]


@pytest.mark.parametrize(("fmt", "content", "said"), BAD_ROWS)
def test_a_bad_row_stops_the_job_in_one_line(tmp_path, models, fmt, content, said):
    src = tmp_path / f"in.{fmt}"
    src.write_bytes(content)
    out = tmp_path / "out"
    line = one_error_line(score([models / "onnx" / "int8", src, "-o", out], tmp_path))
    assert line.startswith(said) and line.endswith("(--skip-bad sets such rows aside)")
    assert list(out.glob("part-*")) == [] and no_temporary_files(out)  # the one part never landed


@pytest.mark.parametrize("engine", ["local", "ray"])
def test_a_job_stopped_by_a_bad_row_resumes_with_skip_bad(tmp_path, models, titles, engine, request):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in titles[:8]]
    lines[4] = json.dumps({"text": 5})
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    model, out = models / "onnx" / "int8", tmp_path / "out"
    args = [model, src, "-o", out, "--rows-per-part", 2]
    if engine == "ray":
        args += ["--engine", "ray", "--address", request.getfixturevalue("ray_cluster")]
    assert one_error_line(score(args, tmp_path)).startswith("in.jsonl:5: 'text' is not a string")
    # the parts before the bad record's part are whole, and written
    assert sorted(p.name for p in out.glob("part-*")) == ["part-00000-00000.parquet", "part-00000-00001.parquet"]
    resumed = score([*args, "--skip-bad"], tmp_path)
    assert resumed_parts(resumed) == 2
    fresh = tmp_path / "fresh"
    assert score([model, src, "-o", fresh, "--rows-per-part", 2, "--skip-bad"], tmp_path).returncode == 0
    assert read_output(out) == read_output(fresh)
    assert (out / "rejects.jsonl").read_bytes() == (fresh / "rejects.jsonl").read_bytes()


def test_a_null_parquet_text_is_named_by_row(tmp_path, models):
    src = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": ["ok", None, "fine"]}), src)
    line = one_error_line(score([models / "onnx" / "int8", src, "-o", tmp_path / "out"], tmp_path))
    assert line.startswith("in.parquet:row 2: 'text' is missing")


def test_skip_bad_sets_rows_aside_with_their_place_and_reason(tmp_path, models, titles):
    src = tmp_path / "in.jsonl"
    lines = [json.dumps({"text": t, "key": f"k{i}"}, ensure_ascii=False) for i, t in enumerate(titles[:6])]
    lines[1] = json.dumps({"text": "", "key": "k1"})
    lines[4] = json.dumps({"text": titles[4]})  # no id
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [models / "onnx" / "fp32", src, "-o", out, "--id-column", "key", "--skip-bad", "--rows-per-part", 2]
    result = score(args, tmp_path)
    assert result.returncode == 0, result.stderr
    rows = read_output(out)
    assert [r["id"] for r in rows] == ["k0", "k2", "k3", "k5"]
    good = [titles[i] for i in (0, 2, 3, 5)]
    for row, title in zip(rows, good):
        p = full_path_probabilities(models / "onnx" / "fp32", [title], 1)[0]  # FP32: no batch-mates effect
        assert row["label"] == int(np.argmax(p)) and abs(row["probability"] - p.max()) <= TOLERANCE
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rejects == [
        {"where": "in.jsonl:2", "id": "in.jsonl:2", "reason": "empty text"},
        {"where": "in.jsonl:5", "id": "in.jsonl:5", "reason": "no id: 'key' is missing"},
    ]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["rejects"] == 2 and manifest["scored_this_run"] == 4


def test_whole_input_and_output_problems_are_one_line(tmp_path, models, titles):
    model = models / "onnx" / "int8"
    src = write_input(tmp_path / "in.csv", "csv", titles[:4])
    out = tmp_path / "out"
    assert one_error_line(score([model, tmp_path / "none.csv", "-o", out], tmp_path)) == (
        f"{tmp_path / 'none.csv'}: file not found"
    )
    assert one_error_line(score([model, src, "-o", out, "--text-column", "body"], tmp_path)).startswith(
        f"{src}:1: no column 'body' in the header"
    )
    assert (
        one_error_line(score([model, src, "-o", out, "--rows-per-part", 0], tmp_path))
        == "--rows-per-part: 0; at least 1"
    )
    assert one_error_line(score([tmp_path, src, "-o", out], tmp_path)).startswith(f"{tmp_path}: ")  # not a model
    quote = tmp_path / "quote.csv"
    quote.write_text('text\nok\n"an open quote\nnext\n', encoding="utf-8")
    line = one_error_line(score([model, quote, "-o", tmp_path / "q", "--skip-bad"], tmp_path))
    assert line.startswith(f"{quote}:3: not valid CSV")  # a whole-file problem, even with --skip-bad
    stray = tmp_path / "stray"
    stray.mkdir()
    (stray / "keep.txt").write_text("mine", encoding="utf-8")
    assert "not a score output" in one_error_line(score([model, src, "-o", stray], tmp_path))
    assert (stray / "keep.txt").read_text(encoding="utf-8") == "mine"
    assert not out.exists()  # nothing written by the refused jobs


def test_another_model_or_input_refuses_unless_overwrite(tmp_path, models, titles):
    src = write_input(tmp_path / "in.jsonl", "jsonl", titles[:6])
    out = tmp_path / "out"
    assert score([models / "onnx" / "int8", src, "-o", out, "--rows-per-part", 2], tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in out.glob("part-*")}

    line = one_error_line(score([models / "openvino" / "int8", src, "-o", out, "--rows-per-part", 2], tmp_path))
    assert line == (
        f"{out / 'manifest.json'}: these parts belong to another model; "
        "pass --overwrite to replace them, or choose another folder"
    )
    write_input(src, "jsonl", titles[:5])
    assert "another input" in one_error_line(
        score([models / "onnx" / "int8", src, "-o", out, "--rows-per-part", 2], tmp_path)
    )
    assert {p.name: p.read_bytes() for p in out.glob("part-*")} == before

    result = score([models / "openvino" / "int8", src, "-o", out, "--rows-per-part", 2, "--overwrite"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(read_output(out)) == 5
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8"))["model"]["name"] == "openvino_int8"


@pytest.fixture
def full_range_on_avx2(tmp_path, models, monkeypatch):
    """A copy of the ONNX Runtime int8 model whose recipe says full-range weights (as built on a
    CPU with VNNI), on a CPU set by its flags to have none; the warning it must get."""
    import shutil

    from bert_int8.backends import base

    model = tmp_path / "onnx_int8"
    shutil.copytree(models / "onnx" / "int8", model)
    recipe = json.loads((model / "onnx_recipe.json").read_text(encoding="utf-8"))
    (model / "onnx_recipe.json").write_text(json.dumps({**recipe, "reduce_range": False}), encoding="utf-8")
    monkeypatch.setattr(base, "cpu_flags", lambda: {"avx2", "fma"})
    monkeypatch.setattr(base.platform, "machine", lambda: "x86_64")
    return model, (
        f"warning: {model}: its int8 weights use all 8 bits, as built on a CPU with VNNI; this CPU has none, "
        "so their sums can saturate and its answers drift: rebuild it here with `dvc repro -f -s quantize`"
    )


def test_a_full_range_int8_model_is_named_on_a_cpu_without_vnni(tmp_path, titles, full_range_on_avx2, capsys):
    """In process (the CPU is set by its flags): one line, once, and the job goes on."""
    from bert_int8.score.job import ScoreSpec, run

    model, warning = full_range_on_avx2
    src = write_input(tmp_path / "in.jsonl", "jsonl", titles[:5])
    run(ScoreSpec(input=src, output=tmp_path / "out", rows_per_part=2), model)
    assert [line for line in capsys.readouterr().err.splitlines() if not line.startswith("score: ")] == [warning]
    assert len(read_output(tmp_path / "out")) == 5


def test_predict_says_the_same_warning(titles, full_range_on_avx2, capsys):
    from bert_int8 import cli

    model, warning = full_range_on_avx2
    cli.main(["predict", str(model), titles[0]])
    out, err = capsys.readouterr()
    assert err.splitlines() == [warning] and json.loads(out)["text"] == titles[0]


def test_a_ray_actor_names_its_node_in_the_warning(titles, full_range_on_avx2):
    """An actor checks its own CPU (here, in process); its rows carry the warning to the driver."""
    import socket

    from bert_int8.backends.model_dir import ModelDir
    from bert_int8.score.parts import CHUNK_COLUMNS
    from bert_int8.score.ray_engine import CHUNK, WARNING, _ActorScorer

    model, warning = full_range_on_avx2
    rows = {c: [None] * 3 for c in CHUNK_COLUMNS}
    rows.update(part=["part-00000-00000"] * 3, id=["a", "b", "c"], where=["a", "b", "c"], text=titles[:3])
    table = pa.table({**rows, CHUNK: [0, 0, 1]})
    scored = _ActorScorer(ModelDir.open(model), 1, 4, False)(table)
    assert scored.column(WARNING).to_pylist() == [f"{warning} (on node {socket.gethostname()})"] * 3
    assert scored.column("id").to_pylist() == ["a", "b", "c"]


BLOCK_TORCH = (
    (REPO / "tests" / "test_lean_serving.py").read_text(encoding="utf-8").split("BLOCK = '''")[1].split("'''")[0]
)


@pytest.mark.parametrize("which", ["onnx", "openvino"])
def test_lean_models_score_without_torch(tmp_path, models, titles, which):
    (tmp_path / "block").mkdir()
    (tmp_path / "block" / "sitecustomize.py").write_text(BLOCK_TORCH, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "block"), str(REPO)]))
    src = write_input(tmp_path / "in.parquet", "parquet", titles)
    out = tmp_path / "out"
    model = models / which / "int8"
    result = subprocess.run(
        [sys.executable, "-m", "bert_int8.cli", "score", str(model), str(src), "-o", str(out), "--batch-size", "4"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    expected = full_path_probabilities(model, titles, 4)  # one part, one chunk: the same batches
    rows = read_output(out)
    assert [r["label"] for r in rows] == [int(np.argmax(p)) for p in expected]
    assert np.allclose([r["probability"] for r in rows], expected.max(axis=1), atol=TOLERANCE)


# -- resume after a kill, and the Ray engine --------------------------------------------------

N_RESUME, PART = 3000, 50  # 60 parts; the job blocks on its progress lines a few parts in


def start_blocked(args, cwd):
    """`bert-int8 score ARGS` in a session of its own (Ray's processes too), its stderr a pipe of
    one page: once the test stops reading, the job blocks on a progress line a few parts on."""
    read, write = os.pipe()
    fcntl.fcntl(read, fcntl.F_SETPIPE_SZ, 4096)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bert_int8.cli", "score", *map(str, args)],
        stdout=subprocess.DEVNULL,
        stderr=write,
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        start_new_session=True,
    )
    os.close(write)
    return proc, os.fdopen(read, "rb")


def kill_halfway(args, cwd):
    """Start the job, wait for its second part, then kill it and its session with SIGKILL."""
    proc, err = start_blocked(args, cwd)
    try:
        read_until(err, "part-00000-00001 written", timeout=240)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        err.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    titles = [t for t, _ in make_titles(N_RESUME // 10, 5)]
    return write_input(tmp_path_factory.mktemp("corpus") / "corpus.jsonl", "jsonl", titles)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, models, corpus):
    """The local engine's output of the corpus, in one run: the reference."""
    out = tmp_path_factory.mktemp("whole") / "out"
    result = score([models / "onnx" / "int8", corpus, "-o", out, "--rows-per-part", PART], out.parent)
    assert result.returncode == 0, result.stderr
    return read_output(out)


def resumed_parts(result):
    assert result.returncode == 0, result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    return int(summary.split("(")[1].split(" from an earlier run")[0])


def test_local_engine_resumes_after_a_kill(tmp_path, models, corpus, uninterrupted):
    out = tmp_path / "out"
    args = [models / "onnx" / "int8", corpus, "-o", out, "--rows-per-part", PART]
    kill_halfway(args, tmp_path)
    done = len(list(out.glob("part-*")))
    assert 2 <= done < N_RESUME // PART
    assert not json.loads((out / "manifest.json").read_text(encoding="utf-8"))["complete"]
    rerun = score(args, tmp_path)
    assert resumed_parts(rerun) == done
    assert no_temporary_files(out)  # a part the kill cut short was never a part
    # dynamic int8, whose answers move with batch-mates: a part is scored in the same batches in
    # both runs, so the rows are the same to the bit
    assert read_output(out) == uninterrupted


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A Ray cluster of 2 CPUs on this machine (`ray start --head`), whatever its cores; its
    address. Stopped, with every process it started, at the end of the module."""
    from bert_int8.serve.http_load import free_port

    port = free_port()
    # Ray 2.60 authenticates with a token once ~/.ray/auth_token exists, and a job joins only
    # where RAY_AUTH_MODE=token is set on both sides (docs/scoring.md says so too): a token of
    # the module's own, in a file, whatever this machine's home holds
    token = tmp_path_factory.mktemp("ray") / "auth_token"
    token.write_text(secrets.token_hex(32), encoding="utf-8")
    was = {k: os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token))
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    ray_cli = [str(Path(sys.executable).parent / "ray")]
    start = [*ray_cli, "start", "--head", "--num-cpus", "2", "--port", str(port), "--include-dashboard", "false"]
    try:
        subprocess.run([*start, "--disable-usage-stats"], check=True, capture_output=True, env=env, timeout=180)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*ray_cli, "stop", "--force"], capture_output=True, env=env, timeout=180)
        for key, value in was.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_ray_engine_agrees_with_the_local_engine_and_resumes_after_a_kill(
    tmp_path, models, corpus, uninterrupted, ray_cluster
):
    out = tmp_path / "out"
    args = [models / "onnx" / "int8", corpus, "-o", out, "--rows-per-part", PART, "--engine", "ray"]
    args += ["--address", ray_cluster]
    kill_halfway([*args, "--threads", 1], tmp_path)
    done = len(list(out.glob("part-*")))
    assert 2 <= done < N_RESUME // PART
    rerun = score([*args, "--threads", 1], tmp_path)
    assert resumed_parts(rerun) == done
    engine = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["engine"]
    assert engine["cluster"].rsplit(":", 1)[1] == ray_cluster.rsplit(":", 1)[1]  # the one at --address
    assert {k: engine[k] for k in ("name", "actors", "threads_per_actor")} == {
        "name": "ray",
        "actors": 2,  # the cluster's 2 CPUs, one thread each
        "threads_per_actor": 1,
    }
    rows = read_output(out)
    assert [r["id"] for r in rows] == [r["id"] for r in uninterrupted]
    # Ray scores each chunk as the local engine does; dynamic int8 may still move where Ray
    # slices a large chunk, so agreement is counted (bert_int8/score/ray_engine.py)
    same = sum(a["label"] == b["label"] for a, b in zip(rows, uninterrupted))
    assert same / len(rows) >= 0.999


@pytest.mark.parametrize("which", ["onnx/fp32", "openvino/int8"])
def test_models_independent_of_batch_mates_give_the_local_engines_labels_on_ray(
    tmp_path, models, titles, ray_cluster, which
):
    """FP32 and OpenVINO's static int8; by default an actor per node, with the node's 2 CPUs."""
    src = write_input(tmp_path / "in.csv", "csv", titles)
    outs = {}
    for engine, extra in (("local", []), ("ray", ["--address", ray_cluster])):
        outs[engine] = tmp_path / engine
        args = [models / which, src, "-o", outs[engine], "--rows-per-part", 5, "--engine", engine, *extra]
        result = score(args, tmp_path)
        assert result.returncode == 0, result.stderr
    local, on_ray = read_output(outs["local"]), read_output(outs["ray"])
    assert [(r["id"], r["label"]) for r in on_ray] == [(r["id"], r["label"]) for r in local]
    assert np.allclose([r["probability"] for r in on_ray], [r["probability"] for r in local], atol=1e-6)
    engine = json.loads((outs["ray"] / "manifest.json").read_text(encoding="utf-8"))["engine"]
    assert (engine["actors"], engine["threads_per_actor"]) == (1, 2)


def test_a_layout_the_cluster_cannot_hold_is_one_line(tmp_path, models, titles, ray_cluster):
    src = write_input(tmp_path / "in.jsonl", "jsonl", titles[:3])
    base = [models / "onnx" / "int8", src, "-o", tmp_path / "out", "--engine", "ray", "--address", ray_cluster]
    assert one_error_line(score([*base, "--threads", 3], tmp_path)) == (
        "--threads 3: no node of the Ray cluster has that many CPUs (at most 2)"
    )
    assert one_error_line(score([*base, "--actors", 3, "--threads", 1], tmp_path)) == (
        "--actors 3: the Ray cluster's 2 CPUs hold 2 actors of 1 threads"
    )


def nodes(*cpus):
    """`ray.nodes()` of alive nodes with these CPUs."""
    return [{"Alive": True, "Resources": {"CPU": float(c)}} for c in cpus]


@pytest.mark.parametrize(
    ("cpus", "threads", "actors", "layout"),
    [
        ((2,), None, None, (1, 2)),  # an actor per node, with the node's CPUs
        ((3, 3), 2, None, (2, 2)),  # as many actors as fit, not CPUs // threads (3)
        ((3, 3, 2), None, None, (3, 2)),  # the smallest node's CPUs; a 3-CPU node holds one of 2
        ((0, 4, 4), None, None, (2, 4)),  # a head with no CPUs runs no actor and sets no size
        ((4, 4), 1, None, (8, 1)),
        ((4, 4), 2, 3, (3, 2)),
    ],
)
def test_the_ray_layout_fits_the_nodes(cpus, threads, actors, layout):
    from bert_int8.score.job import ScoreSpec
    from bert_int8.score.ray_engine import _layout

    spec = ScoreSpec(input=Path("in"), output=Path("out"), engine="ray", threads=threads, actors=actors)
    assert _layout(nodes(*cpus), spec) == layout


def test_a_ray_layout_the_nodes_cannot_hold_is_refused():
    from bert_int8.core.errors import PipelineError
    from bert_int8.score.job import ScoreSpec
    from bert_int8.score.ray_engine import _layout

    spec = ScoreSpec(input=Path("in"), output=Path("out"), engine="ray")
    with pytest.raises(PipelineError, match="no node with CPUs"):
        _layout(nodes(0), spec)
    with pytest.raises(PipelineError, match=r"--actors 5: the Ray cluster's 8 CPUs hold 3 actors of 2 threads"):
        _layout(nodes(3, 3, 2), replace(spec, actors=5))


def session_processes(sid):
    """The processes still in session `sid`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                if int(f.read().rsplit(b")", 1)[1].split()[3]) == sid:
                    found.append(int(entry))
        except (OSError, IndexError):
            continue
    return found


def exits_within(pid, timeout):
    """Whether process `pid` exits within `timeout` s (waits on its pidfd, without polling)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_without_an_address_the_job_starts_a_cluster_and_stops_it(tmp_path, models, titles, ray_cluster):
    """Even where a cluster runs and RAY_ADDRESS names it: the job's own, gone with it."""
    src = write_input(tmp_path / "in.jsonl", "jsonl", titles[:6])
    out = tmp_path / "out"
    env = {**os.environ, "RAY_ADDRESS": ray_cluster}
    command = [sys.executable, "-m", "bert_int8.cli", "score", str(models / "onnx" / "fp32"), str(src)]
    proc = subprocess.Popen(
        [*command, "-o", str(out), "--engine", "ray"],
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONPATH": str(REPO)},
        start_new_session=True,
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert len(read_output(out)) == 6
    cluster = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["engine"]["cluster"]
    assert cluster.rsplit(":", 1)[1] != ray_cluster.rsplit(":", 1)[1]
    # Ray's processes go with it: ray.shutdown() signals them, and they exit on their own time
    assert [pid for pid in session_processes(proc.pid) if not exits_within(pid, 60)] == []


@pytest.mark.parametrize(
    ("blocked", "fmt", "flags", "said"),
    [
        ("ray", "jsonl", ["--engine", "ray"], "--engine ray needs Ray and pyarrow: pip install 'bert-int8[ray]'"),
        (
            "pyarrow",
            "jsonl",
            [],
            "--format parquet (the default) needs pyarrow: pip install 'bert-int8[score]', or --format jsonl",
        ),
        (
            "pyarrow",
            "parquet",
            ["--format", "jsonl"],
            "{src}: reading Parquet needs pyarrow: pip install 'bert-int8[score]'",
        ),
    ],
)
def test_a_missing_extra_says_how_to_install_it(tmp_path, models, titles, blocked, fmt, flags, said):
    block = tmp_path / "block"
    block.mkdir()
    hook = BLOCK_TORCH.replace('("torch", "transformers")', f"({blocked!r},)")
    (block / "sitecustomize.py").write_text(hook, encoding="utf-8")
    src = write_input(tmp_path / f"in.{fmt}", fmt, titles[:3])
    result = subprocess.run(
        [sys.executable, "-m", "bert_int8.cli", "score", str(models / "onnx" / "int8"), str(src)]
        + ["-o", str(tmp_path / "out"), *flags],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(block), str(REPO)])),
        timeout=300,
    )
    assert one_error_line(result) == said.format(src=src)
    assert not (tmp_path / "out").exists()
