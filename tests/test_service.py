"""The service: real HTTP against a real server (uvicorn) on a free loopback port, and the app
and its batcher driven in-process where timing must be controlled."""

import asyncio
import json
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fixtures import CLASSES, count_joins, save_tiny_model_dirs

from bert_int8.serve.batcher import DynamicBatcher, QueueFull
from bert_int8.serve.http_load import running_server
from bert_int8.serve.predict import Classifier
from bert_int8.serve.schemas import NOT_BLANK, default_max_body_bytes
from bert_int8.serve.service import create_app

LIMITS = ["--max-texts", "4", "--max-chars", "20", "--max-wait-ms", "20"]


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory):
    return save_tiny_model_dirs(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def served(model_dirs):
    """The tiny FP32 model served by `bert-int8 serve` (a Served: its URL, pid, process)."""
    fp32, _ = model_dirs
    with running_server(fp32, threads=1, extra_args=LIMITS) as base:
        yield base


@pytest.fixture(scope="module")
def server(served):
    with httpx.Client(base_url=served, timeout=30) as client:
        yield client


def test_health(server, model_dirs):
    body = server.get("/health").json()
    assert body["kind"] == "fp32" and body["labels"] == CLASSES and body["model"] == "fp32"
    assert (body["path"], body["backend"], body["chosen"]) == (str(model_dirs[0]), "torch", None)
    assert body["shares_batches"] is True and body["inference_thread_alive"] is True


def test_dynamic_int8_does_not_share_batches(model_dirs):
    _, int8 = model_dirs
    assert Classifier(int8).answers_independent_of_batch is False
    assert Classifier(model_dirs[0]).answers_independent_of_batch is True


def test_predict_keeps_order(server):
    texts = ["电影明星", "银行利率", "球队比赛", "电影明星"]
    r = server.post("/predict", json={"texts": texts})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["text"] for p in preds] == texts
    assert preds[0] == preds[3]


def test_answers_do_not_depend_on_other_traffic(server):
    """A title's probabilities alone and while 15 other requests share its batches."""
    title = "银行利率上调"
    alone = server.post("/predict", json={"texts": [title]}).json()["predictions"][0]
    others = [["球队比赛冠军"], ["电影明星导演", "股票大盘"], ["高考考生"], ["芯片手机卫星软件"]] * 4
    results = {}

    def post(k, texts):
        with httpx.Client(base_url=str(server.base_url), timeout=30) as c:
            results[k] = c.post("/predict", json={"texts": texts}).json()["predictions"]

    threads = [threading.Thread(target=post, args=(k, t)) for k, t in enumerate([[title]] + others)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    together = results[0][0]
    assert [s["label"] for s in together["top_k"]] == [s["label"] for s in alone["top_k"]]
    for a, b in zip(alone["top_k"], together["top_k"]):
        assert abs(a["probability"] - b["probability"]) <= 1e-5
    for k, texts in enumerate(others, 1):  # and every caller got its own titles back, in order
        assert [p["text"] for p in results[k]] == texts
    # the requests did share forward passes
    shared = [
        line
        for line in server.get("/metrics").text.splitlines()
        if line.startswith('bert_int8_batch_requests_bucket{le="1.0"}')
    ]
    total = [
        line for line in server.get("/metrics").text.splitlines() if line.startswith("bert_int8_batch_requests_count")
    ]
    assert float(shared[0].split()[-1]) < float(total[0].split()[-1])


@pytest.fixture(scope="module")
def static_int8(model_dirs, tmp_path_factory):
    """The tiny FP32 model quantized statically by NNCF (OpenVINO), as the pipeline builds it."""
    from fixtures import make_titles

    from bert_int8.core.params import QuantizeParams
    from bert_int8.data.tokenizer import load_tokenizer
    from bert_int8.model.modeling import load_fp32
    from bert_int8.quantize.int8_models import build_int8_models

    fp32 = model_dirs[0]
    out = tmp_path_factory.mktemp("ov")
    params = QuantizeParams(backends=["torch", "openvino"], max_f1_drop=None, calibration_samples=20)
    build_int8_models(
        params,
        load_fp32(fp32),
        load_tokenizer(fp32),
        None,
        None,
        [t for t, _ in make_titles(2, 9)],
        out,
    )
    return out / "openvino" / "int8"


@pytest.mark.parametrize("which", ["fp32", "openvino_int8", "dynamic_int8"])
def test_which_models_answer_independently_of_batch_mates(model_dirs, static_int8, which):
    path = {"fp32": model_dirs[0], "openvino_int8": static_int8, "dynamic_int8": model_dirs[1]}[which]
    clf = Classifier(path)
    title, others = "银行利率上调", ["球队比赛冠军", "电影明星导演演唱会", "股票", "高考考生留学大学学校"] * 8
    alone = clf.predict([title], top_k=10)[0]["top_k"]
    together = clf.predict([title] + others, top_k=10)[0]["top_k"]
    assert clf.answers_independent_of_batch == (which != "dynamic_int8")
    if clf.answers_independent_of_batch:
        moved = max(
            abs(a["probability"] - b["probability"])
            for a, b in zip(sorted(alone, key=lambda s: s["label"]), sorted(together, key=lambda s: s["label"]))
        )
        assert moved <= 1e-5, moved
    else:
        # Alone, its answer is reproducible to the bit; among batch-mates, whose activations set
        # the scales, its logits move (2e-5 here, on logits of about 0.01) where FP32's move by
        # float rounding alone (5e-9): why such a model does not share batches across requests.
        from bert_int8.model.modeling import predict_logits

        def logits(texts):
            return predict_logits(clf.model, clf.tokenizer, texts)[0]

        assert clf.predict([title], top_k=10)[0]["top_k"] == alone
        assert (logits([title]) == logits([title])).all()
        assert abs(logits([title]) - logits([title] + others)).max() > 1e-6


def test_openapi_schema_states_the_limits(server):
    schema = server.get("/openapi.json").json()
    assert {"/predict", "/health", "/metrics"} <= set(schema["paths"])
    texts = schema["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
    assert (texts["minItems"], texts["maxItems"]) == (1, 4)
    assert (texts["items"]["minLength"], texts["items"]["maxLength"], texts["items"]["pattern"]) == (1, 20, NOT_BLANK)
    assert {"200", "413", "422", "503", "504"} <= set(schema["paths"]["/predict"]["post"]["responses"])


@pytest.mark.parametrize(
    "body, error_type",
    [
        ({"texts": []}, "too_short"),
        ({"texts": ["a", "b", "c", "d", "e"]}, "too_long"),
        ({"texts": ["长" * 21]}, "string_too_long"),
        ({"texts": ["  "]}, "string_pattern_mismatch"),
        ({"texts": ["\x1d\ufeff"]}, "string_pattern_mismatch"),  # blank to Python's \s or to JSON Schema's
        ({"texts": [""]}, "string_too_short"),
        ({"texts": "银行"}, "list_type"),
        ({"texts": [1, 2]}, "string_type"),
        ({"text": ["银行"]}, "missing"),
    ],
)
def test_requests_outside_the_schema_get_its_422(server, body, error_type):
    r = server.post("/predict", json=body)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail[0]["type"] == error_type, detail  # FastAPI's declared shape
    assert server.post("/predict", json={"texts": ["银行"]}).status_code == 200


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe", b'{"texts": ["\xff"]}'])
def test_bodies_that_are_not_json(server, content):
    r = server.post("/predict", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 422 and isinstance(r.json()["detail"], list)


def _rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _server_pid(base_url):
    port = httpx.URL(str(base_url)).port
    for conn in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = conn.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "0A":  # LISTEN
            inode = fields[9]
            for fd in Path("/proc").glob("[0-9]*/fd/*"):
                try:
                    if fd.readlink().name == f"socket:[{inode}]":
                        return int(fd.parts[2])
                except OSError:
                    continue
    raise AssertionError("server process not found")


def _raw_post(base_url, head, chunks):
    """Send a raw request (headers, then body chunks from a thread) and read the status line."""
    url = httpx.URL(str(base_url))
    sock = socket.create_connection((url.host, url.port), timeout=30)
    sock.sendall(head)

    def feed():
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server closed the connection after its 413: expected

    sender = threading.Thread(target=feed, daemon=True)
    sender.start()
    status = sock.recv(4096).split(b"\r\n", 1)[0]
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a sendall blocked on a server that stopped reading
    except OSError:
        pass  # the server has closed the connection already
    sender.join(30)
    assert not sender.is_alive(), "the body was still being sent 30 s after the answer"
    sock.close()
    return status


def test_oversized_bodies_get_413_without_the_server_holding_them(server):
    pid = _server_pid(server.base_url)
    limit = default_max_body_bytes(4, 20)
    before = _rss_kib(pid)
    # Content-Length over the limit: refused before a byte of the body is read.
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000000\r\n\r\n"
    assert _raw_post(server.base_url, head, []) == b"HTTP/1.1 413 Request Entity Too Large"
    # No Content-Length (chunked): cut off once past the limit, while 64 MiB are on their way.
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    piece = b'{"texts": ["' + b"a" * (1 << 20)
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)] * 64
    assert _raw_post(server.base_url, head, chunks) == b"HTTP/1.1 413 Request Entity Too Large"
    # _raw_post returns once every chunk was sent or the connection was cut: all the server got
    assert _rss_kib(pid) - before < 16 * 1024, "the server's memory grew with the refused bodies"
    assert limit < 4096
    assert server.post("/predict", json={"texts": ["银行"]}).status_code == 200


def test_metrics_are_served_in_prometheus_format(server):
    server.post("/predict", json={"texts": ["银行", "球队"]})
    text = server.get("/metrics").text
    for name in (
        "bert_int8_requests_total",
        "bert_int8_request_seconds_bucket",
        "bert_int8_batch_titles_bucket",
        "bert_int8_queue_titles",
    ):
        assert name in text, name
    count = [line for line in text.splitlines() if line.startswith('bert_int8_requests_total{status="200"}')]
    assert count and float(count[0].split()[-1]) >= 1


class GatedClassifier(Classifier):
    """The real classifier, held at a gate so that a test decides when forward passes run."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.gate, self.calls = threading.Event(), []
        self.entered, self.held = threading.Event(), 0  # a pass is at the gate, with `held` titles

    def predict(self, texts, top_k=3):
        self.held = len(texts)
        self.entered.set()
        self.gate.wait(30)
        self.calls.append(len(texts))
        return super().predict(texts, top_k)


def test_concurrent_requests_share_forward_passes_and_get_their_own_results(model_dirs):
    clf = GatedClassifier(model_dirs[0])
    batcher = DynamicBatcher(lambda texts: clf.predict(texts), max_batch=64, max_wait_ms=50)
    queue = count_joins(batcher)
    requests = [[f"银行{i}", f"球队{i}"] for i in range(8)]

    async def go():
        tasks = [asyncio.ensure_future(batcher.submit(texts)) for texts in requests]
        await queue.reach(len(requests))
        assert await asyncio.to_thread(clf.entered.wait, 30), "no pass reached the gate"
        titles_in = clf.held + batcher.depth()
        clf.gate.set()
        return titles_in, await asyncio.gather(*tasks)

    titles_in, results = asyncio.run(go())
    batcher.close()
    assert titles_in == 16  # every title was in the pass held at the gate or queued behind it
    assert [[r["text"] for r in rows] for rows in results] == requests
    assert sum(clf.calls) == 16 and len(clf.calls) < len(requests)
    assert max(clf.calls) > 2


def test_a_full_queue_refuses_and_a_slow_answer_times_out(model_dirs):
    clf = GatedClassifier(model_dirs[0])
    app = create_app(clf, max_texts=1, max_queue=1, timeout_s=0.5, max_wait_ms=0)
    queue = count_joins(app.state.batcher)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            first = asyncio.ensure_future(client.post("/predict", json={"texts": ["银行"]}))  # taken, held at the gate
            assert await asyncio.to_thread(clf.entered.wait, 30), "the first request never reached the gate"
            second = asyncio.ensure_future(client.post("/predict", json={"texts": ["球队"]}))  # waits in the queue
            await queue.reach(2)
            assert app.state.batcher.depth() == 1
            third = await client.post("/predict", json={"texts": ["电影"]})  # queue full
            return third, await first, await second

    third, first, second = asyncio.run(go())
    clf.gate.set()
    app.state.batcher.close()
    assert third.status_code == 503 and third.headers["retry-after"] == "1"
    assert first.status_code == 504 and second.status_code == 504


def test_a_dynamic_int8_batcher_runs_each_request_alone(model_dirs):
    clf = GatedClassifier(model_dirs[1])
    batcher = DynamicBatcher(lambda texts: clf.predict(texts), max_wait_ms=50, shares_batches=False)
    queue = count_joins(batcher)

    async def go():
        tasks = [asyncio.ensure_future(batcher.submit([f"银行{i}"])) for i in range(4)]
        await queue.reach(4)
        assert await asyncio.to_thread(clf.entered.wait, 30), "no pass reached the gate"
        queued = batcher.depth()
        clf.gate.set()
        await asyncio.gather(*tasks)
        return queued

    assert asyncio.run(go()) == 3  # one request at the gate, alone; the other three wait
    batcher.close()
    assert clf.calls == [1, 1, 1, 1]


def test_closing_answers_every_queued_request(model_dirs):
    from bert_int8.serve.batcher import Closed

    clf = GatedClassifier(model_dirs[0])
    batcher = DynamicBatcher(lambda texts: clf.predict(texts), max_wait_ms=0)
    queue = count_joins(batcher)

    async def go():
        first = asyncio.ensure_future(batcher.submit(["银行"]))  # taken, held at the gate
        assert await asyncio.to_thread(clf.entered.wait, 30), "the first request never reached the gate"
        second = asyncio.ensure_future(batcher.submit(["球队"]))  # queued
        await queue.reach(2)
        assert batcher.depth() == 1
        closing = asyncio.get_running_loop().run_in_executor(None, batcher.close)
        with pytest.raises(Closed):  # the queued request is answered while the pass still runs
            await second
        with pytest.raises(Closed):
            await batcher.submit(["电影"])
        assert not closing.done() and not first.done()  # close waits for the pass at the gate
        clf.gate.set()
        await closing
        return await first

    assert asyncio.run(go())[0]["text"] == "银行"


def test_queue_full_is_an_exception_of_the_batcher():
    batcher = DynamicBatcher(lambda texts: texts, max_queue=0)

    async def go():
        with pytest.raises(QueueFull):
            await batcher.submit(["a"])

    asyncio.run(go())
    batcher.close()


def test_binds_to_loopback_by_default():
    from bert_int8.cli import build_parser

    args = build_parser().parse_args(["serve", "models_save/int8"])
    assert args.host == "127.0.0.1"


def test_serve_freezes_the_heap_before_it_serves(model_dirs, monkeypatch):
    """`bert-int8 serve` loads its model, then moves what is alive out of the collector's way
    (bert_int8.core.heap) before the first request: full collections would otherwise rescan the
    model's and the app's objects and stretch the tail latency."""
    import gc

    import uvicorn

    from bert_int8.cli import main

    served = []

    def run(app, **kwargs):  # uvicorn.run, which would serve until stopped
        served.append((gc.get_freeze_count(), kwargs["port"]))
        app.state.batcher.close()

    monkeypatch.setattr(uvicorn, "run", run)
    gc.unfreeze()
    try:
        main(["serve", str(model_dirs[0]), "--port", "8123"])
    finally:
        gc.unfreeze()
    assert len(served) == 1 and served[0][1] == 8123 and served[0][0] > 0, served


def test_serve_flags_reach_the_app(model_dirs):
    app = create_app(Classifier(model_dirs[0]), max_texts=3, max_chars=7)
    schema = app.openapi()
    texts = schema["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
    assert (texts["maxItems"], texts["items"]["maxLength"]) == (3, 7)
    app.state.batcher.close()
    assert json.dumps(schema)  # serialisable as served


def test_load_generator_measures_and_reports_its_own_cost(server):
    from bert_int8.serve.http_load import drive

    r = drive(
        str(server.base_url), ["银行利率", "球队比赛", "电影明星"], concurrency=4, seconds=0.5, texts_per_request=2
    )
    assert r["requests"] > 0 and r["errors"] == 0
    assert r["titles_per_s"] == pytest.approx(2 * r["requests_per_s"], rel=1e-3)
    assert r["client_cpu_seconds"] < r["seconds"] * 2
    assert r["latency_ms_p50"] <= r["latency_ms_p99"]


def test_load_generator_when_every_request_fails(server):
    from bert_int8.serve.http_load import drive

    r = drive(str(server.base_url), ["长" * 30], concurrency=2, seconds=0.3, texts_per_request=1, max_requests=50)
    assert r["requests"] == 0 and r["errors"] == 50 and r["titles_per_s"] == 0
    assert r["latency_ms_p99"] is None


def test_load_generator_refuses_other_hosts():
    import subprocess
    import sys

    config = json.dumps({"url": "http://192.0.2.1:80/predict", "bodies": [["a"]], "concurrency": 1, "seconds": 1})
    result = subprocess.run(
        [sys.executable, "-m", "bert_int8.serve.load_gen"], input=config, capture_output=True, text=True
    )
    assert result.returncode != 0 and "only loopback addresses" in result.stderr


def test_the_schema_tells_the_truth_to_a_fuzzer(server):
    """schemathesis generates requests from /openapi.json and checks every answer against it."""
    import subprocess
    import sys

    cli = Path(sys.executable).parent / "schemathesis"
    result = subprocess.run(
        [
            str(cli),
            "run",
            f"{server.base_url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--generation-deterministic",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert "Tested: 3" in result.stdout and "No issues found" in result.stdout, result.stdout[-2000:]


def _parent_pid(pid):
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _health_and_queue(base):
    """(pid, titles queued) of whichever worker a new connection lands on."""
    with httpx.Client(base_url=base, timeout=30) as client:  # one keep-alive connection, one worker
        pid = client.get("/health").json()["pid"]
        queued = [
            line for line in client.get("/metrics").text.splitlines() if line.startswith("bert_int8_queue_titles")
        ]
        return pid, float(queued[0].split()[-1])


def test_two_workers_share_the_port_and_answer_in_flight_requests_on_sigterm(static_int8):
    import http.client
    import os
    import signal
    from concurrent.futures import ThreadPoolExecutor

    model = static_int8  # shares batches, and starts without torch: two workers start sooner
    requests = [[f"银行利率{i}", "球队比赛冠军"] for i in range(12)]
    expected = {t: row for texts in requests for t, row in zip(texts, Classifier(model).predict(texts))}

    def check(rows, texts):
        assert [r["text"] for r in rows] == texts
        for r in rows:
            want = expected[r["text"]]
            assert [s["label"] for s in r["top_k"]] == [s["label"] for s in want["top_k"]]
            assert all(abs(a["probability"] - b["probability"]) <= 1e-5 for a, b in zip(r["top_k"], want["top_k"]))

    # a pass waits up to 3 s for batch-mates: requests stay in flight long enough to be seen
    with running_server(model, threads=2, workers=2, extra_args=["--max-wait-ms", "3000"]) as base:
        pids, deadline = set(), time.monotonic() + 60
        while len(pids) < 2:  # new connections until both workers have answered
            assert time.monotonic() < deadline, pids
            pids.add(httpx.get(f"{base}/health", timeout=30).json()["pid"])
        assert base.pid not in pids and {_parent_pid(p) for p in pids} == {base.pid}

        def post(texts):  # a connection of its own
            return httpx.post(f"{base}/predict", json={"texts": texts}, timeout=30).json()["predictions"]

        with ThreadPoolExecutor(len(requests)) as pool:
            for texts, rows in zip(requests, pool.map(post, requests)):
                check(rows, texts)

        # One request in flight in each worker (its connection known to be that worker's),
        # then SIGTERM to the server: both are answered, and the server exits cleanly.
        conns = {}
        while len(conns) < 2:
            assert time.monotonic() < deadline + 60, list(conns)
            conn = http.client.HTTPConnection("127.0.0.1", httpx.URL(base).port, timeout=30)
            conn.request("GET", "/health")
            pid = json.loads(conn.getresponse().read())["pid"]
            conns.setdefault(pid, conn)
        for conn in conns.values():
            conn.request("POST", "/predict", json.dumps({"texts": requests[0]}), {"Content-Type": "application/json"})
        seen = set()
        while seen != set(conns):  # each worker holds its request, waiting for batch-mates
            assert time.monotonic() < deadline + 120, seen
            pid, queued = _health_and_queue(base)
            if queued >= 2:
                seen.add(pid)
        os.kill(base.pid, signal.SIGTERM)
        for conn in conns.values():
            answer = conn.getresponse()
            assert answer.status == 200
            check(json.loads(answer.read())["predictions"], requests[0])
        assert base.proc.wait(timeout=60) == 0


def _hogs(n):
    import subprocess
    import sys

    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def test_a_load_test_run_beside_a_cpu_hog_is_rerun_and_marked_disturbed(served, capsys):
    import os

    from bert_int8.serve.http_load import watched_drive

    hogs = _hogs(os.cpu_count() or 1)  # every core busy with something that is not ours
    try:
        r = watched_drive(served, ["银行利率", "球队比赛"], 2, 2.0, 1, disturbed_share=0.2, label="toy c2")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert r["disturbed"] is True and r["others_cpu_share"] > 0.2, r
    assert r["requests"] > 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: toy c2")]
    assert len(warning) == 1 and f"{r['others_cpu_share']:.1%}" in warning[0], warning


def test_a_load_test_run_on_a_quiet_machine_is_not_marked(served):
    from bert_int8.measure.disturbance import CpuWatch
    from bert_int8.serve.http_load import watched_drive

    with CpuWatch(pids=[served.pid]) as before:
        time.sleep(1.0)  # a window in which to measure the others' share, not a wait for anything
    if before.worst_share is None or before.worst_share > 0.1:
        pytest.skip(f"the machine is busy with other work ({before.worst_share}): no quiet run to check")
    r = watched_drive(served, ["银行利率", "球队比赛"], 2, 2.0, 1, disturbed_share=0.2)
    assert r["disturbed"] is False and r["others_cpu_share"] <= 0.2, r


def test_workers_refuse_a_port_another_server_listens_on_and_bad_counts():
    import socket

    from bert_int8.core.errors import PipelineError
    from bert_int8.serve import workers

    # a listener bound with SO_REUSEPORT, as a running `serve --workers` holds the port
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        with pytest.raises(PipelineError, match=f"^127.0.0.1:{port}: cannot listen: Address already in use$"):
            workers.fork(2, "127.0.0.1", port)
    with pytest.raises(PipelineError, match="^--workers: 0; at least 1$"):
        workers.fork(0, "127.0.0.1", 8000)
    with pytest.raises(PipelineError, match="^--threads 1 over --workers 2: each worker needs a thread of its own$"):
        workers.fork(2, "127.0.0.1", 8000, threads=1)


def test_a_sweep_runs_every_level_and_sets_each_against_the_models_own_rate(served, monkeypatch):
    """Known answers: every run serves 30 titles/s (a stand-in load generator), the model alone
    120, so each run's share is 0.25; the runs are keyed by clients and titles per request."""
    from bert_int8.core.params import LoadTestParams
    from bert_int8.serve import http_load

    runs = []

    def fake_watched_drive(base, texts, concurrency, seconds, per_request, disturbed_share, label):
        runs.append((concurrency, per_request, label))
        return {"titles_per_s": 30.0}

    monkeypatch.setattr(http_load, "drive", lambda *args, **kwargs: None)  # the warm-up
    monkeypatch.setattr(http_load, "watched_drive", fake_watched_drive)
    params = LoadTestParams(concurrency=[1, 4], texts_per_request=[1, 3], seconds=0.1)
    report = http_load.sweep(served, ["银行"], params, model_rate=120.0, name="toy")
    assert runs == [(1, 1, "toy c1"), (4, 1, "toy c4"), (1, 3, "toy c1_batch3"), (4, 3, "toy c4_batch3")]
    for key in ("c1", "c4", "c1_batch3", "c4_batch3"):
        assert report[key] == {"titles_per_s": 30.0, "share_of_model_rate": 0.25}, key
    assert report["shares_batches"] is True and report["rss_mib_at_start"] > 0


def test_with_streams_the_batcher_runs_that_many_passes_at_once():
    """Two inference threads: two passes are in the model together (each waits at a barrier
    that only both can pass); one thread would never get there."""
    barrier = threading.Barrier(2, timeout=30)
    sizes = []

    def predict(texts):
        barrier.wait()  # BrokenBarrierError (an error for both requests) unless two passes meet
        sizes.append(len(texts))
        return [t.upper() for t in texts]

    batcher = DynamicBatcher(predict, max_batch=1, streams=2)

    async def go():
        return await asyncio.gather(batcher.submit(["a"]), batcher.submit(["b"]))

    try:
        assert asyncio.run(go()) == [["A"], ["B"]]
    finally:
        batcher.close()
    assert sizes == [1, 1] and len(batcher.threads) == 2


def test_an_openvino_model_with_streams_answers_as_without_from_many_threads(static_int8):
    """`--streams 2`: calls from two threads at once, single titles (the bucket models) and
    batches, each answer the model's answer alone."""
    from concurrent.futures import ThreadPoolExecutor

    titles = [f"银行利率{'上调' * (i % 4)}{i}" for i in range(24)]
    plain = Classifier(static_int8, threads=2)
    want = {t: plain.logits([t])[0] for t in titles}
    streamed = Classifier(static_int8, threads=2, streams=2)
    streamed.warm_up()
    with ThreadPoolExecutor(2) as pool:
        alone = list(pool.map(lambda t: streamed.logits([t])[0], titles))
        batched = list(pool.map(lambda i: streamed.logits(titles[i : i + 6]), range(0, len(titles), 6)))
    for t, got in zip(titles, alone):
        np.testing.assert_allclose(got, want[t], atol=1e-5)
    for i, rows in zip(range(0, len(titles), 6), batched):
        np.testing.assert_allclose(rows, np.stack([want[t] for t in titles[i : i + 6]]), atol=1e-5)


def test_bad_streams_are_refused_in_one_line_before_serving(model_dirs, static_int8, capsys):
    from bert_int8.cli import main

    cases = [
        (model_dirs[0], ["--streams", "2"], "runs one call at a time"),
        (model_dirs[0], ["--streams", "0"], "must be at least 1"),
        (static_int8, ["--streams", "3", "--threads", "2"], "more than the 2 threads"),
    ]
    for model, flag, said in cases:
        with pytest.raises(SystemExit) as exit_:
            main(["serve", str(model), *flag])
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 2 and said in err and "\n" not in err and "--streams" in err


def test_serving_layouts_take_turns_and_report_medians_with_intervals(static_int8):
    """Every layout's server up at once, `layout_runs` runs each in turns. With 3 runs the
    median is the middle run and its interval min..max (75% coverage); a ratio of two sets of 3
    is the median of the 9 ratios, its interval min..max (exact Mann-Whitney: even the most
    extreme arrangement has 1/20 > 2.5% probability)."""
    from bert_int8.backends.model_dir import ModelDir
    from bert_int8.core.params import LoadTestParams
    from bert_int8.serve.http_load import compare_layouts

    params = LoadTestParams(concurrency=[1, 4], seconds=0.3, threads=2, layout_runs=3, disturbed_share=1.0)
    out = compare_layouts(ModelDir.open(static_int8), "openvino_int8", ["银行利率", "球队比赛"], params)
    plan = ["workers_1_threads_2", "workers_2_threads_1", "workers_1_streams_2"]
    assert out["order"] == plan and out["runs"] == 3 and out["concurrency"] == 4
    assert out["interval_coverage"] == 0.75
    for layout in plan:
        row, runs = out[layout], sorted(out[layout]["runs_titles_per_s"])
        assert len(runs) == 3 and all(r > 0 for r in runs)
        assert (row["titles_per_s"], row["titles_per_s_lo"], row["titles_per_s_hi"]) == tuple(
            round(r, 1) for r in (runs[1], runs[0], runs[2])
        )
        assert row["latency_ms_p50_lo"] <= row["latency_ms_p50"] <= row["latency_ms_p50_hi"]
        assert row["rss_mib"] > 0 and row["streams_per_worker"] == (2 if "streams" in layout else 1)
    first = out[plan[0]]["runs_titles_per_s"]
    for layout in plan[1:]:
        ratios = sorted(a / b for a in out[layout]["runs_titles_per_s"] for b in first)
        assert out[f"{layout}_over_{plan[0]}"] == {
            "titles_per_s": round(ratios[4], 4),
            "titles_per_s_lo": round(ratios[0], 4),
            "titles_per_s_hi": round(ratios[-1], 4),
        }
    # the call is ranking's (tested in test_ranking) on these medians and intervals
    from bert_int8.stats.ranking import call, label

    assert out["faster"] == label(*call({k: out[k] for k in plan}, plan, "titles_per_s", lowest=False))
