"""Datasets other than THUCNews: CSV, TSV, JSON Lines files, or a Hugging Face dataset, with
string or integer labels, read as strictly as THUCNews (one-line `file:line: what is wrong`).

- Files: `{data.raw_dir}/train.<ext>`, and `dev.<ext>` / `test.<ext>` when there are (ext: csv,
  tsv, jsonl). A split that is missing is cut from train: seeded and stratified, its size
  `data.dev_fraction` / `data.test_fraction` of train.
- `hf`: `data.raw_dir` is a dataset saved with `save_to_disk`, or a hub id; splits train,
  validation (or dev) and test, the same fallback for a missing one.
- Columns: `data.text_column`, `data.label_column`. Labels: `data.labels` in that order when
  given (a label outside it is an error), else the labels of train, sorted (numerically when all
  are integers); a dev or test label that train lacks is an error.
- Tabs and line breaks inside a text become spaces (the prepared splits are one text per line);
  any other control character is an error, as in THUCNews.
"""

import csv
import io
import json
from pathlib import Path

from .data import MAX_LINE_CHARS, SPLITS, Split, _is_control, _lines, read_raw, stratified_split
from .errors import PipelineError

FILE_FORMATS = ("csv", "tsv", "jsonl")


def _text(value, where, column):
    if not isinstance(value, str):
        raise PipelineError(f"{where}: {column!r} is not a string")
    text = " ".join(value.replace("\t", " ").replace("\r", " ").replace("\n", " ").split(" "))
    if not text.strip():
        raise PipelineError(f"{where}: empty text")
    if len(text) > 100 * MAX_LINE_CHARS:
        raise PipelineError(f"{where}: text is {len(text)} characters long, at most {100 * MAX_LINE_CHARS} allowed")
    control = next((i for i, ch in enumerate(text) if _is_control(ch)), None)
    if control is not None:
        raise PipelineError(
            f"{where}: text has a control character (U+{ord(text[control]):04X}) at character {control + 1}"
        )
    return text


def _label(value, where, column):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PipelineError(f"{where}: label {value!r} is neither a string nor an integer")
    label = str(value).strip()
    if not label:
        raise PipelineError(f"{where}: empty label")
    return label


def _rows_delimited(path, delimiter, text_column, label_column):
    text = "\n".join(_lines(path))  # strict UTF-8, BOM and CRLF handled, errors name the line
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter, strict=True)
    for column in (text_column, label_column):
        if column not in (reader.fieldnames or []):
            raise PipelineError(f"{path}:1: no column {column!r} in the header (columns: {reader.fieldnames})")
    try:
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if None in row or any(v is None for v in row.values()):
                raise PipelineError(f"{where}: expected {len(reader.fieldnames)} fields")
            yield where, row[text_column], row[label_column]
    except csv.Error as err:
        raise PipelineError(
            f"{path}:{reader.line_num}: not valid {'CSV' if delimiter == ',' else 'TSV'}: {err}"
        ) from None


def _rows_jsonl(path, text_column, label_column):
    for n, line in enumerate(_lines(path), 1):
        where = f"{path}:{n}"
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise PipelineError(f"{where}: not valid JSON ({err.msg} at column {err.colno})") from None
        if not isinstance(obj, dict):
            raise PipelineError(f"{where}: expected a JSON object")
        for column in (text_column, label_column):
            if column not in obj:
                raise PipelineError(f"{where}: no key {column!r}")
        yield where, obj[text_column], obj[label_column]


def _rows_hf(dataset, name, text_column, label_column):
    for column in (text_column, label_column):
        if column not in dataset.column_names:
            raise PipelineError(f"{name}: no column {column!r} (columns: {dataset.column_names})")
    feature = dataset.features[label_column]
    names = getattr(feature, "names", None)  # a ClassLabel column: ints standing for names
    for i, row in enumerate(dataset, 1):
        label = row[label_column]
        yield f"{name}:{i}", row[text_column], names[label] if names and isinstance(label, int) else label


def _read_rows(rows, text_column, label_column):
    texts, labels = [], []
    for where, text, label in rows:
        texts.append(_text(text, where, text_column))
        labels.append((where, _label(label, where, label_column)))
    if not texts:
        raise PipelineError("a split is empty")
    return texts, labels


def _sort_key(label):
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def _raw_splits(data_params):
    """split name -> (texts, [(where, label)]) for the splits the source has."""
    fmt, cols = data_params.format, (data_params.text_column, data_params.label_column)
    if fmt == "hf":
        return {
            name: _read_rows(_rows_hf(ds, f"{data_params.raw_dir}[{name}]", *cols), *cols)
            for name, ds in _load_hf(data_params.raw_dir).items()
        }
    raw = Path(data_params.raw_dir)
    if not (raw / f"train.{fmt}").is_file():
        raise PipelineError(f"{raw / f'train.{fmt}'}: file not found (data.format is {fmt!r})")
    out = {}
    for name in SPLITS:
        path = raw / f"{name}.{fmt}"
        if path.is_file():
            rows = (
                _rows_jsonl(path, *cols)
                if fmt == "jsonl"
                else _rows_delimited(path, "," if fmt == "csv" else "\t", *cols)
            )
            out[name] = _read_rows(rows, *cols)
    return out


def _load_hf(source):
    try:
        import datasets
    except ImportError:
        raise PipelineError("data.format: 'hf' needs the datasets library: pip install datasets") from None
    try:
        loaded = datasets.load_from_disk(source) if Path(source).is_dir() else datasets.load_dataset(source)
    except Exception as err:  # datasets raises many types for a bad path or an unreachable hub
        from .errors import first_line

        raise PipelineError(f"data.raw_dir: cannot load the dataset {source!r}: {first_line(err)}") from None
    if not isinstance(loaded, datasets.DatasetDict):
        loaded = datasets.DatasetDict({"train": loaded})
    names = {"train": "train", "validation": "dev", "dev": "dev", "test": "test"}
    if "train" not in loaded:
        raise PipelineError(f"data.raw_dir: {source!r} has no train split (splits: {list(loaded)})")
    return {names[k]: v for k, v in loaded.items() if k in names}


def read_dataset(data_params):
    """(classes, {train, dev, test: Split}) from the source `data.format` names."""
    if data_params.format == "thucnews":
        return read_raw(data_params.raw_dir)
    raw = _raw_splits(data_params)
    if data_params.labels is not None:
        classes = [str(c) for c in data_params.labels]
        allowed, scope = set(classes), "data.labels"
    else:
        classes = sorted({label for _, label in raw["train"][1]}, key=_sort_key)
        allowed, scope = set(classes), "the train split's labels"
    index = {c: i for i, c in enumerate(classes)}
    shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
    splits = {}
    for name, (texts, labels) in raw.items():
        for where, label in labels:
            if label not in allowed:
                raise PipelineError(f"{where}: label {label!r} is not one of {scope} ({shown})")
        splits[name] = Split(texts, [index[label] for _, label in labels])
    if len(classes) < 2:
        raise PipelineError(f"{data_params.raw_dir}: needs at least 2 labels, found {len(classes)}")
    for name, fraction in (("test", data_params.test_fraction), ("dev", data_params.dev_fraction)):
        if name not in splits:
            splits["train"], splits[name] = stratified_split(splits["train"], fraction, data_params.seed, name)
    return classes, splits


def in_label_order(classes, splits, labels, key="model.finetuned"):
    """(labels, splits) with label ids renumbered to `labels` (a fine-tuned model's order), when
    it holds the same label names as `classes`; otherwise an error saying which differ."""
    if sorted(labels) != sorted(classes):
        only_data, only_model = sorted(set(classes) - set(labels)), sorted(set(labels) - set(classes))
        raise PipelineError(
            f"{key}: the model's labels differ from the data's "
            f"(only in the data: {only_data or 'none'}; only in the model: {only_model or 'none'})"
        )
    new_id = {i: labels.index(c) for i, c in enumerate(classes)}
    return list(labels), {name: Split(s.texts, [new_id[y] for y in s.labels]) for name, s in splits.items()}
