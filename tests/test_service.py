"""Real HTTP requests against a real server (uvicorn) started on a free loopback port."""

import httpx
import pytest
from fixtures import CLASSES, save_tiny_model_dirs

from bert_int8.load_test import running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    _, int8 = save_tiny_model_dirs(tmp_path_factory.mktemp("models"))
    with running_server(int8, threads=1, extra_args=["--max-texts", "4", "--max-chars", "20"]) as base:
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client


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
    # Dynamic int8 quantization scales activations per batch, so a title's probabilities move
    # slightly with its batch-mates; its label and ranking do not here.
    assert [s["label"] for s in single["top_k"]] == [s["label"] for s in preds[1]["top_k"]]
    assert single["top_k"][0]["probability"] == pytest.approx(preds[1]["top_k"][0]["probability"], abs=1e-3)


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
