"""The `bert-int8` command: `predict` titles with a saved model, or `serve` it over HTTP.

A model is any directory the pipeline writes (any backend; FP32, int8 or BF16: read from the
directory), or `auto`: the committed run's fastest model within the accuracy budget
(bert_int8/serve/choose.py). Models of every backend but PyTorch run without torch and transformers
(pip install "bert-int8[serve]")."""

import argparse
import json
import sys
from pathlib import Path

from bert_int8.core import serving_limits
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
    from .score.job import ScoreSpec, run

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
    from bert_int8.core.params import load_params
    from bert_int8.core.params_doc import render

    from . import backends

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


def _model_dirs_help():
    from . import backends

    try:
        registry = list(backends.BACKENDS.values())
    except PipelineError:  # a bad plugin: the command that meets it says so, in one line
        return "a directory of any backend", "any backend"
    dirs = ", ".join(
        f"{b.model_path('{' + ','.join(b.folder(p, m) for p, m in b.layout()) + '}', 'models_save')} ({b.label})"
        for b in registry
    )
    return dirs, ", ".join(b.label for b in registry)


def build_parser():
    model_dirs, runtimes = _model_dirs_help()
    parser = argparse.ArgumentParser(prog="bert-int8", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "model_dir",
        help=f"a model directory: {model_dirs}; backend and precision are read from it. "
        "Or auto: the fastest model of the committed run (metrics/, read from the current directory) "
        "within the accuracy budget",
    )
    common.add_argument(
        "--threads",
        type=int,
        default=None,
        help=f"intra-op threads of the model's runtime ({runtimes}); default: its own",
    )
    common.add_argument(
        "--allow-other-machine",
        action="store_true",
        help="with auto: use metrics measured on another CPU or ISA than this machine's",
    )
    common.add_argument(
        "--allow-full-range-int8",
        action="store_true",
        help="with auto: serve an int8 model whose weights use all 8 bits on a CPU without VNNI, where their "
        "sums can saturate (built on another machine; rebuild it here with `dvc repro -f -s quantize`)",
    )
    common.add_argument(
        "--max-f1-loss",
        type=float,
        default=None,
        help="with auto: the most test macro-F1 a model may lose against the teacher's FP32 at 95%% (a fraction); "
        "default: evaluate.max_f1_loss, as metrics/evaluate.json records it",
    )
    common.add_argument("--batch-size", type=int, default=64)
    prefer = argparse.ArgumentParser(add_help=False)
    prefer.add_argument(
        "--prefer",
        choices=["throughput", "latency"],
        default=None,
        help="with auto: the best batch throughput among models whose answers do not depend on "
        "batch-mates (default; for a service batching across requests), or the best batch-1 latency",
    )

    p = sub.add_parser(
        "predict", parents=[common, prefer], help="classify titles: arguments, --file, or stdin (one per line)"
    )
    p.add_argument("texts", nargs="*", help="titles to classify; none: read --file or stdin")
    p.add_argument("--file", help="a UTF-8 file with one title per line")
    p.add_argument("--top-k", type=int, default=3)
    p.set_defaults(func=cmd_predict)

    s = sub.add_parser("serve", parents=[common, prefer], help="serve POST /predict and GET /health over HTTP")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--max-texts", type=int, default=serving_limits.MAX_TEXTS, help="most titles per request")
    s.add_argument("--max-chars", type=int, default=serving_limits.MAX_CHARS, help="longest title accepted")
    s.add_argument(
        "--max-batch",
        type=int,
        default=serving_limits.MAX_BATCH,
        help="most titles in one forward pass across requests",
    )
    s.add_argument(
        "--max-wait-ms",
        type=float,
        default=serving_limits.MAX_WAIT_MS,
        help="longest a request waits for batch-mates (0: a pass takes what is queued; under load, "
        "requests queue while the previous pass runs)",
    )
    s.add_argument(
        "--max-queue", type=int, default=serving_limits.MAX_QUEUE, help="most titles waiting; beyond it, 503"
    )
    s.add_argument(
        "--timeout-s", type=float, default=serving_limits.TIMEOUT_S, help="a request not answered by then gets 504"
    )
    s.add_argument(
        "--max-body-bytes",
        type=int,
        default=None,
        help="largest request body; default: what --max-texts titles of --max-chars characters can need",
    )
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes serving the port, each with its own model and --threads // N threads (Linux)",
    )
    s.add_argument(
        "--streams",
        type=int,
        default=1,
        help="OpenVINO: calls each worker runs at once, on its share of the threads (its throughput "
        "streams), each from an inference thread of its own taking batches from the one queue",
    )
    s.add_argument("--log-level", default="warning")
    s.set_defaults(func=cmd_serve)

    _score_parser(sub, common)

    k = sub.add_parser(
        "params",
        help="list every params.yaml key: type, range, default, description and the value in force "
        "(validates params.yaml as the stages do)",
    )
    k.add_argument("--file", default="params.yaml", help="the params file to check against the schema")
    k.set_defaults(func=cmd_params)
    return parser


def _score_parser(sub, common):
    c = sub.add_parser(
        "score",
        parents=[common],
        help="classify a corpus (CSV, TSV, JSONL or Parquet; a file or a folder) into a folder of parts, "
        "streaming and resumable; auto chooses by throughput",
    )
    c.set_defaults(prefer=None)  # auto chooses by throughput: a corpus is scored in batches
    c.add_argument("input", help="a .csv, .tsv, .jsonl or .parquet file, or a folder of them")
    c.add_argument("-o", "--output", required=True, help="the folder of parts (created; a rerun resumes it)")
    c.add_argument("--format", choices=["parquet", "jsonl"], default="parquet", help="the parts' format")
    c.add_argument("--rows-per-part", type=int, default=100_000, help="input records per part")
    c.add_argument("--text-column", default="text", help="the column (or JSON key) holding the text")
    c.add_argument("--id-column", default=None, help="a column to carry through as the id; default: file:line")
    c.add_argument("--skip-bad", action="store_true", help="set bad rows aside in OUTPUT/rejects.jsonl")
    c.add_argument("--all-scores", action="store_true", help="every class's probability too")
    c.add_argument("--overwrite", action="store_true", help="replace the parts of another model, input or options")
    c.add_argument("--engine", choices=["local", "ray"], default="local", help="this process, or Ray Data")
    c.add_argument(
        "--address",
        default=None,
        help="with --engine ray: the cluster to join (HOST:PORT, or auto: the one `ray start` started here); "
        "default: start one for this job",
    )
    c.add_argument(
        "--actors",
        type=int,
        default=None,
        help="with --engine ray: model actors; default: the cluster's CPUs // --threads, whose default "
        "is the smallest node's CPUs (an actor per node)",
    )
    c.set_defaults(func=cmd_score)


def main(argv=None):
    args = build_parser().parse_args(argv)
    run_stage(args.func, args)


if __name__ == "__main__":
    main()
