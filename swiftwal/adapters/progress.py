"""Progress of long transfers on a terminal: bytes done, rate and ETA on one
rewritten line of stderr.  Silent when stderr is not a terminal (archive_command,
cron, systemd), so logs never fill with carriage returns."""
from __future__ import annotations

import sys
import time
from typing import Callable, Optional, TextIO


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def progress_line(done: int, total: Optional[int], elapsed: float) -> str:
    """``12.0 MiB / 40.0 MiB (30%), 4.0 MiB/s, ETA 7 s``: pure, for tests."""
    rate = done / elapsed if elapsed > 0 else 0.0
    text = human_bytes(done)
    if total:
        text += f" / {human_bytes(total)} ({min(100, done * 100 // total)}%)"
    text += f", {human_bytes(rate)}/s"
    if total and rate > 0 and done < total:
        text += f", ETA {int((total - done) / rate) + 1} s"
    return text


class Progress:
    """Counts bytes; draws at most ``interval`` apart, and a last line on ``close``."""

    def __init__(self, what: str, total: Optional[int] = None, stream: Optional[TextIO] = None,
                 enabled: Optional[bool] = None, interval: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.total, self.stream = what, total, stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval, self.clock = interval, clock
        self.done = 0
        self.started = clock()
        self._drawn = -interval

    def add(self, count: int) -> None:
        self.done += count
        if self.enabled and self.clock() - self._drawn >= self.interval:
            self._draw("\r")

    def close(self) -> None:
        if self.enabled:
            self._draw("\r")
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, prefix: str) -> None:
        now = self.clock()
        self._drawn = now
        line = f"{self.what}: {progress_line(self.done, self.total, now - self.started)}"
        self.stream.write(f"{prefix}{line}\x1b[K")
        self.stream.flush()


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
