"""One `bert-int8 score` job: check the options, own the output folder (its manifest says which
model and input its parts belong to), run an engine, report progress, and close the manifest.

A rerun with the same model, input and options resumes: the finished parts stay, their records
are skipped unscored. A rerun with another model, input or options refuses in one line naming
what differs, unless --overwrite, which removes the earlier job's parts first. The input is
known by each file's name, size and modification time, as make and DVC know a changed file
without reading it.
"""

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bert_int8.backends.model_dir import ModelDir
from bert_int8.core import machine
from bert_int8.core.atomic import write_json
from bert_int8.core.digest import model_sha256
from bert_int8.core.errors import PipelineError
from bert_int8.core.metrics_files import read_metrics
from bert_int8.core.progress import clock
from bert_int8.serve.predict import config_labels

from .inputs import check_columns, estimate_rows, input_files
from .local import run_local
from .parts import REJECTS, REJECTS_DIR, SUFFIX, PartWriter, finished_parts, join_rejects
from .ray_engine import import_ray, run_ray  # Ray itself only with --engine ray

MANIFEST = "manifest.json"
ENGINES = ("local", "ray")


@dataclass(frozen=True)
class ScoreSpec:
    input: Path
    output: Path
    format: str = "parquet"
    rows_per_part: int = 100_000
    text_column: str = "text"
    id_column: str | None = None
    skip_bad: bool = False
    all_scores: bool = False
    overwrite: bool = False
    engine: str = "local"
    address: str | None = None
    actors: int | None = None
    threads: int | None = None
    batch_size: int = 64
    chunk_rows: int = 4096  # records sorted by length together (parts.chunks)

    def check(self):
        """A PipelineError naming the flag of the first value out of range."""
        if self.format not in SUFFIX:
            raise PipelineError(f"--format: {self.format!r}; one of {', '.join(SUFFIX)}")
        if self.engine not in ENGINES:
            raise PipelineError(f"--engine: {self.engine!r}; one of {', '.join(ENGINES)}")
        for flag, value in (
            ("--rows-per-part", self.rows_per_part),
            ("--batch-size", self.batch_size),
            ("--threads", self.threads),
            ("--actors", self.actors),
        ):
            if value is not None and value < 1:
                raise PipelineError(f"{flag}: {value}; at least 1")
        if self.engine != "ray" and (self.address or self.actors):
            raise PipelineError("--address and --actors apply to --engine ray only")
        if self.format == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise PipelineError(
                    "--format parquet (the default) needs pyarrow: pip install 'bert-int8[score]', or --format jsonl"
                ) from None
        if self.engine == "ray":
            import_ray()  # without the extra: one line, before the output is touched
        if self.id_column == self.text_column:
            raise PipelineError(f"--id-column: {self.id_column!r} is the text column")


def identity(spec, model, files):
    """What the output's parts depend on: a rerun resumes only where this is the same. Not
    --skip-bad: a part written without it holds no bad record, so it is the part --skip-bad
    writes, and a job stopped by a bad row resumes with --skip-bad added."""
    return {
        "model": {"name": model.name, "sha256": model_sha256(model)},
        "input": [_known_by(f) for f in files],
        "options": {k: getattr(spec, k) for k in ("format", "rows_per_part", "text_column", "id_column", "all_scores")},
    }


def _known_by(file):
    stat = file.path.stat()
    return {"name": file.name, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _claim_output(spec, wanted):
    """Make spec.output this job's: new, resumed (same identity), or cleared (--overwrite)."""
    out = spec.output
    if out.exists() and not out.is_dir():
        raise PipelineError(f"{out}: exists and is not a folder")
    manifest = out / MANIFEST
    if out.is_dir() and any(out.iterdir()) and not manifest.exists():
        raise PipelineError(f"{out}: not empty and holds no {MANIFEST} (not a score output); choose a new folder")
    if manifest.exists():
        before = read_metrics(manifest)
        differs = [k for k in wanted if before.get(k) != wanted[k]]
        if differs and not spec.overwrite:
            raise PipelineError(
                f"{manifest}: these parts belong to another {' and '.join(differs)}; "
                "pass --overwrite to replace them, or choose another folder"
            )
        if differs:  # --overwrite: the earlier job's files only
            for suffix in SUFFIX.values():
                for part in out.glob(f"part-*{suffix}"):
                    part.unlink()
            shutil.rmtree(out / REJECTS_DIR, ignore_errors=True)
            (out / REJECTS).unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    for tmp in out.rglob(".part-*.tmp"):  # a part a killed run was writing: never a part
        tmp.unlink()


class PartProgress:
    """A line per part written: titles so far of about how many, titles/s and the ETA."""

    def __init__(self, total, skipped, stream=None):
        self.total, self.skipped, self.stream = total, skipped, stream or sys.stderr
        self.done, self.rows, self.rejects, self.start = 0, 0, 0, time.monotonic()

    def __call__(self, part, rows, rejects):
        self.done += rows + rejects
        self.rows, self.rejects = self.rows + rows, self.rejects + rejects
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        so_far = self.skipped + self.done
        left = max(0, self.total - so_far)
        share = f" ({so_far / self.total:.0%})" if self.total else ""
        print(
            f"score: {part} written ({rows:,} rows, {rejects:,} rejected); {so_far:,} of about {self.total:,} "
            f"titles{share}, {rate:,.0f} titles/s, ETA {clock(left / rate) if rate else '?'}",
            file=self.stream,
            flush=True,
        )

    def seconds(self):
        return time.monotonic() - self.start


def plural(n, noun):
    """`n` and `noun`, plural unless n is 1: "1 part", "2,000 parts"."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


class _Once:
    """Prints each warning once, on stderr."""

    def __init__(self):
        self.said = set()

    def __call__(self, line):
        if line not in self.said:
            self.said.add(line)
            print(line, file=sys.stderr, flush=True)


def run(spec, model):
    """Score spec.input with `model` (a path or a ModelDir) into spec.output; the manifest."""
    spec.check()
    model = model if isinstance(model, ModelDir) else ModelDir.open(model)
    files = input_files(spec.input)
    for file in files:  # a missing column refuses the job before it touches the output
        check_columns(file, spec.text_column, spec.id_column)
    wanted = identity(spec, model, files)
    _claim_output(spec, wanted)
    manifest = {**wanted, "model_path": str(model.path), "input_path": str(spec.input), "complete": False}
    write_json(spec.output / MANIFEST, manifest)

    finished = finished_parts(spec.output, spec.format)
    total = sum(estimate_rows(f) for f in files)
    skipped = min(total, len(finished) * spec.rows_per_part)  # about: a file's last part is shorter
    progress = PartProgress(total, skipped)
    labels = config_labels(model.path)
    writer = PartWriter(spec.output, spec.format, labels, spec.all_scores, progress)
    warn = _Once()
    if spec.engine == "ray":
        actors, threads, cluster = run_ray(spec, model, files, finished, writer, warn)
        workers = {"actors": actors, "threads_per_actor": threads, "cluster": cluster}
    else:
        run_local(spec, model, files, finished, writer, warn)
        workers = {"threads": spec.threads or "the runtime's default", "cpus": os.cpu_count()}
    rejects = join_rejects(spec.output)
    seconds = progress.seconds()
    manifest.update(
        complete=True,
        labels=labels,
        parts=len(finished_parts(spec.output, spec.format)),
        resumed_parts=len(finished),
        scored_this_run=progress.rows,
        rejected_this_run=progress.rejects,
        rejects=rejects,
        engine={"name": spec.engine, **workers},
        seconds_this_run=round(seconds, 2),
        titles_per_s_this_run=round(progress.done / seconds, 1) if seconds > 0 else None,
        machine=machine.environment(libraries=()),
    )
    write_json(spec.output / MANIFEST, manifest)
    print(
        f"score: {spec.output}: {plural(manifest['parts'], 'part')} complete ({len(finished)} from an earlier run), "
        f"{progress.rows:,} titles scored and {progress.rejects:,} rejected in {clock(seconds)}"
        + (f"; {rejects:,} rejects in {spec.output / REJECTS}" if rejects else ""),
        file=sys.stderr,
    )
    return manifest
