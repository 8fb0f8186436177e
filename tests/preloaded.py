"""Stage scripts run as processes of their own, forked from one interpreter that has already
imported torch and transformers (multiprocessing's forkserver, preloaded).

A fresh `python stages/x.py` spends seconds importing those before it reads its first param,
and the suite runs stage scripts dozens of times. A forked process runs the same script, as
`__main__`, in its own working directory, environment, sys.argv and file descriptors, and exits
with the status the script would: 2 with one error line, 1 with a traceback. What a fork cannot
show, a stage that imports what it must not (the lean service), is tested with real
interpreters (tests/test_lean_serving.py), and DVC runs the stages itself in the end-to-end test.
"""

import atexit
import multiprocessing
import os
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


def run(argv, cwd, env):
    """subprocess.run([python, *argv], cwd=cwd, env=env, capture_output=True, text=True), in a
    process forked from the preloaded interpreter: a CompletedProcess. argv: a script and its
    arguments, or "-m", a module and its arguments."""
    argv = [str(a) for a in argv]
    with tempfile.TemporaryDirectory() as tmp:
        out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
        child = _context.Process(target=_child, args=(argv, str(cwd), dict(env), str(out), str(err)))
        child.start()
        child.join()
        return subprocess.CompletedProcess(
            [sys.executable, *argv],
            child.exitcode,
            out.read_text(encoding="utf-8", errors="replace"),
            err.read_text(encoding="utf-8", errors="replace"),
        )


def _child(argv, cwd, env, out, err):
    """In the forked process: become `python *argv` in cwd with env, then run it. A SystemExit
    becomes the exit status and any other exception a traceback and status 1, as
    multiprocessing's bootstrap does for its target; atexit's handlers run as at an
    interpreter's exit."""
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(f, fd)
        os.close(f)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    module = argv[1] if argv[0] == "-m" else None
    # a fresh interpreter's path: the script's folder (or, with -m, the working directory),
    # PYTHONPATH, then Python's own and the venv's
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    own = [p for p in sys.path if p.startswith((sys.prefix, sys.base_prefix))]
    sys.path[:] = [cwd if module else str(Path(argv[0]).parent), *extra, *own]
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
