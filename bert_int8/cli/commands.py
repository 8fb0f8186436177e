"""What each `bert-int8` command does (the parser is cli/parser.py).

Each command imports what it needs when it runs, so that `--help` and `predict` of an ONNX
Runtime or OpenVINO model load no torch, transformers or fastapi."""

import json
import sys
from pathlib import Path

from bert_int8.cli.parser import build_parser
from bert_int8.core.errors import PipelineError, run_stage
from bert_int8.core.heap import freeze_heap

PROGRESS_ABOVE = 5000  # lines; smaller inputs finish before a bar would help


def _read_file(path):
    try:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f if line.strip()]
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    except UnicodeDecodeError as err:
        raise PipelineError(f"{path}: not valid UTF-8 ({err.reason} at byte {err.start})") from None


def resolve_model(args):
    """The model to load (a path, or the ModelDir `auto` chose) and the choice's account for
    /health (None for a named directory). `auto` says on stderr what it chose and why."""
    if args.model_dir != "auto":
        if args.prefer or args.allow_other_machine or args.allow_full_range_int8 or args.max_f1_loss is not None:
            raise PipelineError(
                "--prefer, --allow-other-machine, --allow-full-range-int8 and --max-f1-loss apply to `auto` only, "
                "not to a named directory"
            )
        return args.model_dir, None
    from bert_int8.serve.choose import choose

    choice = choose(
        args.prefer or "throughput",
        args.allow_other_machine,
        max_f1_loss=args.max_f1_loss,
        allow_full_range_int8=args.allow_full_range_int8,
    )
    print(f"auto: {choice.model.path} by {choice.by}: {choice.reason}", file=sys.stderr)
    return choice.model, choice.health()


def cmd_predict(args):
    from bert_int8.serve.predict import Classifier

    model, _ = resolve_model(args)  # a refusal before reading any input
    if args.file:
        texts = _read_file(args.file)
    elif args.texts:
        texts = args.texts
    else:
        texts = [line.rstrip("\r\n") for line in sys.stdin if line.strip()]
    clf = Classifier(model, threads=args.threads, batch_size=args.batch_size)
    _warn_weight_range(clf)
    chunk = max(args.batch_size, 1024)
    bar = None
    if len(texts) > PROGRESS_ABOVE:
        from tqdm import tqdm

        bar = tqdm(total=len(texts), unit="title", file=sys.stderr)
    for start in range(0, len(texts), chunk):
        for row in clf.predict(texts[start : start + chunk], top_k=args.top_k):
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
        if bar:
            bar.update(min(chunk, len(texts) - start))
    if bar:
        bar.close()


def _warn_weight_range(clf):
    if clf.weight_range_warning:
        print(clf.weight_range_warning, file=sys.stderr)


def cmd_score(args):
    from bert_int8.score.job import ScoreSpec, run

    model, _ = resolve_model(args)  # a refusal before reading any input
    spec = ScoreSpec(
        input=Path(args.input),
        output=Path(args.output),
        format=args.format,
        rows_per_part=args.rows_per_part,
        text_column=args.text_column,
        id_column=args.id_column,
        skip_bad=args.skip_bad,
        all_scores=args.all_scores,
        overwrite=args.overwrite,
        engine=args.engine,
        address=args.address,
        actors=args.actors,
        threads=args.threads,
        batch_size=args.batch_size,
    )
    run(spec, model)


def cmd_params(args):
    from bert_int8 import backends
    from bert_int8.core.params import load_params
    from bert_int8.core.params_doc import render

    params = load_params(args.file)
    backends.chosen(params.quantize.backends)  # the quantize stage's own check and line
    sys.stdout.write(render(params))
    sys.stdout.write("\nquantize.backends, the registered runtimes (bert_int8/backends):\n")
    for b in backends.BACKENDS.values():
        sys.stdout.write(f"  {b.name}: {b.description}\n")


def cmd_serve(args):
    import uvicorn

    from bert_int8.backends.model_dir import ModelDir
    from bert_int8.serve import workers

    model, chosen = resolve_model(args)  # before forking: a refusal is one line, once
    found = model if isinstance(model, ModelDir) else ModelDir.open(model)
    found.check_streams(args.streams, workers.thread_share(args.threads, args.workers) or workers.cpu_count())
    workers.fork(args.workers, args.host, args.port, args.threads)  # the parent supervises and exits there
    from bert_int8.serve.predict import Classifier
    from bert_int8.serve.service import create_app

    threads = workers.thread_share(args.threads, args.workers)
    clf = Classifier(found, threads=threads, batch_size=args.batch_size, streams=args.streams)
    _warn_weight_range(clf)
    clf.warm_up()  # in each worker: after the fork, each process compiles its own shapes
    app = create_app(
        clf,
        max_texts=args.max_texts,
        max_chars=args.max_chars,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        max_queue=args.max_queue,
        timeout_s=args.timeout_s,
        max_body_bytes=args.max_body_bytes,
        chosen=chosen,
    )
    freeze_heap()  # the model, tokenizer and app are long-lived: keeps full collections short
    if args.workers <= 1:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        return
    server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level))
    server.run(sockets=[workers.shared_socket(args.host, args.port)])
    if not server.started:
        sys.exit(3)  # uvicorn's start-up failure status


COMMANDS = {"predict": cmd_predict, "serve": cmd_serve, "score": cmd_score, "params": cmd_params}


def main(argv=None):
    args = build_parser().parse_args(argv)
    run_stage(COMMANDS[args.command], args)
