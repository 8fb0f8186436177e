"""Stage scripts and CLI commands run as processes of their own, forked from one interpreter that
has already imported torch and transformers (multiprocessing's forkserver, preloaded).

A fresh `python stages/x.py` spends seconds importing those before it reads its first param,
and the suite runs stage scripts dozens of times. A forked process runs the same script, as
`__main__`, in its own working directory, environment, sys.argv, sys.path (a fresh
interpreter's) and file descriptors, with `random` and numpy's generator reseeded, and exits
with the status the script would: 2 with one error line, 1 with a traceback.

What a fork still shares with the forkserver: the modules in PRELOAD (so the environment
variables those read on import come from the test run, and an import missing from our code
would not show), the hash seed, and stdin (/dev/null). So what depends on those is tested with
real interpreters: the lean service's imports (tests/test_lean_serving.py), one `predict` per
run (tests/test_predict.py), and every stage under DVC in the end-to-end test, whose forced
rerun checks that training and evaluation give the same bytes in new processes.
"""

import atexit
import ctypes
import functools
import json
import multiprocessing
import os
import random
import runpy
import subprocess
import sys
import tempfile
from pathlib import Path

# Imported once by the forkserver: what the stages import first. None of them starts a thread
# pool on import (a fork after one could hang on a lock another thread held).
PRELOAD = [
    "torch",
    "transformers.models.auto.modeling_auto",
    "transformers.models.bert.modeling_bert",
    "transformers.tokenization_utils_fast",
]

_context = multiprocessing.get_context("forkserver")
_context.set_forkserver_preload(PRELOAD)


@functools.cache
def _fresh_sys_path():
    """sys.path of a fresh interpreter with no PYTHONPATH, less its first entry (the script's
    folder, or the working directory with -m): the standard library and the venv's packages."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    said = subprocess.run(
        [sys.executable, "-c", "import json, sys; print(json.dumps(sys.path[1:]))"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(said.stdout)


def run(argv, cwd, env):
    """subprocess.run([python, *argv], cwd=cwd, env=env, capture_output=True, text=True), in a
    process forked from the preloaded interpreter: a CompletedProcess. argv: a script and its
    arguments, or "-m", a module and its arguments."""
    argv = [str(a) for a in argv]
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        args = (argv, str(Path(cwd).resolve()), dict(env), _fresh_sys_path(), str(out), str(err))
        child = _context.Process(target=_child, args=args)
        child.start()
        child.join()
        return subprocess.CompletedProcess(
            [sys.executable, *argv],
            child.exitcode,
            out.read_text(encoding="utf-8", errors="replace"),
            err.read_text(encoding="utf-8", errors="replace"),
        )


def _child(argv, cwd, env, base_path, out, err):
    """In the forked process: become `python *argv` in cwd with env, then run it. A SystemExit
    becomes the exit status and any other exception a traceback and status 1 (multiprocessing's
    bootstrap, which calls this, does both); atexit's handlers run, and C's buffered output is
    written, as at an interpreter's exit."""
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(f, fd)
        os.close(f)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    random.seed()  # a fresh interpreter draws new seeds; forked siblings would share the server's
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    module = argv[1] if argv[0] == "-m" else None
    extra = [str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [cwd if module else str(Path(argv[0]).resolve().parent), *extra, *base_path]
    try:
        if module:
            sys.argv = ["-m", *argv[2:]]  # runpy sets argv[0] to the module's file
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            sys.argv = argv
            runpy.run_path(argv[0], run_name="__main__")
    finally:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
        ctypes.CDLL(None).fflush(None)  # the process ends in os._exit, which skips C's stdio
