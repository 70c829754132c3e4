"""Progress of long transfers: bytes done, rate and ETA.

On a terminal: one rewritten line of stderr.  Elsewhere (cron, systemd, a
pipe) nothing, so logs never fill with carriage returns, unless the command
asked for events: then one every ``EVENT_SECONDS`` and a last one at the end.
Both show the same numbers (``progress_numbers``)."""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO

#: Off a terminal, seconds between two progress events: enough to see in a
#: log that a long backup moves and when it should end, without filling it.
EVENT_SECONDS = 30.0


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def progress_numbers(done: int, total: Optional[int], elapsed: float) -> dict:
    """``bytes``, ``total_bytes`` (None: unknown), ``bytes_per_s`` and
    ``eta_s`` (None unless a total is known and not yet reached): pure."""
    rate = done / elapsed if elapsed > 0 else 0.0
    eta = int((total - done) / rate) + 1 if total and rate > 0 and done < total else None
    return {"bytes": done, "total_bytes": total or None, "bytes_per_s": int(rate), "eta_s": eta}


def progress_line(done: int, total: Optional[int], elapsed: float) -> str:
    """``12.0 MiB / 40.0 MiB (30%), 4.0 MiB/s, ETA 7 s``: pure, for tests."""
    numbers = progress_numbers(done, total, elapsed)
    text = human_bytes(done)
    if total:
        text += f" / {human_bytes(total)} ({min(100, done * 100 // total)}%)"
    text += f", {human_bytes(numbers['bytes_per_s'])}/s"
    if numbers["eta_s"] is not None:
        text += f", ETA {numbers['eta_s']} s"
    return text


class Progress:
    """Counts bytes; on a terminal draws at most ``interval`` apart and a last
    line on ``close``.  Off a terminal, ``report`` (if given) gets
    ``progress_numbers`` with ``duration_s`` at most ``report_interval``
    apart and once more on ``close``.  ``total`` is an estimate: the count
    may pass it."""

    def __init__(self, what: str, total: Optional[int] = None, stream: Optional[TextIO] = None,
                 enabled: Optional[bool] = None, interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic,
                 report: Optional[Callable[[dict], None]] = None,
                 report_interval: float = EVENT_SECONDS) -> None:
        self.what, self.total, self.stream = what, total, stream or sys.stderr
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.report = None if self.enabled else report
        self.interval, self.report_interval, self.clock = interval, report_interval, clock
        self.done = 0
        self.started = clock()
        self._drawn = -interval
        self._reported = self.started

    def add(self, count: int) -> None:
        self.done += count
        if self.enabled and self.clock() - self._drawn >= self.interval:
            self._draw("\r")
        elif self.report is not None and self.clock() - self._reported >= self.report_interval:
            self._report()

    def close(self) -> None:
        if self.enabled:
            self._draw("\r")
            self._write("\n")
        elif self.report is not None:
            self._report()

    def _report(self) -> None:
        now = self.clock()
        self._reported = now
        elapsed = now - self.started
        self.report({**progress_numbers(self.done, self.total, elapsed),
                     "duration_s": round(elapsed, 3)})

    def _draw(self, prefix: str) -> None:
        now = self.clock()
        self._drawn = now
        line = f"{self.what}: {progress_line(self.done, self.total, now - self.started)}"
        self._write(f"{prefix}{line}\x1b[K")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            pass  # a closed or broken terminal must not fail the transfer


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class CountingReader:
    """A reader that reports every byte read to a ``Progress``."""

    def __init__(self, raw, progress: Progress) -> None:
        self.raw, self.progress = raw, progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.progress.add(len(data))
        return data

    def __getattr__(self, name):
        return getattr(self.raw, name)
