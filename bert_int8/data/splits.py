"""THUCNews-format files: strict reading, a stratified subset, and the data report.

Format: `title<TAB>label_id` per line, UTF-8; class.txt holds one class name per line
(the last line may lack a newline). A UTF-8 BOM at the start of a file and CRLF line
endings are accepted and normalised away; everything else that is off stops the run
with `file:line: what is wrong`.
"""

import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from bert_int8.core import paths
from bert_int8.core.errors import PipelineError
from bert_int8.core.metrics_files import read_metrics

SPLITS = ("train", "dev", "test")
# THUCNews titles are at most 38 characters; anything this long is not a title. The same limit
# holds for every format's texts, so whatever prepare_data accepts, the later stages read back.
MAX_TEXT_CHARS = 1000


@dataclass(frozen=True)
class Split:
    texts: list
    labels: list


def _lines(path):
    """Decode a file strictly, line by line, so an encoding error can name its line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise PipelineError(f"{path}: is a directory, expected a file") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data.strip():
        raise PipelineError(f"{path}: file is empty")
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    out = []
    for n, raw in enumerate(raw_lines, 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as err:
            raise PipelineError(
                f"{path}:{n}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at byte {err.start + 1}); "
                "re-encode the file as UTF-8"
            ) from None
    return out


def read_classes(path):
    names = [line.strip() for line in _lines(path)]
    for n, name in enumerate(names, 1):
        if not name:
            raise PipelineError(f"{path}:{n}: empty class name")
    dup = [name for name, c in Counter(names).items() if c > 1]
    if dup:
        raise PipelineError(f"{path}: class name {dup[0]!r} appears more than once")
    if len(names) < 2:
        raise PipelineError(f"{path}: needs at least 2 class names, found {len(names)}")
    return names


def _is_control(ch):
    # NUL, escape codes and the other C0/C1 controls are no part of a title. DEL (U+007F) is let
    # through: THUCNews' own train.txt has one title ending in it (line 66237), and the
    # tokenizer's clean_text drops it.
    return unicodedata.category(ch) == "Cc" and ch != "\x7f"


def check_text(text, where, what="title"):
    """The rules every text obeys, in every format (prepare_data checks them on the raw data,
    load_prepared again on data/prepared): not blank, not too long, no control characters."""
    if not text.strip():
        raise PipelineError(f"{where}: empty {what}")
    if len(text) > MAX_TEXT_CHARS:
        raise PipelineError(f"{where}: {what} is {len(text)} characters long, at most {MAX_TEXT_CHARS} allowed")
    control = next((i for i, ch in enumerate(text) if _is_control(ch)), None)
    if control is not None:
        raise PipelineError(
            f"{where}: {what} has a control character (U+{ord(text[control]):04X}) at character {control + 1}"
        )
    return text


def require_every_class(classes, split: Split, where, name):
    """Every class needs examples in every split: train learns it, dev and test measure it."""
    present = set(split.labels)
    missing = [c for i, c in enumerate(classes) if i not in present]
    if missing:
        raise PipelineError(
            f"{where}: class {missing[0]!r} never appears in the {name} split "
            f"({len(missing)} of {len(classes)} classes missing); every split needs every class"
        )


def read_split(path, num_classes) -> Split:
    texts, labels = [], []
    for n, line in enumerate(_lines(path), 1):
        where = f"{path}:{n}"
        tabs = line.count("\t")
        if tabs != 1:
            raise PipelineError(f"{where}: expected 'title<TAB>label_id' with exactly one tab, found {tabs}")
        text, label = line.split("\t")
        check_text(text, where)
        if not (label.isascii() and label.isdigit()):
            raise PipelineError(f"{where}: label {label!r} is not a non-negative integer")
        label = int(label)
        if label >= num_classes:
            raise PipelineError(
                f"{where}: label {label} out of range: class.txt has {num_classes} classes (0..{num_classes - 1})"
            )
        texts.append(text)
        labels.append(label)
    missing = sorted(set(range(num_classes)) - set(labels))
    if missing:
        raise PipelineError(
            f"{path}: class {missing[0]} never appears ({len(missing)} of {num_classes} classes missing); "
            "every split needs every class in class.txt"
        )
    return Split(texts, labels)


def read_raw(raw_dir):
    """Read and validate class.txt and the three splits of a THUCNews-format directory."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise PipelineError(
            f"{raw_dir}: data directory not found; set data.raw_dir in params.yaml, or run "
            "scripts/setup.sh with THUCNEWS_DIR pointing at the THUCNews files"
        )
    classes = read_classes(raw_dir / "class.txt")
    return classes, {name: read_split(raw_dir / f"{name}.txt", len(classes)) for name in SPLITS}


def stratified_subset(split: Split, size, seed) -> Split:
    """A seeded subset with the class proportions of `split`, kept in the original order."""
    if size is None or size >= len(split.labels):
        return split
    from sklearn.model_selection import train_test_split

    num_classes = len(set(split.labels))
    if size < num_classes:
        raise PipelineError(f"data.max_train_samples: {size} is fewer than the {num_classes} classes")
    try:
        keep, _ = train_test_split(range(len(split.labels)), train_size=size, stratify=split.labels, random_state=seed)
    except ValueError as err:  # e.g. a class with a single example
        raise PipelineError(f"data.max_train_samples: cannot take a stratified subset of {size}: {err}") from None
    keep = sorted(keep)
    return Split([split.texts[i] for i in keep], [split.labels[i] for i in keep])


def stratified_split(split: Split, fraction, seed, name):
    """(rest, part): a seeded, stratified `fraction` of `split` cut off as split `name` (for a
    dataset that has no dev or test split of its own); both keep the original order. All copies
    of one text land on the same side (no text in both); the fraction and the strata count
    distinct texts, each with the label of its first copy."""
    from sklearn.model_selection import train_test_split

    first_label = {}
    for t, y in zip(split.texts, split.labels):
        first_label.setdefault(t, y)
    try:
        _, cut = train_test_split(
            list(first_label), test_size=fraction, stratify=list(first_label.values()), random_state=seed
        )
    except ValueError as err:
        raise PipelineError(f"data.{name}_fraction: cannot cut a stratified {name} split: {err}") from None
    cut = set(cut)
    side = [t in cut for t in split.texts]
    pick = lambda keep: Split(  # noqa: E731
        [t for t, s in zip(split.texts, side) if s == keep], [y for y, s in zip(split.labels, side) if s == keep]
    )
    return pick(False), pick(True)


def format_split(split: Split) -> str:
    """The split back in `title<TAB>label_id` form."""
    return "".join(f"{t}\t{y}\n" for t, y in zip(split.texts, split.labels))


def data_report(classes, splits, cut=None):
    """Counts per split and class, duplicates inside train, titles shared across splits, and
    `cut` (what read_dataset says about splits it cut from train) when there is one."""
    report = {"classes": len(classes), "splits": {}}
    for name, split in splits.items():
        counts = Counter(split.labels)
        report["splits"][name] = {
            "lines": len(split.labels),
            "per_class": {classes[i]: counts.get(i, 0) for i in range(len(classes))},
        }
    train = splits["train"]
    labels_of = defaultdict(set)
    for t, y in zip(train.texts, train.labels):
        labels_of[t].add(y)
    report["train_duplicates"] = {
        "extra_title_copies": len(train.texts) - len(labels_of),
        "extra_identical_lines": len(train.texts) - len(set(zip(train.texts, train.labels))),
        "titles_with_several_labels": sum(1 for s in labels_of.values() if len(s) > 1),
    }
    for other in ("dev", "test"):
        shared = set(labels_of) & set(splits[other].texts)
        report[f"titles_shared_train_{other}"] = len(shared)
    if cut:
        report["cut_from_train"] = cut
    return report


def prepared_classes():
    """The class names prepare_data wrote (a JSON list of strings); one line naming the file if not."""
    classes = read_metrics(paths.CLASSES, expect=list)
    if not all(isinstance(c, str) for c in classes):
        raise PipelineError(f"{paths.CLASSES}: expected a JSON list of class names")
    return classes


def load_prepared(name):
    """(classes, split) of a split that prepare_data wrote to data/prepared/."""
    classes = prepared_classes()
    return classes, read_split(paths.prepared_split(name), len(classes))
