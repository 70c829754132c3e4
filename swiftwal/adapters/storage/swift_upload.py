"""Readers that hash an upload as it streams and cut it into segments."""
from __future__ import annotations

import hashlib
from typing import BinaryIO

from swiftwal.adapters.storage.swift_errors import StreamNotReplayable
from swiftwal.adapters.storage.swift_wire import info_from_headers
from swiftwal.domain.errors import StorageError

CHUNK = 1 << 20


class Source:
    """The caller's stream, with whole-object MD5/SHA-256 and a look-ahead buffer."""

    def __init__(self, stream: BinaryIO, name: str, size: int | None) -> None:
        self._stream = stream
        self._name = name
        self._size = size
        self._pending = b""
        self._offset = 0
        self._eof = False
        self.consumed = 0
        #: What went wrong on the caller's side (its stream raised, or had the wrong size).
        self.failure: BaseException | None = None
        self.md5 = hashlib.md5()
        self.sha256 = hashlib.sha256()

    def _fill(self, want: int) -> None:
        if len(self._pending) - self._offset >= want or self._eof:
            return
        try:
            self._fill_from_stream(want)
        except BaseException as exc:
            self.failure = exc
            raise

    def _fill_from_stream(self, want: int) -> None:
        parts = [self._pending[self._offset:]]
        have = len(parts[0])
        while have < want and not self._eof:
            chunk = self._stream.read(CHUNK)
            if not chunk:
                self._eof = True
                if self._size is not None and self.consumed + have != self._size:
                    raise StorageError(f"stream for {self._name} gave {self.consumed + have} "
                                       f"bytes, expected {self._size}")
                break
            if self._size is not None and self.consumed + have + len(chunk) > self._size:
                raise StorageError(f"stream for {self._name} is longer than {self._size} bytes")
            parts.append(chunk)
            have += len(chunk)
        self._pending, self._offset = b"".join(parts), 0

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end), without consuming them."""
        self._fill(n)
        return self._pending[self._offset:self._offset + n]

    def at_end(self) -> bool:
        self._fill(1)
        return self._offset >= len(self._pending)

    def read(self, n: int) -> bytes:
        self._fill(min(n, CHUNK))
        data = self._pending[self._offset:self._offset + n]
        self._offset += len(data)
        self.consumed += len(data)
        self.md5.update(data)
        self.sha256.update(data)
        return data

    def take(self, n: int) -> bytes:
        """Exactly ``n`` bytes, fewer only at the end."""
        parts = []
        have = 0
        while have < n:
            data = self.read(n - have)
            if not data:
                break
            parts.append(data)
            have += len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)


class Window:
    """At most ``limit`` bytes of a ``Source``, as a one-shot file for a PUT body.

    ``reset`` (called by swiftclient before a retry) refuses: the bytes are gone.
    """

    def __init__(self, source: Source, limit: int) -> None:
        self._source = source
        self._left = limit
        self.size = 0
        self.md5 = hashlib.md5()

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._source.read(min(want, CHUNK))
        self._left -= len(data)
        self.size += len(data)
        self.md5.update(data)
        return data

    def reset(self, *args: object, **kwargs: object) -> None:
        raise StreamNotReplayable()


class Stored:
    """What a successful PUT told us."""

    def __init__(self, etag: str, last_modified, upload: str | None,
                 segments: list[str]) -> None:
        self.etag = etag
        self.last_modified = last_modified
        self.upload = upload
        self.segments = segments

    @classmethod
    def of(cls, response: dict, etag: str, upload: str | None = None,
           segments: list[str] | None = None) -> "Stored":
        headers = response.get("headers") or {}
        info = info_from_headers("", headers) if headers else None
        return cls(etag.strip('"'), info.last_modified if info else None, upload,
                   segments or [])
