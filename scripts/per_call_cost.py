"""Where a one-title request's time goes in the service, layer by layer: the model's forward
pass, tokenizing, the rest of Classifier.predict, the hand-off to the batching thread, the body's
validation, the app around a model that answers at once (by the fast path, and by the FastAPI
route that any other content type takes), and end to end over loopback: one client's p50, and
the server's CPU time per request from /proc.

    python scripts/per_call_cost.py models_save/onnx/int8 [--threads 1] [--calls 2000]

Medians of wall and CPU microseconds per call (CPU: every thread of the process, which other
load on the machine disturbs less than wall time); the share of the machine other processes
took while it ran is printed with them (bert_int8.measure.disturbance). Loopback only, about a minute.
"""

import argparse
import asyncio
import json
import statistics
import sys
import time

TITLE = "央行宣布下调存款准备金率0.5个百分点"


def timed(call, calls):
    """Median (wall, CPU) microseconds of `call()`; an async `call` is awaited on one loop."""
    walls, cpus = [], []

    async def run():
        for k in range(calls + 100):
            c0, t0 = time.process_time(), time.perf_counter()
            result = call()
            if asyncio.iscoroutine(result):
                await result
            if k >= 100:  # the first 100: warm-up
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)

    asyncio.run(run())
    return {"wall_us": round(statistics.median(walls) * 1e6, 1), "cpu_us": round(statistics.median(cpus) * 1e6, 1)}


def asgi_caller(app, body, content_type):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/predict",
        "raw_path": b"/predict",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"x"), (b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
    }

    async def call():
        sent = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        assert sent[0]["status"] == 200, sent

    return call


def end_to_end(model_dir, threads, calls):
    """One client posting one title at a time on a keep-alive connection to `bert-int8 serve`."""
    import socket

    from bert_int8.measure.disturbance import tree_seconds
    from bert_int8.serve.http_load import running_server

    body = json.dumps({"texts": [TITLE]}, ensure_ascii=False).encode()
    request = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(body),
        body,
    )
    with running_server(model_dir, threads) as base:
        sock = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        answers = sock.makefile("rb")

        def one():
            sock.sendall(request)
            assert b" 200 " in answers.readline()
            length = 0
            while (line := answers.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length"):
                    length = int(line.split(b":")[1])
            answers.read(length)

        for _ in range(200):
            one()
        walls, cpu0 = [], tree_seconds([base.pid])
        for _ in range(calls):
            t0 = time.perf_counter()
            one()
            walls.append(time.perf_counter() - t0)
        cpu = (tree_seconds([base.pid]) - cpu0) / calls
        sock.close()
    return {"one_client_p50_us": round(statistics.median(walls) * 1e6, 1), "server_cpu_us": round(cpu * 1e6, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()

    from bert_int8.measure.disturbance import CpuWatch
    from bert_int8.serve.batcher import DynamicBatcher
    from bert_int8.serve.predict import Classifier
    from bert_int8.serve.schemas import request_model
    from bert_int8.serve.service import create_app

    out = {}
    with CpuWatch() as watch:
        clf = Classifier(args.model_dir, threads=args.threads)
        if hasattr(clf.model, "logits"):  # backends with numpy_io: numpy in and out
            batch = clf.tokenizer.pad(clf.tokenizer.encode([TITLE]))
            out["model"] = timed(lambda: clf.model.logits(batch), args.calls)
            out["tokenize_and_pad"] = timed(lambda: clf.tokenizer.pad(clf.tokenizer.encode([TITLE])), args.calls)
        out["classifier_predict"] = timed(lambda: clf.predict([TITLE]), args.calls)
        rows = clf.predict([TITLE])
        batcher = DynamicBatcher(lambda texts: rows)
        out["batcher_hand_off"] = timed(lambda: batcher.submit([TITLE]), args.calls)
        batcher.close()
        body = json.dumps({"texts": [TITLE]}, ensure_ascii=False).encode()
        request = request_model(256, 512)
        out["validate_json"] = timed(lambda: request.model_validate_json(body), args.calls)

        class AtOnce:  # the classifier's interface, answering without a model
            name, precision, runtime_name, labels = clf.name, clf.precision, clf.runtime_name, clf.labels
            model_dir = clf.model_dir
            answers_independent_of_batch = True

            def predict(self, texts, top_k=3):
                return rows * len(texts)

        app = create_app(AtOnce())
        out["app_fast_path"] = timed(asgi_caller(app, body, b"application/json"), args.calls)
        out["app_fastapi_route"] = timed(asgi_caller(app, body, b"application/json; charset=utf-8"), args.calls)
        app.state.batcher.close()
        out["end_to_end"] = end_to_end(args.model_dir, args.threads, args.calls)
    out["others_cpu_share"] = {"worst": watch.worst_share, "mean": watch.mean_share}
    for key, value in out.items():
        print(f"{key:20s} {value}")


if __name__ == "__main__":
    sys.exit(main())
