"""Several processes on one machine for a training stage, as torchrun starts them: who this
process is (`world`), whether a launcher started it, and the launch itself."""

import logging
import os
import sys
import tempfile
from pathlib import Path

from bert_int8.core.errors import ERROR_FILE_ENV


def world():
    """(rank, world size, processes on this node) as a launcher (torchrun, accelerate) sets
    them; (0, 1, 1) for a plain `python stages/train.py`."""
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_WORLD_SIZE", 1)),
    )


def launched():
    """Whether this process was started by a distributed launcher."""
    return "LOCAL_RANK" in os.environ


def launch(processes, script, name="train"):
    """Run `script` as `processes` local processes, as torchrun does (torch's elastic launcher,
    called in-process so that a failure ends as the stage's own: one rank's one-line error and
    exit 2, not the launcher's traceback)."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    print(f"{name}: {processes} processes (DDP)", flush=True)
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=processes,
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port, as torchrun --standalone
        run_id=f"{name}-{os.getpid()}",
        max_restarts=0,
    )
    for name in list(logging.root.manager.loggerDict):  # each sets its own level: quiet them all
        if name.startswith("torch.distributed.elastic"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    fd, error_file = tempfile.mkstemp(prefix=f"{name}-errors.", suffix=".txt")
    os.close(fd)
    os.environ[ERROR_FILE_ENV] = error_file  # the ranks inherit it
    try:
        elastic_launch(config, sys.executable)(script)
    except ChildFailedError as err:
        lines = Path(error_file).read_text(encoding="utf-8").splitlines()
        if lines:
            print(lines[0], file=sys.stderr)
        codes = [f.exitcode for f in err.failures.values()]
        # 2: bad input; else the first failure's status, a signal as the shell shows it (128 + n)
        sys.exit(2 if 2 in codes else next((c if c > 0 else 128 - c) for c in codes))
    finally:
        del os.environ[ERROR_FILE_ENV]
        os.unlink(error_file)


def run_once_or_launch(processes, script, name):
    """True when this process should go on and train; else it has launched `processes` copies of
    `script` (which train) and returned when they ended."""
    if processes > 1 and not launched():
        launch(processes, script, name)
        return False
    return True
