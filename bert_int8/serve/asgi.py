"""The service's two ASGI wrappers around the FastAPI app: the fast path of a valid /predict
(FastPredict), and the body limit with the request metrics (BodyLimitAndMetrics)."""

import time

import pydantic_core


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
