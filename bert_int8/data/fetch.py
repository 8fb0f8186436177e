"""Fill data/raw/ with the THUCNews files: `python -m bert_int8.data.fetch [DEST]`.

Where from, first match wins:
1. the folder named by THUCNEWS_DIR (always copied when set);
2. DEST itself when it already holds all four files (kept as they are);
3. ../shared/data/thucnews, when it exists (CI and the team's machines);
4. a download from the upstream repository, checked against the sha256 below.
Offline with none of these, it stops and says where to put the files.
"""

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.request
from pathlib import Path

from bert_int8.core.errors import PipelineError, run_stage

UPSTREAM = (
    "https://raw.githubusercontent.com/649453932/Chinese-Text-Classification-Pytorch/"
    "6cb26819af7b646275aff8a4693676f2849e67f6/THUCNews/data/"
)
SHA256 = {
    "train.txt": "ba6fcbbb8fb809a9eb2be443b6b4db533c147861d94ebe0931b8c6092d8abe94",
    "dev.txt": "6ed73aa2c57ee1560c8f76570d48735c4b1c29ae4983fe3523d56e115813e175",
    "test.txt": "ebecc8c896635ad69730083ca7b81d37c42c9a5779bc05c9d2479d894e34f026",
    "class.txt": "005e8813ad639c219e5902dc84889202b4a717b4238497d26c3fbd5e43927a86",
}
SHARED = Path("../shared/data/thucnews")


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _install(src_file, dest):
    """Copy one file into dest atomically (a temp file, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".fetch.")
    os.close(fd)
    shutil.copyfile(src_file, tmp)
    os.replace(tmp, dest / Path(src_file).name)


def copy_from(src, dest):
    src = Path(src)
    missing = [f for f in SHA256 if not (src / f).is_file()]
    if missing:
        raise PipelineError(f"{src}: {missing[0]} not found (a THUCNews folder holds {', '.join(SHA256)})")
    for name in SHA256:
        _install(src / name, dest)
    differ = [f for f in SHA256 if sha256(dest / f) != SHA256[f]]
    note = f"; {', '.join(differ)} differ from the published THUCNews files (used as given)" if differ else ""
    print(f"data: copied {src} -> {dest}{note}")


def download(dest):
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        for name, want in SHA256.items():
            try:
                with urllib.request.urlopen(UPSTREAM + name, timeout=30) as r:
                    (Path(tmp) / name).write_bytes(r.read())
            except OSError as err:
                raise PipelineError(
                    f"cannot download THUCNews ({err}); put train.txt, dev.txt, test.txt and class.txt from "
                    f"github.com/649453932/Chinese-Text-Classification-Pytorch (THUCNews/data/) in {dest}/, "
                    "or set THUCNEWS_DIR to a folder holding them"
                ) from None
            got = sha256(Path(tmp) / name)
            if got != want:
                raise PipelineError(f"{UPSTREAM}{name}: sha256 {got} is not the expected {want}")
        for name in SHA256:
            _install(Path(tmp) / name, dest)
    print(f"data: downloaded THUCNews into {dest} (sha256 checked)")


def fetch(dest, env_dir=None, shared=SHARED):
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if env_dir:
        return copy_from(env_dir, dest)
    if all((dest / f).is_file() for f in SHA256):
        print(f"data: {dest} already holds the THUCNews files")
        return
    if Path(shared).is_dir():
        return copy_from(shared, dest)
    return download(dest)


def main():
    fetch(sys.argv[1] if len(sys.argv) > 1 else "data/raw", os.environ.get("THUCNEWS_DIR"))


if __name__ == "__main__":
    run_stage(main)
