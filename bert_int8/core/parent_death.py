"""A child process that ends with its parent.

A benchmark worker or a serve worker left behind by a parent killed with SIGKILL (an
out-of-memory kill, a CI timeout) goes on using the CPU and, for serve, the port. Linux's
PR_SET_PDEATHSIG has the kernel send the child SIGTERM when its parent dies.
"""

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid=None):
    """Ask for SIGTERM when the parent dies. `parent_pid`: the pid the parent had; if the parent
    died before the request (the child is already someone else's), end now. Elsewhere than
    Linux nothing happens: a parent killed with SIGKILL leaves the child running."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), signal.SIGTERM)
