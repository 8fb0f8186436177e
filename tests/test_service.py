"""Real HTTP requests against a real server (uvicorn) started on a free loopback port."""
import socket
import subprocess
import sys
import time

import httpx
import pytest
from conftest import REPO
from fixtures import CLASSES, save_tiny_model_dirs


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _, int8 = save_tiny_model_dirs(tmp_path_factory.mktemp("models"))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bert_int8.cli", "serve", str(int8), "--port", str(port), "--max-texts", "4",
         "--max-chars", "20", "--threads", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"server did not start: {proc.stdout.read()}")
        time.sleep(0.2)
    with httpx.Client(base_url=base, timeout=30) as client:
        yield client
    proc.terminate()
    proc.wait(timeout=10)


def test_health(server):
    r = server.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["kind"] == "int8" and body["labels"] == CLASSES and body["model"] == "int8"


def test_predict_keeps_order(server):
    texts = ["电影明星", "银行利率", "球队比赛", "电影明星"]
    r = server.post("/predict", json={"texts": texts})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    assert [p["text"] for p in preds] == texts
    assert preds[0] == preds[3]
    single = server.post("/predict", json={"texts": [texts[1]]}).json()["predictions"][0]
    assert single == preds[1]


def test_openapi_schema(server):
    schema = server.get("/openapi.json").json()
    assert {"/predict", "/health"} <= set(schema["paths"])


@pytest.mark.parametrize(
    "kwargs, status, fragment",
    [
        ({"json": {"texts": []}}, 422, "texts is empty"),
        ({"json": {"texts": ["a", "b", "c", "d", "e"]}}, 413, "too many texts: 5, at most 4"),
        ({"json": {"texts": ["长" * 21]}}, 413, "texts[0] is 21 characters long, at most 20"),
        ({"json": {"texts": ["  "]}}, 422, "texts[0] is empty"),
        ({"json": {"texts": "银行"}}, 422, "list"),
        ({"json": {"texts": [1, 2]}}, 422, "string"),
        ({"json": {"text": ["银行"]}}, 422, "texts"),
        ({"json": ["银行"]}, 422, ""),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 422, "JSON"),
        ({"content": b"\xff\xfe", "headers": {"content-type": "application/json"}}, 422, ""),
    ],
)
def test_bad_requests_get_4xx_and_the_server_keeps_answering(server, kwargs, status, fragment):
    r = server.post("/predict", **kwargs)
    assert r.status_code == status, r.text
    assert fragment in r.text
    assert server.post("/predict", json={"texts": ["银行"]}).status_code == 200


def test_binds_to_loopback_by_default():
    from bert_int8.cli import build_parser

    args = build_parser().parse_args(["serve", "models_save/int8"])
    assert args.host == "127.0.0.1"
