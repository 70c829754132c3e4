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
