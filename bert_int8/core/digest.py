"""Which bytes a figure was measured on: a digest of a model's files.

The benchmark records it beside each model's figures; `serve auto` refuses a model directory
whose files no longer match what was measured. Plain Python (the lean service imports it).
"""

import hashlib
from pathlib import Path


def files_sha256(files):
    """sha256 over `files` in the given order, each file's name and bytes."""
    h = hashlib.sha256()
    for path in files:
        path = Path(path)
        h.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def model_sha256(model_dir):
    """The digest of everything a ModelDir's answers and speed depend on: the files that hold the
    model, its config.json (labels, inputs), and its tokenizer.json and length_buckets.json
    (bert_int8.data.buckets: the shapes it runs) where it has them."""
    extra = [model_dir.path / n for n in ("config.json", "tokenizer.json", "length_buckets.json")]
    return files_sha256(list(model_dir.files) + [f for f in extra if f.is_file()])
