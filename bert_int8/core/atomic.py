"""Writes that land whole or not at all: a killed stage leaves the old output or none.

Everything goes to a temporary sibling first and is renamed into place at the end
(a rename within one filesystem is atomic).
"""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


def write_json(path, obj):
    """Write obj as pretty JSON with sorted keys (stable diffs in git)."""
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_text(path, text):
    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)

    write_with(path, write)


def write_with(path, write):
    """Call write(tmp) to write a temporary sibling of `path` (a path, as a str), then rename it
    into place: for writers that take a file name (pyarrow's Parquet writer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def output_dir(path):
    """Yield a fresh temporary directory that replaces `path` when the block succeeds.

    On any exception the temporary directory is removed and `path` is left untouched.
    """
    with output_dirs([path]) as (tmp,):
        yield tmp


@contextlib.contextmanager
def output_dirs(paths):
    """Yield one fresh temporary directory per path; when the block succeeds, all of them
    replace their paths together, one rename each, after everything was written (a stage's
    directories land together). On any exception every temporary directory is removed and
    every path is left untouched."""
    paths = [Path(p) for p in paths]
    tmps = []
    try:
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmps.append(Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")))
        yield tmps
    except BaseException:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    olds = []
    for path, tmp in zip(paths, tmps):
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
            olds.append(old)
        os.replace(tmp, path)
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def output_tree(root, names):
    """Yield a fresh temporary directory standing for `root`: when the block succeeds, each
    root/<name> (a folder directly under root) is replaced by what the block wrote at <tmp>/<name> (an empty directory where
    it wrote nothing), all together as `output_dirs` does; on any exception nothing changes."""
    root = Path(root)
    with output_dirs([root / n for n in names]) as tmps:
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging.", suffix=".tmp"))
        try:
            yield staging
            for name, tmp in zip(names, tmps):
                if (staging / name).exists():
                    os.rmdir(tmp)
                    os.replace(staging / name, tmp)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
