"""Every status the service answers is one its /openapi.json declares, with the declared body:
requests of every kind the service refuses, driven in-process against the app."""

import asyncio
import json
import threading

import httpx
import pytest
from fixtures import CLASSES, count_joins, save_tiny_model_dirs

from bert_int8.serve.predict import Classifier
from bert_int8.serve.service import create_app

LIMITS = {"max_texts": 2, "max_chars": 8, "max_queue": 2, "timeout_s": 0.5, "max_body_bytes": 512}


class Held:
    """A classifier that answers only once `gate` is set (the first pass tells `entered`)."""

    name, precision, runtime_name, labels, model_dir = "fp32", "fp32", "torch", CLASSES, "models_save/fp32"
    answers_independent_of_batch = True

    def __init__(self):
        self.gate, self.entered = threading.Event(), threading.Event()

    def predict(self, texts, top_k=3):
        self.entered.set()
        self.gate.wait(30)
        return [{"text": t, "label": "finance", "label_id": 0, "top_k": []} for t in texts]


def declared(app, path="/predict", method="post"):
    return set(app.openapi()["paths"][path][method]["responses"])


def _post(client, body, content_type="application/json"):
    headers = {"content-type": content_type} if content_type else {}
    return client.post("/predict", content=body, headers=headers)


BODIES = {
    "valid": (b'{"texts": ["\xe9\x93\xb6\xe8\xa1\x8c"]}', "application/json"),
    "outside the schema": (b'{"texts": []}', "application/json"),
    "not JSON": (b"{not json", "application/json"),
    "not UTF-8": (b'{"texts": ["\xff"]}', "application/json"),
    "a lone surrogate escaped": (b'{"texts": ["\\ud800"]}', "application/json"),
    "a lone surrogate encoded": (b'{"texts": ["\xed\xa0\x80"]}', "application/json"),
    "not UTF-8, as text/plain": (b"\xff\xfe\x00", "text/plain"),
    "not UTF-8, no content type": (b"\xff", None),
    "over the byte limit": (b'{"texts": ["' + b"a" * 600 + b'"]}', "application/json"),
}
EXPECTED = {
    "valid": 200,
    "outside the schema": 422,
    "not JSON": 422,
    "not UTF-8": 422,
    "a lone surrogate escaped": 422,
    "a lone surrogate encoded": 422,
    "not UTF-8, as text/plain": 422,
    "not UTF-8, no content type": 422,
    "over the byte limit": 413,
}


@pytest.fixture(scope="module")
def fp32_app(tmp_path_factory):
    fp32, _ = save_tiny_model_dirs(tmp_path_factory.mktemp("models"))
    app = create_app(Classifier(fp32), **LIMITS)
    yield app
    app.state.batcher.close()


@pytest.mark.parametrize("what", list(BODIES))
def test_every_body_gets_a_declared_status_and_body(fp32_app, what):
    async def go():
        transport = httpx.ASGITransport(app=fp32_app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await _post(client, *BODIES[what])

    r = asyncio.run(go())
    assert r.status_code == EXPECTED[what], r.text
    assert str(r.status_code) in declared(fp32_app)
    body = json.loads(r.content.decode("utf-8"))  # UTF-8 JSON, whatever came in
    if r.status_code == 422:  # FastAPI's declared validation body: a list of {loc, msg, type}
        assert body["detail"] and all({"loc", "msg", "type"} <= set(e) for e in body["detail"]), body
        assert body["detail"][0]["loc"][0] == "body"
    elif r.status_code == 413:
        assert isinstance(body["detail"], str)


def test_a_body_that_is_not_utf8_is_the_standard_422_not_400(fp32_app):
    async def go():
        transport = httpx.ASGITransport(app=fp32_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await _post(client, *BODIES["not UTF-8"])

    r = asyncio.run(go())
    assert r.status_code == 422 and "400" not in declared(fp32_app)
    assert r.json()["detail"] == [
        {
            "type": "json_invalid",
            "loc": ["body"],
            "msg": "JSON decode error",
            "input": {},
            "ctx": {"error": "not UTF-8"},
        }
    ]


def test_busy_and_slow_answers_are_declared():
    clf = Held()
    app = create_app(clf, **LIMITS)
    queue = count_joins(app.state.batcher)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            held = asyncio.ensure_future(client.post("/predict", json={"texts": ["a"]}))  # at the gate
            assert await asyncio.to_thread(clf.entered.wait, 30), "the first request never reached the gate"
            queued = asyncio.ensure_future(client.post("/predict", json={"texts": ["b", "c"]}))  # fills the queue
            await queue.reach(2)
            assert app.state.batcher.depth() == 2
            full = await client.post("/predict", json={"texts": ["d"]})
            return full, await held, await queued

    full, held, queued = asyncio.run(go())
    clf.gate.set()
    app.state.batcher.close()
    assert (full.status_code, held.status_code, queued.status_code) == (503, 504, 504)
    assert {"503", "504"} <= declared(app)


def test_health_declares_the_variant_the_directory_and_the_choice():
    app = create_app(Held(), chosen={"by": "latency", "reason": "r", "candidates": ["fp32"], "skipped": {}})
    health = app.openapi()["components"]["schemas"]["Health"]["properties"]
    assert {"model", "path", "kind", "backend", "chosen"} <= set(health)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return (await client.get("/health")).json()

    body = asyncio.run(go())
    app.state.batcher.close()
    assert (body["model"], body["path"], body["chosen"]["by"]) == ("fp32", "models_save/fp32", "latency")


class Failing(Held):
    """A classifier whose model fails on every pass."""

    def predict(self, texts, top_k=3):
        raise RuntimeError("the runtime gave up")


def test_a_failing_model_is_the_declared_500_naming_the_error_type_only():
    app = create_app(Failing(), **LIMITS)

    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/predict", json={"texts": ["a"]})

    r = asyncio.run(go())
    app.state.batcher.close()
    assert r.status_code == 500 and r.json() == {"detail": "model error: RuntimeError"}
    assert "500" in declared(app)
