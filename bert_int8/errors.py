"""One error type for bad input, and the wrapper that turns it into a one-line message and exit 2."""
import sys


class PipelineError(Exception):
    """Bad input the user can fix: the message names the file, line or params key."""


def run_stage(main):
    """Run a stage's main(); a PipelineError prints one line on stderr and exits non-zero."""
    try:
        main()
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
