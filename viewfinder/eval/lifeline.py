"""A worker process that ends when the process that started it ends, ``kill -9`` included.

A worker blocked in a model call (or on its pipe) never notices that its parent is gone, and
would hold its memory (2 GB with the default models) forever. On Linux the kernel is asked to
kill it with its parent (``PR_SET_PDEATHSIG``); on every system a daemon thread also watches
the parent and exits the process once it is gone, which also covers a parent that died before
the signal was set up.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

# Seconds between the worker's checks that the runner is still alive (the fallback where
# the kernel cannot be asked to kill the worker with its parent).
PARENT_POLL_SECONDS = 1.0


def set_parent_death_signal() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    pr_set_pdeathsig = 1  # from <linux/prctl.h>
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def exit_with_parent(runner_pid: int) -> None:
    """End this process when the runner ``runner_pid`` that started it ends (see above)."""
    set_parent_death_signal()
    parent = os.getppid()  # the runner, or the forkserver that forked this process

    def runner_alive() -> bool:
        if os.getppid() != parent:  # re-parented: whoever started us has exited
            return False
        if runner_pid == parent:
            return True
        try:
            os.kill(runner_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # exists, owned by someone else (pid reused): be safe
            return False
        return True

    def watch() -> None:
        while runner_alive():
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(1)  # nobody is left to report to; skip cleanup that could block

    threading.Thread(target=watch, name="viewfinder-parent-watch", daemon=True).start()
