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

from fastapi import FastAPI, HTTPException
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from bert_int8.core import serving_limits
from bert_int8.serve.asgi import BodyLimitAndMetrics, FastPredict
from bert_int8.serve.batcher import Closed, DynamicBatcher, QueueFull
from bert_int8.serve.schemas import Detail, Health, PredictResponse, default_max_body_bytes, request_model


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
    instruments = Instruments()
    batcher = DynamicBatcher(
        lambda texts: classifier.predict(texts, top_k=top_k),
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
        shares_batches=classifier.answers_independent_of_batch,
        on_batch=instruments.batch,
        streams=getattr(classifier, "streams", 1),  # a classifier without streams runs one pass at a time
    )
    instruments.watch_queue(batcher.depth)
    if max_queue < max_texts:
        raise ValueError(f"max_queue ({max_queue}) must hold at least one request of max_texts ({max_texts}) titles")
    predict_request = request_model(max_texts, max_chars)
    answer = answerer(batcher, timeout_s)
    app = _routes(classifier, batcher, instruments, chosen, predict_request, answer)
    limit = max_body_bytes or default_max_body_bytes(max_texts, max_chars)
    return BodyLimitAndMetrics(
        FastPredict(app, predict_request, answer), limit, instruments.requests, instruments.latency
    )


class Instruments:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self):
        self.registry = registry = CollectorRegistry()
        self.requests = Counter(
            "bert_int8_requests", "HTTP requests to /predict by status", ["status"], registry=registry
        )
        self.latency = Histogram(
            "bert_int8_request_seconds",
            "Time from the request's arrival to its answer",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10),
            registry=registry,
        )
        self.batch_titles = Histogram(
            "bert_int8_batch_titles",
            "Titles per forward pass",
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=registry,
        )
        self.batch_requests = Histogram(
            "bert_int8_batch_requests", "Requests per forward pass", buckets=(1, 2, 4, 8, 16, 32, 64), registry=registry
        )

    def batch(self, titles, requests):
        """A forward pass's titles and requests (the batcher's on_batch)."""
        self.batch_titles.observe(titles)
        self.batch_requests.observe(requests)

    def watch_queue(self, depth):
        Gauge("bert_int8_queue_titles", "Titles waiting for a forward pass", registry=self.registry).set_function(depth)

    def exposition(self):
        return PlainTextResponse(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def answerer(batcher, timeout_s):
    """answer(texts) -> (status, body, headers) for the titles of a valid request, for the route
    and for the fast path (FastPredict) alike."""

    async def answer(texts):
        try:
            rows = await asyncio.wait_for(batcher.submit(texts), timeout_s)
        except (QueueFull, Closed) as err:
            return 503, {"detail": f"busy: {err}"}, {"Retry-After": "1"}
        except asyncio.TimeoutError:
            return 504, {"detail": f"not answered within {timeout_s} s"}, {}
        except Exception as err:  # the model's own failure, handed to every request of its pass
            return 500, {"detail": f"model error: {type(err).__name__}"}, {}
        return 200, {"predictions": rows}, {}

    return answer


def _routes(classifier, batcher, instruments, chosen, predict_request, answer):
    """The FastAPI app: /health, /metrics and the /predict route (the schema's, and the path of
    requests FastPredict does not take)."""

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
            kind=classifier.precision,
            backend=classifier.runtime_name,
            labels=classifier.labels,
            shares_batches=batcher.shares_batches,
            inference_thread_alive=batcher.alive(),
            pid=os.getpid(),
            chosen=chosen,
        )

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics():
        return instruments.exposition()

    @app.post("/predict", response_model=PredictResponse, responses=PREDICT_ERRORS)
    async def predict(request: predict_request):
        status, body, headers = await answer(request.texts)
        if status != 200:
            raise HTTPException(status, body["detail"], headers=headers or None)
        return PredictResponse(predictions=body["predictions"])

    return app


PREDICT_ERRORS = {
    413: {"model": Detail, "description": "body larger than the byte limit"},
    503: {
        "model": Detail,
        "description": "queue full (or shutting down); retry after the Retry-After header's seconds",
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    },
    504: {"model": Detail, "description": "not answered within the service's timeout"},
    500: {"model": Detail, "description": "the model failed on the pass this request was in"},
}


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
