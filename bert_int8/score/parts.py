"""The output of `bert-int8 score`: a folder of parts, each written whole or not at all, and
the records that go into each part.

A part is `--rows-per-part` consecutive records of one input file (a part never spans two
files): part-<file>-<k>.parquet (or .jsonl), file and k counted from 0. Which records make a
part depends on the input alone, so a rerun knows which parts are finished (their file exists)
and skips their records unscored; both engines cut the same parts. Bad records count towards
their part: with --skip-bad they go to rejects (.rejects/<part>.jsonl, written before the part,
joined into rejects.jsonl when the job ends).

Columns of an output row: id, label (the class id), label_name, probability (the label's),
and with --all-scores `scores`: every class's probability by name.
"""

import json
from pathlib import Path

from bert_int8.core.atomic import write_text, write_with
from bert_int8.core.errors import PipelineError

from .inputs import records

SUFFIX = {"parquet": ".parquet", "jsonl": ".jsonl"}
REJECTS_DIR = ".rejects"
REJECTS = "rejects.jsonl"
# the columns a chunk of records carries to the scorer and on to the writer
CHUNK_COLUMNS = ("part", "id", "where", "text", "problem")


class BadRecord(PipelineError):
    """A bad record without --skip-bad: `file:line: what is wrong`, and the part it is in (the
    parts before it are whole, and get written)."""

    def __init__(self, part, where, problem):
        super().__init__(f"{where}: {problem} (--skip-bad sets such rows aside)")
        self.part = part


def part_name(file_index, k):
    return f"part-{file_index:05d}-{k:05d}"


def finished_parts(out_dir, fmt):
    """The names of the parts already written under `out_dir` in format `fmt`."""
    return {p.name.removesuffix(SUFFIX[fmt]) for p in Path(out_dir).glob(f"part-*{SUFFIX[fmt]}")}


def chunks(file, spec, finished=frozenset(), pass_bad=False):
    """The records of `file` as chunks (a dict of CHUNK_COLUMNS lists) of at most spec.chunk_rows
    records of one part, skipping the parts in `finished` (their records are read, not
    checked). A part's chunks are the same in every run and on both engines, and the scorer
    batches within a chunk: a resumed part is scored as it would have been. A bad record stops
    the job (BadRecord), unless spec.skip_bad or `pass_bad` (the Ray engine's read tasks pass
    bad records on with their problem, and its driver stops the job: an error raised in a Ray
    task reaches the driver as Ray's own exception)."""
    chunk = {c: [] for c in CHUNK_COLUMNS}
    for i, record in enumerate(records(file, spec.text_column, spec.id_column)):
        part = part_name(file.index, i // spec.rows_per_part)
        if part in finished:
            continue
        if chunk["part"] and (len(chunk["part"]) >= spec.chunk_rows or chunk["part"][-1] != part):
            yield chunk  # before a bad record stops the job: the parts before it get written
            chunk = {c: [] for c in CHUNK_COLUMNS}
        if record.problem and not (spec.skip_bad or pass_bad):
            raise BadRecord(part, record.where, record.problem)
        for column, value in zip(
            CHUNK_COLUMNS, (part, record.id or record.default_id, record.where, record.text, record.problem)
        ):
            chunk[column].append(value)
    if chunk["part"]:
        yield chunk


class PartWriter:
    """Takes scored chunks in input order and writes each part when its last row has come:
    its rejects first, then the part, each atomically. `on_part(name, rows, rejects)` is called
    after each part lands."""

    def __init__(self, out_dir, fmt, labels, all_scores, on_part=None):
        self.out_dir, self.fmt, self.labels, self.all_scores = Path(out_dir), fmt, labels, all_scores
        self.on_part = on_part or (lambda *_: None)
        self.part, self.rows, self.rejects = None, [], []

    def add(self, scored):
        """`scored`: a chunk with the scorer's columns (label, label_name, probability[, scores])."""
        columns = list(scored)
        for values in zip(*(scored[c] for c in columns)):
            row = dict(zip(columns, values))
            if row["part"] != self.part:
                self.flush()
                self.part = row["part"]
            if row["problem"] is not None:
                self.rejects.append({"where": row["where"], "id": row["id"], "reason": row["problem"]})
            else:
                self.rows.append(row)

    def flush_before(self, part):
        """Write the part held, if it comes before `part` (so all its rows have come)."""
        if self.part is not None and self.part < part:
            self.flush()

    def flush(self):
        if self.part is None:
            return
        if self.rejects:
            lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rejects)
            write_text(self.out_dir / REJECTS_DIR / f"{self.part}.jsonl", lines)
        path = self.out_dir / f"{self.part}{SUFFIX[self.fmt]}"
        (self._write_parquet if self.fmt == "parquet" else self._write_jsonl)(path)
        self.on_part(self.part, len(self.rows), len(self.rejects))
        self.part, self.rows, self.rejects = None, [], []

    def _out_rows(self):
        for row in self.rows:
            out = {
                "id": row["id"],
                "label": row["label"],
                "label_name": row["label_name"],
                "probability": row["probability"],
            }
            if self.all_scores:
                out["scores"] = dict(zip(self.labels, row["scores"]))
            yield out

    def _write_jsonl(self, path):
        def rounded(row):  # as `predict` prints probabilities
            row["probability"] = round(row["probability"], 6)
            if "scores" in row:
                row["scores"] = {k: round(v, 6) for k, v in row["scores"].items()}
            return row

        write_text(path, "".join(json.dumps(rounded(r), ensure_ascii=False) + "\n" for r in self._out_rows()))

    def _write_parquet(self, path):
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields = [
            pa.field("id", pa.string()),
            pa.field("label", pa.int32()),
            pa.field("label_name", pa.string()),
            pa.field("probability", pa.float32()),
        ]
        if self.all_scores:
            fields.append(pa.field("scores", pa.struct([pa.field(name, pa.float32()) for name in self.labels])))
        table = pa.Table.from_pylist(list(self._out_rows()), schema=pa.schema(fields))
        write_with(path, lambda tmp: pq.write_table(table, tmp))


def join_rejects(out_dir):
    """rejects.jsonl from every part's rejects, in part order; the count."""
    out_dir = Path(out_dir)
    parts = sorted((out_dir / REJECTS_DIR).glob("part-*.jsonl"))
    text = "".join(p.read_text(encoding="utf-8") for p in parts)
    if text or (out_dir / REJECTS).exists():
        write_text(out_dir / REJECTS, text)
    return text.count("\n")
