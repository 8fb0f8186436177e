"""The `bert-int8` command line: its commands and their options."""

import argparse

from bert_int8 import backends
from bert_int8.core import serving_limits
from bert_int8.core.errors import PipelineError

DESCRIPTION = """The `bert-int8` command: `predict` titles with a saved model, or `serve` it over HTTP.

A model is any directory the pipeline writes (any backend; FP32, int8 or BF16: read from the
directory), or `auto`: the committed run's fastest model within the accuracy budget
(bert_int8/serve/choose.py). Models of every backend but PyTorch run without torch and transformers
(pip install "bert-int8[serve]")."""


def _model_dirs_help():
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
    parser = argparse.ArgumentParser(prog="bert-int8", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    common, prefer = _common(model_dirs, runtimes), _prefer()
    _predict_parser(sub, [common, prefer])
    _serve_parser(sub, [common, prefer])
    _score_parser(sub, common)
    _params_parser(sub)
    return parser


def _common(model_dirs, runtimes):
    """The options of every command that runs a model."""
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
    return common


def _prefer():
    prefer = argparse.ArgumentParser(add_help=False)
    prefer.add_argument(
        "--prefer",
        choices=["throughput", "latency"],
        default=None,
        help="with auto: the best batch throughput among models whose answers do not depend on "
        "batch-mates (default; for a service batching across requests), or the best batch-1 latency",
    )

    return prefer


def _predict_parser(sub, parents):
    p = sub.add_parser("predict", parents=parents, help="classify titles: arguments, --file, or stdin (one per line)")
    p.add_argument("texts", nargs="*", help="titles to classify; none: read --file or stdin")
    p.add_argument("--file", help="a UTF-8 file with one title per line")
    p.add_argument("--top-k", type=int, default=3)


def _serve_parser(sub, parents):
    s = sub.add_parser("serve", parents=parents, help="serve POST /predict and GET /health over HTTP")
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


def _params_parser(sub):
    k = sub.add_parser(
        "params",
        help="list every params.yaml key: type, range, default, description and the value in force "
        "(validates params.yaml as the stages do)",
    )
    k.add_argument("--file", default="params.yaml", help="the params file to check against the schema")


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
