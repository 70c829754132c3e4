"""swiftwal's background workers seen from outside: found, stopped between samples, and
their CPU while idle (part ``idle``).

The benchmark measures whatever swiftwal is installed, whose workers may change how they
start, name themselves or lock their spool, so they are found two ways and neither asks
swiftwal: a PID written in any lock or pid file under the run's cache directory, and any
process of the ``postgres`` user started from a swiftwal under test (its interpreter is in that
swiftwal's venv) whose working directory lies in the run's directory.  Once every call has
returned, such a process is a worker.  Other swiftwal processes on the machine (another run,
the test suite) match neither and are left alone.
"""
from __future__ import annotations

import os
import pwd
import signal
import time
from pathlib import Path

from bench_cpu import ProcessMeter

TICK = os.sysconf("SC_CLK_TCK")


def _argv(pid: int) -> list[bytes]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().split(b"\0")
    except OSError:
        return []


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie awaiting its reaper does not)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class Workers:
    """The workers of the swiftwal binaries ``binaries`` in the run under ``work``."""

    def __init__(self, work: Path, cache: Path, binaries: list[str]):
        self.work, self.cache = str(work), cache
        self.prefixes = [os.path.dirname(b).encode() + b"/" for b in binaries if b]
        self.uid = pwd.getpwnam("postgres").pw_uid

    def _ours(self, pid: int) -> bool:
        argv = _argv(pid)
        return bool(argv) and any(argv[0].startswith(p) for p in self.prefixes)

    def pids(self) -> list[int]:
        found = set()
        for pattern in ("**/*.lock", "**/*.pid"):
            for path in self.cache.glob(pattern):
                try:
                    pid = int(path.read_text().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
                if self._ours(pid) and _alive(pid):
                    found.add(pid)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                if entry.stat().st_uid != self.uid or pid in found:
                    continue
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if (cwd == self.work or cwd.startswith(self.work + "/")) and self._ours(pid) \
                    and _alive(pid):
                found.add(pid)
        return sorted(found)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every worker and wait until each is gone (SIGKILL after ``timeout``)."""
        pids = self.pids()
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(_alive(pid) for pid in pids):
            if time.monotonic() > deadline:
                for pid in pids:
                    _signal(pid, signal.SIGKILL)
                deadline = float("inf")
            time.sleep(0.01)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def wait_for_argv_gone(marker: str, timeout: float = 60.0) -> None:
    """Wait until no process names ``marker`` (a directory of the run) in its command line:
    a peer's own helpers, such as WAL-E's detached prefetchers, finishing their work."""
    needle, deadline = marker.encode(), time.monotonic() + timeout
    while time.monotonic() < deadline and any(
            needle in b" ".join(_argv(int(e.name))) and _alive(int(e.name))
            for e in os.scandir("/proc") if e.name.isdigit()):
        time.sleep(0.05)


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of ``pid`` from /proc/PID/stat, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After the command: state is field 3 of proc(5); utime and stime are 14 and 15.
    return (int(fields[11]) + int(fields[12])) / TICK if fields[0] != "Z" else None


def idle_cpu(pid: int, seconds: float) -> tuple[float, float | None, float]:
    """(CPU ms per second from utime + stime, the same from a cpuacct group of its own or
    None, seconds watched) of ``pid`` over ``seconds``, or until it exits; then it is
    stopped.  utime + stime count 10 ms ticks: over the 5 s an idle worker lives, one tick
    is already 2 ms/s."""
    meter = ProcessMeter(pid)
    try:
        started, first, first_ns = time.monotonic(), cpu_seconds(pid), meter.seconds()
        last, last_ns, last_at = first, first_ns, started
        while first is not None and time.monotonic() - started < seconds:
            time.sleep(0.1)
            now, now_ns = cpu_seconds(pid), meter.seconds()
            if now is None:
                break
            last, last_ns, last_at = now, now_ns, time.monotonic()
        watched = last_at - started
        if first is None or watched <= 0:
            return float("nan"), None, 0.0
        precise = None if first_ns is None else (last_ns - first_ns) * 1000 / watched
        return (last - first) * 1000 / watched, precise, watched
    finally:
        _signal(pid, signal.SIGTERM)  # the group goes only once the worker has
        meter.close()


def part_idle_worker(tools, push, segments: list[Path], seconds: float, rows: list) -> None:
    """After one archive-wal call (``push(shell)`` runs it), the CPU its worker spends over
    ``seconds`` with nothing to do, or until it exits."""
    workers = tools.workers
    for kind, segment in zip(("swift", "local"), segments):
        workers.stop()
        push(f"{tools.swiftwal_config(kind, COMPRESSION='zstd')} archive-wal {segment}")
        pids = workers.pids()
        label = f"swiftwal worker after one archive-wal call ({kind})"
        if not pids:
            rows.append(("idle worker, CPU ms/s", label, "no worker running after the call"))
            continue
        for pid in pids:
            rate, precise, watched = idle_cpu(pid, seconds)
            exited = "" if watched >= seconds - 0.2 else ", then it exited"
            rows.append(("idle worker, CPU ms/s", label,
                         round(rate if precise is None else precise, 3),
                         f"(utime+stime {rate:.1f}{' only' if precise is None else ''}; "
                         f"PID {pid}, watched {watched:.1f} s{exited})"))
        workers.stop()
