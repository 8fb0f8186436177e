"""What `bert-int8 score` reads: CSV, TSV, JSON Lines or Parquet files, or a folder of them,
streamed record by record (nothing holds a whole file) and checked as strictly as the pipeline
reads its data (bert_int8/data/formats.py).

- A folder: every file in it (recursively) ending in .csv, .tsv, .jsonl or .parquet, in sorted
  order; a file named directly must end in one of those.
- CSV and TSV have a header naming the columns; CSV fields may be quoted (and span lines: a
  record is named by the line it starts on), TSV fields never are. A UTF-8 BOM and CRLF endings
  are accepted; blank lines are skipped.
- A record's place is `file:line` (`file:row N` for Parquet, rows counted from 1); the default
  id of a row is its file (as named under the input folder) and that number.
- A bad record (not valid UTF-8, not valid JSON, a missing or non-string text, a text that is
  empty, longer than the pipeline's limit or has a control character, a missing id) is a
  `Record` with a `problem`; what is wrong with a whole file (no such column, a column that is
  not text, a CSV the parser cannot read) is a PipelineError naming the file.
"""

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from bert_int8.core.errors import PipelineError, first_line
from bert_int8.data.formats import _text as checked_text

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class InputFile:
    index: int  # its place in the input, which names its parts
    path: Path
    name: str  # as ids and messages name it: relative to the input folder
    format: str


@dataclass(frozen=True)
class Record:
    where: str  # file:line, or file:row N
    default_id: str  # file:N
    text: str | None
    id: str | None
    problem: str | None = None


def input_files(path):
    """The files of INPUT, in the order their parts are numbered."""
    path = Path(path)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in FORMATS)
        if not found:
            raise PipelineError(f"{path}: no .csv, .tsv, .jsonl or .parquet file in this folder")
        names = [p.relative_to(path).as_posix() for p in found]
    elif path.is_file():
        if path.suffix.lower() not in FORMATS:
            raise PipelineError(f"{path}: not a .csv, .tsv, .jsonl or .parquet file")
        found, names = [path], [path.name]
    else:
        raise PipelineError(f"{path}: file not found")
    return [InputFile(i, p, n, FORMATS[p.suffix.lower()]) for i, (p, n) in enumerate(zip(found, names))]


def records(file, text_column, id_column=None):
    """Every record of `file`, in order: a Record each, bad ones with their problem."""
    if file.format == "parquet":
        yield from _parquet_records(file, text_column, id_column)
        return
    rows = _jsonl_rows(file) if file.format == "jsonl" else _delimited_rows(file, text_column, id_column)
    for n, fields in rows:
        where = f"{file.name}:{n}"
        if isinstance(fields, str):  # the line's problem
            yield Record(where, where, None, None, fields)
        else:
            yield _record(where, where, fields, text_column, id_column, "key" if file.format == "jsonl" else "column")


def check_columns(file, text_column, id_column=None):
    """A PipelineError naming `file` if it cannot be read or lacks a column: what stops a job
    whatever its rows (a CSV or TSV header, a Parquet schema; JSON Lines name keys per line)."""
    rows = records(file, text_column, id_column)
    try:
        next(rows, None)
    finally:
        rows.close()


def estimate_rows(file):
    """About how many records `file` holds, for progress: Parquet's count, or its line breaks."""
    if file.format == "parquet":
        return _parquet(file).metadata.num_rows
    breaks, last = 0, b"\n"
    with open(file.path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            breaks, last = breaks + block.count(b"\n"), block[-1:]
    lines = breaks + (last != b"\n")
    return max(0, lines - (file.format != "jsonl"))  # less the header


def _record(where, default_id, fields, text_column, id_column, what):
    """A Record from one row's values ({column: value}, missing columns absent)."""
    text, problem = _checked_text(fields, text_column, what, where)
    ident = default_id
    if id_column is not None and not problem:
        raw = fields.get(id_column)
        ident = None if raw is None or raw == "" else str(raw)
        problem = f"no id: {id_column!r} is missing" if ident is None else _bad_bytes(ident)
    if problem:
        return Record(where, default_id, None, None, problem)
    return Record(where, default_id, text, ident)


def _checked_text(fields, column, what, where):
    """(the row's text, None), or (None, what is wrong with it): missing, not a string, not valid
    UTF-8, or not a text the pipeline accepts (data.formats: empty, too long, a control character)."""
    if column not in fields:
        return None, f"no {column!r} {what}"
    value = fields[column]
    if value is None:
        return None, f"{column!r} is missing"
    if isinstance(value, str) and _bad_bytes(value):
        return None, _bad_bytes(value)
    try:
        return checked_text(value, where, column), None
    except PipelineError as err:
        return None, str(err).removeprefix(f"{where}: ")


def _bad_bytes(text):
    """The problem of a text that holds a surrogate: a byte UTF-8 does not allow (decoded with
    surrogateescape as U+DC80-U+DCFF), or a lone surrogate written as a JSON escape ("\\ud800"),
    which no tokenizer can encode."""
    for i, ch in enumerate(text):
        if "\udc80" <= ch <= "\udcff":
            return f"not valid UTF-8 (byte 0x{ord(ch) - 0xDC00:02x} at character {i + 1})"
        if "\ud800" <= ch <= "\udfff":
            return f"not valid Unicode (a lone surrogate, U+{ord(ch):04X}, at character {i + 1})"
    return None


def _lines(file):
    """(line number, text) of each line, decoded with surrogateescape so that one bad line is one
    bad record (_bad_bytes names it), not the end of the file; BOM and CR removed."""
    try:
        f = open(file.path, "rb")  # noqa: SIM115 (closed below; a generator holds it)
    except OSError as err:
        raise PipelineError(f"{file.path}: cannot read it ({err.strerror})") from None
    with f:
        for n, raw in enumerate(f, 1):
            if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            yield n, raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", "surrogateescape")


def _jsonl_rows(file):
    for n, line in _lines(file):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            yield n, f"not valid JSON ({err.msg} at column {err.colno})"
            continue
        yield n, obj if isinstance(obj, dict) else "expected a JSON object"


def _delimited_rows(file, text_column, id_column):
    """(line the record starts on, {column: value}) of a CSV or TSV file with a header."""
    kind = file.format.upper()
    # TSV is never quoted (titles have quote characters of their own); CSV fields may be, as
    # data.formats reads them
    quoting, delimiter = (csv.QUOTE_MINIMAL, ",") if kind == "CSV" else (csv.QUOTE_NONE, "\t")
    lines = (line + "\n" for _, line in _lines(file))
    reader = csv.reader(lines, delimiter=delimiter, quoting=quoting, strict=True)
    start = 1
    try:
        header = next(reader, None)
        if header is None:
            raise PipelineError(f"{file.path}: file is empty (a header naming the columns comes first)")
        for column in (text_column, id_column):
            if column is not None and column not in header:
                raise PipelineError(f"{file.path}:1: no column {column!r} in the header (columns: {header})")
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            if not row or row == [""]:  # a blank line
                continue
            if len(row) != len(header):
                yield start, f"expected {len(header)} fields, found {len(row)}"
            else:
                yield start, dict(zip(header, row))
    except csv.Error as err:
        raise PipelineError(f"{file.path}:{start}: not valid {kind}: {err}") from None


def _parquet(file):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise PipelineError(f"{file.path}: reading Parquet needs pyarrow: pip install 'bert-int8[score]'") from None
    try:
        return pq.ParquetFile(file.path)
    except Exception as err:  # pyarrow raises its own types for a file that is not Parquet
        raise PipelineError(f"{file.path}: not a Parquet file ({first_line(err)})") from None


def _parquet_records(file, text_column, id_column, batch_rows=4096):
    parquet = _parquet(file)  # first: without pyarrow, the line naming the extra
    import pyarrow as pa

    schema = parquet.schema_arrow
    for column in (text_column, id_column):
        if column is not None and column not in schema.names:
            raise PipelineError(f"{file.path}: no column {column!r} (columns: {schema.names})")
    kind = schema.field(text_column).type
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise PipelineError(f"{file.path}: column {text_column!r} holds {kind}, not text")
    columns = [c for c in (text_column, id_column) if c is not None]
    n = 0
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=columns):
        # the text as bytes, decoded here: a bad row is one bad record, not a failed batch
        texts = batch.column(text_column).cast(pa.binary()).to_pylist()
        ids = batch.column(id_column).to_pylist() if id_column is not None else [None] * len(texts)
        for raw, ident in zip(texts, ids):
            n += 1
            where, default_id = f"{file.name}:row {n}", f"{file.name}:{n}"
            text = raw.decode("utf-8", "surrogateescape") if raw is not None else None
            fields = {text_column: text} if id_column is None else {text_column: text, id_column: ident}
            yield _record(where, default_id, fields, text_column, id_column, "column")
