"""Small stream wrappers shared by the commands."""
from __future__ import annotations

import hashlib


class HashingReader:
    """Passes reads through while counting bytes and computing their SHA-256."""

    def __init__(self, raw) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        self._hash.update(chunk)
        self.size += len(chunk)
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class RateLimitedReader:
    """Passes reads through no faster, on average since the first read, than
    ``bytes_per_s``: one limiter shared by the objects of a backup keeps the
    whole upload under the rate.  Reads are cut to a quarter of a second's
    worth so that the bytes go out evenly rather than in bursts."""

    def __init__(self, raw, limiter: "RateLimiter") -> None:
        self._raw = raw
        self._limiter = limiter

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        step = self._limiter.step
        chunk = self._raw.read(step if size is None or size < 0 else min(size, step))
        self._limiter.spent(len(chunk))
        return chunk

    def readinto(self, buffer) -> int:
        chunk = self.read(len(buffer))
        buffer[:len(chunk)] = chunk
        return len(chunk)


class RateLimiter:
    """How fast bytes may go, and the sleeping that keeps them at it."""

    def __init__(self, bytes_per_s: int, clock=None, sleep=None) -> None:
        import time

        self.bytes_per_s = bytes_per_s
        self.step = max(16 << 10, bytes_per_s // 4)
        self._clock = clock or time.monotonic
        self._sleep = sleep or time.sleep
        self._started = None
        self._total = 0

    def spent(self, count: int) -> None:
        now = self._clock()
        if self._started is None:
            self._started = now
        self._total += count
        ahead = self._total / self.bytes_per_s - (now - self._started)
        if ahead > 0:
            self._sleep(ahead)
