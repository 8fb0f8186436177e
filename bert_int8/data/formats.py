"""Datasets other than THUCNews: CSV, TSV, JSON Lines files, or a Hugging Face dataset, with
string or integer labels, read as strictly as THUCNews (one-line `file:line: what is wrong`).

- Files: `{data.raw_dir}/train.<ext>`, and `dev.<ext>` / `test.<ext>` when there are (ext: csv,
  tsv, jsonl). CSV fields may be quoted (and span lines; errors name the line a record starts
  on); TSV fields never are: a quote character is part of the text.
- A split that is missing is cut from train: seeded and stratified, its size `data.dev_fraction`
  / `data.test_fraction` of train's distinct texts; all copies of a text stay on one side.
- `hf`: `data.raw_dir` is a dataset saved with `save_to_disk`, or a hub id; splits train,
  validation (or dev) and test, the same fallback for a missing one.
- Columns: `data.text_column`, `data.label_column`. Labels: `data.labels` in that order when
  given (a label outside it is an error), else the labels of train, sorted (numerically when all
  are integers); a dev or test label that train lacks is an error, and so is a class without
  examples in any split. A ClassLabel's -1 (no label) is an error.
- Tabs and line breaks inside a text become spaces (the prepared splits are one text per line);
  the rest is checked as THUCNews titles are (data.check_text: length, control characters).
"""

import csv
import io
import json
from collections import Counter
from pathlib import Path

from bert_int8.core.errors import PipelineError, first_line
from bert_int8.data.splits import SPLITS, Split, _lines, check_text, read_raw, require_every_class, stratified_split


def _text(value, where, column):
    if not isinstance(value, str):
        raise PipelineError(f"{where}: {column!r} is not a string")
    return check_text(value.replace("\t", " ").replace("\r", " ").replace("\n", " "), where, "text")


def _label(value, where, column):
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PipelineError(f"{where}: label {value!r} is neither a string nor an integer")
    label = str(value).strip()
    if not label:
        raise PipelineError(f"{where}: empty label")
    return label


def _rows_delimited(path, delimiter, text_column, label_column):
    kind = "CSV" if delimiter == "," else "TSV"
    # TSV is never quoted (titles have quote characters of their own); CSV fields may be, and a
    # quoted field may span lines, so a record is named by the line it starts on.
    quoting = csv.QUOTE_MINIMAL if kind == "CSV" else csv.QUOTE_NONE
    text = "\n".join(_lines(path))  # strict UTF-8, BOM and CRLF handled, errors name the line
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, quoting=quoting, strict=True)
    start = 1
    try:
        header = next(reader)
        for column in (text_column, label_column):
            if column not in header:
                raise PipelineError(f"{path}:1: no column {column!r} in the header (columns: {header})")
        text_i, label_i = header.index(text_column), header.index(label_column)
        while True:
            start = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            if not row:  # a blank line
                continue
            if len(row) != len(header):
                raise PipelineError(f"{path}:{start}: expected {len(header)} fields, found {len(row)}")
            yield f"{path}:{start}", row[text_i], row[label_i]
    except csv.Error as err:
        raise PipelineError(f"{path}:{start}: not valid {kind}: {err}") from None


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
        if names and isinstance(label, int):
            if label < 0:  # ClassLabel's "no label", as in GLUE's test splits
                raise PipelineError(
                    f"{name}:{i}: label {label} means no label (ClassLabel); every row needs one "
                    "(save the dataset without an unlabelled split: a missing split is cut from train)"
                )
            label = names[label]
        yield f"{name}:{i}", row[text_column], label


def _read_rows(source, rows, text_column, label_column):
    """(source, texts, [(where, label)]) of one split."""
    texts, labels = [], []
    for where, text, label in rows:
        texts.append(_text(text, where, text_column))
        labels.append((where, _label(label, where, label_column)))
    if not texts:
        raise PipelineError(f"{source}: no rows")
    return source, texts, labels


def _sort_key(label):
    return (0, int(label), "") if label.lstrip("-").isdigit() else (1, 0, label)


def _raw_splits(data_params):
    """split name -> (source, texts, [(where, label)]) for the splits the source has."""
    fmt, cols = data_params.format, (data_params.text_column, data_params.label_column)
    if fmt == "hf":
        out = {}
        for name, (their_name, ds) in _load_hf(data_params.raw_dir).items():
            source = f"{data_params.raw_dir}[{their_name}]"
            out[name] = _read_rows(source, _rows_hf(ds, source, *cols), *cols)
        return out
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
            out[name] = _read_rows(path, rows, *cols)
    return out


def _load_hf(source):
    try:
        import datasets
    except ImportError:
        raise PipelineError("data.format: 'hf' needs the datasets library: pip install datasets") from None
    try:
        loaded = datasets.load_from_disk(source) if Path(source).is_dir() else datasets.load_dataset(source)
    except Exception as err:  # datasets raises many types for a bad path or an unreachable hub
        raise PipelineError(f"data.raw_dir: cannot load the dataset {source!r}: {first_line(err)}") from None
    if not isinstance(loaded, datasets.DatasetDict):
        loaded = datasets.DatasetDict({"train": loaded})
    names = {"train": "train", "validation": "dev", "dev": "dev", "test": "test"}
    if "train" not in loaded:
        raise PipelineError(f"data.raw_dir: {source!r} has no train split (splits: {list(loaded)})")
    return {names[k]: (k, v) for k, v in loaded.items() if k in names}


def read_dataset(data_params):
    """(classes, {train, dev, test: Split}, cut) from the source `data.format` names; cut is {}, or
    for the report which splits were cut from train and how many of its texts have copies."""
    if data_params.format == "thucnews":
        return (*read_raw(data_params.raw_dir), {})
    raw = _raw_splits(data_params)
    if data_params.labels is not None:
        classes = [str(c) for c in data_params.labels]
        twice = [c for c, k in Counter(classes).items() if k > 1]
        if twice:
            raise PipelineError(f"data.labels: {twice[0]!r} appears more than once")
        scope = "data.labels"
    else:
        classes = sorted({label for _, label in raw["train"][2]}, key=_sort_key)
        scope = "the train split's labels"
    index = {c: i for i, c in enumerate(classes)}
    shown = ", ".join(classes[:10]) + (", ..." if len(classes) > 10 else "")
    splits, sources = {}, {}
    for name, (source, texts, labels) in raw.items():
        for where, label in labels:
            if label not in index:
                raise PipelineError(f"{where}: label {label!r} is not one of {scope} ({shown})")
        splits[name], sources[name] = Split(texts, [index[label] for _, label in labels]), source
    if len(classes) < 2:
        raise PipelineError(f"{data_params.raw_dir}: needs at least 2 labels, found {len(classes)}")
    cut = {}
    missing = [name for name in ("test", "dev") if name not in splits]
    if missing:
        copies = Counter(splits["train"].texts)
        cut = {
            "splits": missing,
            "duplicate_texts": sum(1 for k in copies.values() if k > 1),  # each kept on one side
            "extra_copies": len(splits["train"].texts) - len(copies),
        }
    for name in missing:
        fraction = getattr(data_params, f"{name}_fraction")
        splits["train"], splits[name] = stratified_split(splits["train"], fraction, data_params.seed, name)
        sources[name] = f"data.{name}_fraction"
    for name in SPLITS:
        require_every_class(classes, splits[name], sources[name], name)
    return classes, splits, cut


def check_same_labels(classes, labels, key, ordered=False):
    """An error naming `key` unless a model's `labels` are the data's `classes` (and in their
    order, when `ordered`), saying which differ."""
    only_data, only_model = sorted(set(classes) - set(labels)), sorted(set(labels) - set(classes))
    if only_data or only_model or len(labels) != len(classes):
        what = f"only in the data: {only_data or 'none'}; only in the model: {only_model or 'none'}"
    elif ordered and list(labels) != list(classes):
        what = f"same labels in another order: model {list(labels)}, data {list(classes)}"
    else:
        return
    raise PipelineError(f"{key}: the model's labels differ from the data's ({what})")


def in_label_order(classes, splits, labels, key="model.finetuned"):
    """(labels, splits) with label ids renumbered to `labels` (a fine-tuned model's order), when
    it holds the same label names as `classes`; otherwise an error saying which differ."""
    check_same_labels(classes, labels, key)
    new_id = {i: labels.index(c) for i, c in enumerate(classes)}
    return list(labels), {name: Split(s.texts, [new_id[y] for y in s.labels]) for name, s in splits.items()}
