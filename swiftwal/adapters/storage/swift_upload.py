"""Readers that hash an upload as it streams and cut it into segments."""
from __future__ import annotations

import collections
import hashlib
from typing import BinaryIO

from swiftwal.adapters.storage.swift_errors import StreamNotReplayable
from swiftwal.adapters.storage.swift_wire import info_from_headers
from swiftwal.domain.errors import StorageError

CHUNK = 1 << 20


class Source:
    """The caller's stream, with its whole-object SHA-256 and a look-ahead buffer.

    Chunks wait in a queue as the stream gave them and are never joined:
    ``take`` copies them into the segment's own buffer as it reads the stream,
    so beyond the look-ahead memory holds each byte once (a join of chunks
    read ahead would briefly hold it twice).
    """

    def __init__(self, stream: BinaryIO, name: str, size: int | None) -> None:
        self._stream = stream
        self._name = name
        self._size = size
        self._chunks: collections.deque = collections.deque()
        self._offset = 0  # into the first chunk
        self._waiting = 0  # bytes in the queue past the offset
        self._eof = False
        self.consumed = 0
        #: What went wrong on the caller's side (its stream raised, or had the wrong size).
        self.failure: BaseException | None = None
        self.sha256 = hashlib.sha256()

    def _fill(self, want: int) -> None:
        if self._waiting >= want or self._eof:
            return
        try:
            self._fill_from_stream(want)
        except BaseException as exc:
            self.failure = exc
            raise

    def _fill_from_stream(self, want: int) -> None:
        while self._waiting < want and not self._eof:
            chunk = self._stream.read(CHUNK)
            seen = self.consumed + self._waiting
            if not chunk:
                self._eof = True
                if self._size is not None and seen != self._size:
                    raise StorageError(f"stream for {self._name} gave {seen} "
                                       f"bytes, expected {self._size}")
                break
            if self._size is not None and seen + len(chunk) > self._size:
                raise StorageError(f"stream for {self._name} is longer than {self._size} bytes")
            self._chunks.append(chunk)
            self._waiting += len(chunk)

    def buffered(self, n: int) -> int:
        """Read ahead until ``n`` bytes wait (fewer only at the end); how many do."""
        self._fill(n)
        return min(n, self._waiting)

    def read(self, n: int) -> bytes:
        """At most ``n`` bytes (and at most one chunk of the stream); empty at the end."""
        self._fill(1)
        if not self._chunks or n <= 0:
            return b""
        chunk = self._chunks[0]
        data = chunk[self._offset:self._offset + n]  # the chunk itself when taken whole
        self._offset += len(data)
        if self._offset >= len(chunk):
            self._chunks.popleft()
            self._offset = 0
        self._waiting -= len(data)
        self.consumed += len(data)
        self.sha256.update(data)
        return data

    def take(self, n: int) -> bytearray:
        """Exactly ``n`` bytes in a buffer of their own, fewer only at the end."""
        buffer = bytearray(n)
        have = 0
        with memoryview(buffer) as view:
            while have < n:
                data = self.read(n - have)
                if not data:
                    break
                view[have:have + len(data)] = data
                have += len(data)
        del buffer[have:]
        return buffer


class BufferBody:
    """A bytes-like buffer as a rewindable request body, read without copying it whole
    (``io.BytesIO`` would copy a bytearray)."""

    def __init__(self, data) -> None:
        self._view = memoryview(data)
        self._position = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n is None or n < 0 else self._position + n
        data = bytes(self._view[self._position:end])
        self._position += len(data)
        return data

    def release(self) -> None:
        """Let go of the buffer once the request is over: swiftclient keeps the
        last request of each connection, and with it its body, until the next."""
        self._view = memoryview(b"")

    def tell(self) -> int:
        return self._position

    def seek(self, position: int, whence: int = 0) -> int:
        self._position = position if whence == 0 else (
            self._position + position if whence == 1 else len(self._view) + position)
        return self._position


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
