"""The HTTP service: POST /predict, GET /health, GET /metrics (Prometheus), with an OpenAPI
schema that states the limits the service enforces.

- Titles of concurrent requests share forward passes (bert_int8/serve/batcher.py) when the model's
  answers do not depend on batch-mates (FP32, BF16, static int8); dynamic int8 models run each
  request as its own batch, so no user's answer moves with another user's traffic.
- A request body over `max_body_bytes` is refused with 413 from its Content-Length before it is
  read, and a body without Content-Length (chunked) is cut off with 413 once it passes the limit:
  the server never holds more than the limit of any one body.
- A full queue answers 503 with Retry-After; a request not answered in `timeout_s` gets 504.
- The request schema carries the limits (minItems/maxItems, minLength/maxLength, a non-blank
  pattern), so a client generating requests from /openapi.json gets exactly what it expects;
  a request outside them gets FastAPI's standard 422 body, and so does a body that is not
  UTF-8 JSON (FastAPI alone answers that with an undeclared 400).
"""

import asyncio
import contextlib
import json
import os
import time
from typing import Annotated

import pydantic_core
from fastapi import FastAPI, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints, create_model
from starlette.exceptions import HTTPException as StarletteHTTPException

from bert_int8.core import serving_limits
from bert_int8.serve.batcher import Closed, DynamicBatcher, QueueFull


class Score(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    text: str
    label: str
    label_id: int
    top_k: list[Score]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class Chosen(BaseModel):
    by: str = Field(description="what `serve auto` chose by: throughput (--prefer throughput) or latency")
    reason: str = Field(description="the winner's figure, its 95% interval, and how a tie was broken")
    candidates: list[str] = Field(description="the models in the running, best first")
    skipped: dict[str, str] = Field(description="the measured models left out, and why")


class Health(BaseModel):
    status: str
    model: str = Field(description="the model variant: the backend's prefix and the precision (fp32, onnx_int8, ...)")
    path: str = Field(description="the model directory served")
    kind: str = Field(description="its precision: fp32, int8 or bf16")
    backend: str = Field(description="the backend's name (quantize.backends)")
    labels: list[str]
    shares_batches: bool
    inference_thread_alive: bool
    pid: int = Field(description="the worker process that answered (bert-int8 serve --workers)")
    chosen: Chosen | None = Field(None, description="how `serve auto` chose the model; null for a named directory")


class Detail(BaseModel):
    detail: str


def default_max_body_bytes(max_texts, max_chars):
    """The largest body a valid request can need: every title at its longest, each character
    written as JSON escapes (\\uXXXX, two of them for a character beyond U+FFFF: 12 bytes),
    plus quotes, commas and the envelope."""
    return max_texts * (12 * max_chars + 4) + 1024


# A title has a character that is not white space, in every regex dialect that reads the schema:
# Python's \s also counts \x1c-\x1f and \x85, JSON Schema's (ECMA-262) \s also \ufeff, so each
# is named; "\x1d" alone is blank to the service and to a client generating from /openapi.json.
NOT_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"


def request_model(max_texts, max_chars):
    title = Annotated[StrictStr, StringConstraints(min_length=1, max_length=max_chars, pattern=NOT_BLANK)]
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid", regex_engine="python-re"),
        texts=(Annotated[list[title], Field(min_length=1, max_length=max_texts)], ...),
    )


def create_app(
    classifier,
    max_texts=serving_limits.MAX_TEXTS,
    max_chars=serving_limits.MAX_CHARS,
    top_k=3,
    max_batch=serving_limits.MAX_BATCH,
    max_wait_ms=serving_limits.MAX_WAIT_MS,
    max_queue=serving_limits.MAX_QUEUE,
    timeout_s=serving_limits.TIMEOUT_S,
    max_body_bytes=None,
    chosen=None,
):
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

    registry = CollectorRegistry()
    requests = Counter("bert_int8_requests", "HTTP requests to /predict by status", ["status"], registry=registry)
    latency = Histogram(
        "bert_int8_request_seconds",
        "Time from the request's arrival to its answer",
        buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
        registry=registry,
    )
    batch_titles = Histogram(
        "bert_int8_batch_titles",
        "Titles per forward pass",
        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
        registry=registry,
    )
    batch_requests = Histogram(
        "bert_int8_batch_requests", "Requests per forward pass", buckets=(1, 2, 4, 8, 16, 32, 64), registry=registry
    )
    batcher = DynamicBatcher(
        lambda texts: classifier.predict(texts, top_k=top_k),
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        shares_batches=classifier.answers_independent_of_batch,
        on_batch=lambda titles, reqs: (batch_titles.observe(titles), batch_requests.observe(reqs)),
        streams=getattr(classifier, "streams", 1),  # a classifier without streams runs one pass at a time
    )
    Gauge("bert_int8_queue_titles", "Titles waiting for a forward pass", registry=registry).set_function(batcher.depth)

    if max_queue < max_texts:
        raise ValueError(f"max_queue ({max_queue}) must hold at least one request of max_texts ({max_texts}) titles")
    PredictRequest = request_model(max_texts, max_chars)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        batcher.close()

    app = FastAPI(title="bert-int8 title classifier", version="2", lifespan=lifespan)
    app.state.batcher = batcher
    app.add_exception_handler(StarletteHTTPException, unreadable_body_is_422)
    app.add_exception_handler(RequestValidationError, validation_error)

    @app.get("/health", response_model=Health)
    def health():
        return Health(
            status="ok",
            model=classifier.name,
            path=str(classifier.model_dir),
            kind=classifier.kind,
            backend=classifier.backend,
            labels=classifier.labels,
            shares_batches=batcher.shares_batches,
            inference_thread_alive=batcher.alive(),
            pid=os.getpid(),
            chosen=chosen,
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics():
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/predict",
        response_model=PredictResponse,
        responses={
            413: {"model": Detail, "description": "body larger than the byte limit"},
            503: {
                "model": Detail,
                "description": "queue full (or shutting down); retry after the Retry-After header's seconds",
                "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
            },
            504: {"model": Detail, "description": "not answered within the service's timeout"},
            500: {"model": Detail, "description": "the model failed on the pass this request was in"},
        },
    )
    async def predict(request: PredictRequest):
        status, body, headers = await answer(request.texts)
        if status != 200:
            raise HTTPException(status, body["detail"], headers=headers or None)
        return PredictResponse(predictions=body["predictions"])

    async def answer(texts):
        """(status, body, headers) for the titles of a valid request, for the route and for
        the fast path (FastPredict) alike."""
        try:
            rows = await asyncio.wait_for(batcher.submit(texts), timeout_s)
        except (QueueFull, Closed) as err:
            return 503, {"detail": f"busy: {err}"}, {"Retry-After": "1"}
        except asyncio.TimeoutError:
            return 504, {"detail": f"not answered within {timeout_s} s"}, {}
        except Exception as err:  # the model's own failure, handed to every request of its pass
            return 500, {"detail": f"model error: {type(err).__name__}"}, {}
        return 200, {"predictions": rows}, {}

    limit = max_body_bytes or default_max_body_bytes(max_texts, max_chars)
    return BodyLimitAndMetrics(FastPredict(app, PredictRequest, answer), limit, requests, latency)


class FastPredict:
    """ASGI wrapper: POST /predict with a valid JSON body is answered here, without the
    framework's per-request machinery (middleware stack, routing, dependency solving, response
    validation): measured around a model that answers at once, it took about 300 of the 450 us
    the app spent on a one-title request. The body is checked by the route's own request model
    (in its JSON mode) and the answer written by the serializer FastAPI uses (pydantic's), so
    the bytes are the same; any other request, and a body the model refuses, goes to the FastAPI app with
    its body, which answers it as it always has (its 422s included)."""

    def __init__(self, app, request_model, answer):
        self.app, self.request_model, self.answer = app, request_model, answer

    def __getattr__(self, name):  # app.state, app.openapi() ... for tests and tools
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/predict" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        if dict(scope["headers"]).get(b"content-type") != b"application/json":
            return await self.app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left, or the body limit refused the body (answered already)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            texts = self.request_model.model_validate_json(body).texts
        except ValueError:  # pydantic's ValidationError: FastAPI answers it, from the same body
            replayed = False

            async def replay():
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await self.app(scope, replay, send)
        status, payload, headers = await self.answer(texts)
        data = pydantic_core.to_json(payload)
        head = [(b"content-length", str(len(data)).encode()), (b"content-type", b"application/json")]
        head += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": data})


async def unreadable_body_is_422(request, exc):
    """FastAPI answers a body it cannot parse as JSON text (not UTF-8) with 400, a status the
    schema does not declare; it is a body outside the schema like any other: the standard 422."""
    if exc.status_code == 400:
        error = {"type": "json_invalid", "loc": ("body",), "msg": "JSON decode error", "input": {}}
        return await validation_error(request, RequestValidationError([{**error, "ctx": {"error": "not UTF-8"}}]))
    return await http_exception_handler(request, exc)


async def validation_error(request, exc):
    """FastAPI's 422. An input it echoes that is not text (a body of bytes that are not UTF-8
    under another content type, a lone surrogate such as JSON "\\ud800") would make writing the
    answer fail, a 500: the errors are then written without their inputs."""
    try:
        return await request_validation_exception_handler(request, exc)
    except (UnicodeDecodeError, UnicodeEncodeError):
        errors = [{k: v for k, v in error.items() if k != "input"} for error in exc.errors()]
        body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True)
        return Response(body, status_code=422, media_type="application/json")


class BodyLimitAndMetrics:
    """ASGI middleware around the app: refuses bodies over `max_bytes` (413, before reading a
    body whose Content-Length says so, or as soon as a chunked body passes the limit), and
    counts /predict answers by status and time for /metrics."""

    def __init__(self, app, max_bytes, requests, latency):
        self.app, self.max_bytes, self.requests, self.latency = app, max_bytes, requests, latency

    def __getattr__(self, name):  # app.state, app.openapi() ... for tests and tools
        return getattr(self.app, name)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), {"code": None}
        counted = scope["path"] == "/predict"
        refused = False

        async def refuse():
            nonlocal refused
            refused = True
            body = b'{"detail":"request body larger than %d bytes"}' % self.max_bytes
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            status["code"] = 413

        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await refuse()
        else:
            received = 0

            async def limited_receive():
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > self.max_bytes and not refused:
                        await refuse()
                        return {"type": "http.disconnect"}  # the app stops reading; the rest is never held
                return message

            async def guarded_send(message):
                if refused:
                    return
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await self.app(scope, limited_receive, guarded_send)
            except Exception:
                status["code"] = status["code"] or 500
                if not refused:
                    raise
            finally:
                self._count(counted, status["code"], start)
            return
        self._count(counted, status["code"], start)

    def _count(self, counted, code, start):
        if counted and code:
            self.requests.labels(str(code)).inc()
            self.latency.observe(time.perf_counter() - start)
