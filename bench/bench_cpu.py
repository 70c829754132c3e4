"""CPU time counted by cgroup v1 cpuacct groups: the whole run's, and one process's.

The runner puts itself into a group of its own, so everything it starts from then on (Swift,
PostgreSQL, each tool and the workers they leave behind, which keep their group whatever
sessions they make) is counted there: on a machine shared with other work, the machine's busy
time counts that work too.  A group counts in nanoseconds and keeps the time of threads and
children that have exited, which neither /proc/PID/stat's 10 ms ticks nor a sum over the
living threads' schedstat does.  Where there is no cpuacct hierarchy, callers fall back.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

CPUACCT = Path("/sys/fs/cgroup/cpuacct")
RUN_GROUP = CPUACCT / f"swiftwal-bench-{os.getpid()}"


def _usage(group: Path) -> float | None:
    try:
        return int((group / "cpuacct.usage").read_text()) / 1e9
    except (OSError, ValueError):
        return None


def _remove(group: Path, timeout: float) -> None:
    """rmdir ``group`` once its last process has exited; kept if one outlives ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            group.rmdir()
            return
        except OSError:
            if not group.exists() or time.monotonic() > deadline:
                return
            time.sleep(0.1)


def enter_run_group() -> bool:
    """Put this process into the run's group; False where there is none to be had."""
    try:
        RUN_GROUP.mkdir()
        (RUN_GROUP / "cgroup.procs").write_text(str(os.getpid()))
        return True
    except OSError:
        return False


def leave_run_group(timeout: float = 30.0) -> None:
    """Leave the run's group and remove it once the run's last process (a server shutting
    down, a worker finishing) has exited."""
    try:
        (CPUACCT / "cgroup.procs").write_text(str(os.getpid()))
    except OSError:
        return
    _remove(RUN_GROUP, timeout)


def run_cpu_seconds() -> float | None:
    """CPU time of every process of the run so far, or None outside a run group."""
    return _usage(RUN_GROUP)


class ProcessMeter:
    """CPU time of ``pid`` (its threads and children included) from the moment it is moved
    into a group of its own under the run's; ``seconds()`` is None without one."""

    def __init__(self, pid: int):
        self.group = RUN_GROUP / f"process-{pid}"
        try:
            self.group.mkdir()
            (self.group / "cgroup.procs").write_text(str(pid))
        except OSError:
            self.group = None

    def seconds(self) -> float | None:
        return None if self.group is None else _usage(self.group)

    def close(self, timeout: float = 30.0) -> None:
        """Remove the group once the process has exited (the run's group needs it gone)."""
        if self.group is not None:
            _remove(self.group, timeout)
