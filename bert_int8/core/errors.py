"""One error type for bad input, the wrapper that turns it into a one-line message and exit 2,
and the first line of any exception's message (the one-line form every error here uses)."""

import os
import sys


class PipelineError(Exception):
    """Bad input the user can fix: the message names the file, line or params key."""


def first_line(err):
    """The first non-empty line of an exception's message, or its type name when it has none."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else type(err).__name__


# Set by training.launch for the processes it starts: they write their error line there, and
# the launcher prints one (a rank that is slower to fail is stopped before it could print).
ERROR_FILE_ENV = "BERT_INT8_ERROR_FILE"


def run_stage(main, *args):
    """Run main(*args) (a stage, or a CLI command); a PipelineError prints one line on stderr
    and exits with status 2."""
    try:
        return main(*args)
    except PipelineError as err:
        if os.environ.get(ERROR_FILE_ENV):
            with open(os.environ[ERROR_FILE_ENV], "a", encoding="utf-8") as f:
                f.write(f"error: {err}\n")
        elif os.environ.get("RANK", "0") == "0":  # under an outside launcher, rank 0 says it
            print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
