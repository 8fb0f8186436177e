"""`bert-int8 score --engine ray`: the same job on Ray Data, on a local cluster or one joined at
--address. Read tasks stream the input files into chunks (parts.chunks: the same records, the
same checks, the finished parts skipped); `map_batches` runs a pool of actors that each hold
the model once (a Scorer, --threads each, --actors of them); the driver takes the scored rows
back in input order and writes the parts (parts.PartWriter), as the local engine does. So
OUTPUT needs no shared filesystem; the model directory does: every node opens it at the same
path, and every node has this package installed.

Ray and pyarrow are an optional extra (pip install "bert-int8[ray]"), imported here only.
"""

import logging
import warnings
from dataclasses import replace

from bert_int8.core.errors import PipelineError, first_line

from .parts import CHUNK_COLUMNS, BadRecord, chunks
from .scorer import Scorer

WARNING = "machine_warning"  # a column from the actors to the driver, not written
CHUNK = "chunk"  # a column from the read tasks to the actors: which chunk a row is of
BLOCK_BYTES = 1 << 20  # Ray Data's target block size for this job (see run_ray)


def import_ray():
    try:
        import pyarrow  # noqa: F401
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise PipelineError("--engine ray needs Ray and pyarrow: pip install 'bert-int8[ray]'") from None
    # Ray Data logs each execution, that progress bars are off, and warns that the actor pool's operator expects one
    # input (it counts the read task's input, one per file, not the chunks that task yields):
    # the job's own lines say what it does.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="The minimum number of concurrent actors", category=UserWarning)
    # ray_remote_args_fn (for max_restarts, which has no named parameter yet) is deprecated
    # from 2.60 and goes in 2.64; requirements.txt pins 2.60.
    warnings.filterwarnings("ignore", message="`ray_remote_args_fn` is deprecated")
    return ray


def _read(batch, files, spec, finished):
    """A read task: the chunks of the input files named in `batch` (their indexes), each marked
    with its number (CHUNK) so that an actor scores each chunk as the local engine does, however
    Ray's blocks gather or slice them."""
    import pyarrow as pa

    schema = pa.schema([(c, pa.string()) for c in CHUNK_COLUMNS] + [(CHUNK, pa.int64())])
    for index in batch["file"].to_pylist():
        for n, chunk in enumerate(chunks(files[index], spec, finished, pass_bad=True)):
            key = (index << 32) | n  # unique across files: two files' chunks never score together
            yield pa.table({**chunk, CHUNK: [key] * len(chunk["part"])}, schema=schema)


class _ActorScorer:
    """A pool actor: one Scorer, batches of chunks as pyarrow tables in and out. Each actor
    checks the model against its own node's CPU; its warning, naming the node, rides on its rows
    (an actor's stderr does not reach the driver) and the driver says it once."""

    def __init__(self, model, threads, batch_size, all_scores):
        import socket

        self.scorer = Scorer(model, threads, batch_size, all_scores)
        self.schema = _scored_schema(all_scores)
        warning = self.scorer.classifier.weight_range_warning
        self.warning = f"{warning} (on node {socket.gethostname()})" if warning else None

    def __call__(self, table):
        import pyarrow as pa

        ids = table.column(CHUNK).to_pylist()
        starts = [i for i in range(len(ids)) if i == 0 or ids[i] != ids[i - 1]]
        pieces = []
        for start, end in zip(starts, [*starts[1:], len(ids)]):
            scored = self.scorer(table.slice(start, end - start).drop_columns([CHUNK]).to_pydict())
            scored[WARNING] = [self.warning] * (end - start)
            pieces.append(pa.table(scored, schema=self.schema))
        return pa.concat_tables(pieces) if pieces else self.schema.empty_table()


def _no_restarts():
    """An actor that dies fails the job, and a rerun resumes from the finished parts. (Ray's
    default restarts it, and says so on stderr since its arguments sit in the object store.)"""
    return {"max_restarts": 0}


def _scored_schema(all_scores):
    import pyarrow as pa

    fields = [(c, pa.string()) for c in CHUNK_COLUMNS if c != "text"]
    fields += [("label", pa.int32()), ("label_name", pa.string()), ("probability", pa.float64())]
    if all_scores:
        fields.append(("scores", pa.list_(pa.float64())))
    return pa.schema([*fields, (WARNING, pa.string())])


def _layout(nodes, spec):
    """(actors, threads per actor) for the alive nodes' CPUs (`ray.nodes()`), checked: an actor
    asking for more CPUs than a node has, or more actors than the nodes hold, would wait for
    ever. By default an actor has the CPUs of the smallest node that has any (a head started
    with none is left out): an actor per node where nodes are alike. The read task and the
    driver share the cores with the actors, and a model's own threads take up the slack
    (metrics/score_bench.json compares it with an actor per core); actors: as many as fit."""
    node_cpus = [c for c in (int(n["Resources"].get("CPU", 0)) for n in nodes if n.get("Alive")) if c > 0]
    if not node_cpus:
        raise PipelineError("the Ray cluster has no node with CPUs (yet): start one, or wait for its autoscaler")
    threads = spec.threads or min(node_cpus)
    if threads > max(node_cpus):
        raise PipelineError(
            f"--threads {threads}: no node of the Ray cluster has that many CPUs (at most {max(node_cpus)})"
        )
    fits = sum(c // threads for c in node_cpus)
    actors = spec.actors or fits
    if actors > fits:
        raise PipelineError(
            f"--actors {actors}: the Ray cluster's {sum(node_cpus)} CPUs hold {fits} actors of {threads} threads"
        )
    return actors, threads


def _first_bad(table):
    """The index of the first row with a problem, or None."""
    problems = table.column("problem")
    if problems.null_count == len(problems):
        return None
    return next(i for i, p in enumerate(problems.to_pylist()) if p is not None)


def pipeline_error(err):
    """The PipelineError a Ray task raised, from the exception Ray raised for it, or None."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, PipelineError):
            return err
        err = getattr(err, "cause", None) or err.__cause__ or err.__context__
    return None


def run_ray(spec, model, files, finished, writer, warn):
    """Score `files` into `writer` on Ray; returns the actors, the threads of each, and the
    cluster's address."""
    ray = import_ray()
    # Ray's workers open the model and the input: by absolute paths, whatever their directory
    model = replace(model, path=model.path.resolve())
    files = [replace(f, path=f.path.resolve()) for f in files]
    started_here = _connect(ray, spec)
    try:
        actors, threads = _layout(ray.nodes(), spec)
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the writer takes rows in input order
        context.enable_progress_bars = False  # the job prints a line per part
        # A map task gathers what it yields into blocks of up to this size before passing them on
        # (128 MiB by default: a whole file of titles, held in memory, and one block for one
        # actor). A chunk of 4096 records is about half a MiB: blocks of a chunk or two stream.
        context.target_max_block_size = BLOCK_BYTES
        todo = [f.index for f in files]
        data = ray.data.from_items([{"file": i} for i in todo], override_num_blocks=max(1, len(todo)))
        # reading is light next to the model: it takes no CPU of the actors' share
        data = data.map_batches(
            _read,
            batch_size=1,
            batch_format="pyarrow",
            fn_kwargs={"files": files, "spec": spec, "finished": frozenset(finished)},
            num_cpus=0,
            compute=ray.data.TaskPoolStrategy(size=1),
        )
        data = data.map_batches(
            _ActorScorer,
            batch_size=None,  # a block each call: it holds whole chunks, or a slice of a large one
            batch_format="pyarrow",
            fn_constructor_kwargs={
                "model": model,
                "threads": threads,
                "batch_size": spec.batch_size,
                "all_scores": spec.all_scores,
            },
            num_cpus=threads,
            compute=ray.data.ActorPoolStrategy(size=actors),
            ray_remote_args_fn=_no_restarts,
        )
        _write(data, spec, writer, warn)
        writer.flush()
        return actors, threads, ray.get_runtime_context().gcs_address
    finally:
        if started_here:
            ray.shutdown()


def _connect(ray, spec):
    """Start or join the cluster unless this process is already in one; whether it started here."""
    if ray.is_initialized():
        return False
    try:
        # without --address, a cluster of its own ("local"), not one `ray start` left on
        # this machine nor RAY_ADDRESS's: --address auto joins the local one
        address = spec.address or "local"
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    except (ConnectionError, RuntimeError, ValueError, ray.exceptions.RayError) as err:
        where = f"--address {spec.address}" if spec.address else "Ray"
        raise PipelineError(f"{where}: cannot start or join a Ray cluster ({first_line(err)})") from None
    return True


def _write(data, spec, writer, warn):
    """The scored rows, in input order, to the writer; the first bad record stops the job (after
    the rows before it), as the local engine does, unless --skip-bad set it aside."""
    try:
        for table in data.iter_batches(batch_size=None, batch_format="pyarrow"):
            for warning in set(table.column(WARNING).to_pylist()) - {None}:
                warn(warning)
            scored = table.drop_columns([WARNING])
            bad = None if spec.skip_bad else _first_bad(scored)
            if bad is not None:
                writer.add(scored.slice(0, bad).to_pydict())
                row = scored.slice(bad, 1).to_pylist()[0]
                writer.flush_before(row["part"])
                raise BadRecord(row["part"], row["where"], row["problem"])
            writer.add(scored.to_pydict())
    except Exception as err:
        found = pipeline_error(err)
        if found is None:
            raise
        raise PipelineError(str(found)) from None
