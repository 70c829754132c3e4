"""swiftwal's on-demand workers seen from outside: the PID in a worker's lock
file, whether one ever claimed it, and waiting until the worker has let go of
that lock (it has exited)."""
from __future__ import annotations

import fcntl
import os
import time

from swiftwal.options import WORKER_START

# What a worker's command line holds; the second, that of an earlier swiftwal
# (the benchmark's baseline) whose workers started from swiftwal.commands.workers.
WORKER_MARKERS = (WORKER_START.encode(), b"swiftwal.commands.workers")


def worker_pid(lock: str) -> int | None:
    """The PID written in ``lock`` if that process is still a swiftwal worker
    (a PID can be reused once the worker is gone)."""
    try:
        with open(lock) as handle:
            pid = int(handle.read().strip() or 0)
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            started_as = cmdline.read()
        return pid if any(marker in started_as for marker in WORKER_MARKERS) else None
    except (OSError, ValueError):
        return None


def worker_claimed(lock: str) -> bool:
    """Whether a worker has taken ``lock`` at least once (it writes its PID
    once it holds it; the file stays when it exits)."""
    try:
        return os.path.getsize(lock) > 0
    except OSError:
        return False


def wait_until_unlocked(lock: str, timeout: float) -> bool:
    """Whether ``lock`` became free (its worker gone) within ``timeout``
    seconds; looked at shared, as calls do, so a worker starting is not
    turned away."""
    deadline = time.monotonic() + timeout
    with open(lock) as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)
