"""Compression codecs: ``gzip`` (``.gz``) and ``zstd`` (``.zst``).

- ``compress_bytes`` / ``decompress_bytes``: whole WAL files, in process.
- ``swiftwal.adapters.compress_stream.compressing_pipe``: backups.
- ``decompressing_reader``: restores, a file-like reader over a download.

Decompression checks that the compressed data ends properly: a truncated
object raises ``IntegrityError`` instead of yielding short data.  zstd output
carries its content checksum, so libzstd also catches flipped bits.
"""
from __future__ import annotations

import zlib
from typing import BinaryIO, Callable, Optional

from swiftwal.domain.errors import ConfigError, IntegrityError, UsageError

SUFFIXES = {"gzip": ".gz", "zstd": ".zst"}
CODECS = tuple(SUFFIXES)

# Whole 16 MiB WAL segments of a pgbench load on this 2-core machine (zlib):
# level 1: 39 ms, 3: 46 ms, 4: 60 ms, 6: 112 ms per segment; level 3 output is
# within 6 % of level 6.  Archiving speed bounds the server's WAL rate, so 3.
WAL_GZIP_LEVEL = 3
# zstd level 1: 37 ms and a ratio of 4.09 where level 3 took 58 ms for 4.04
# (figures in swiftwal.domain.compression_level).
WAL_ZSTD_LEVEL = 1
#: Levels each codec accepts (``COMPRESSION_LEVEL``): zstd's fast levels are
#: negative; its level 0 would mean its default (3), so it is not one.
LEVELS = {"gzip": (1, 9), "zstd": (-7, 22)}

CHUNK = 1 << 20
_GZIP_WBITS = 31  # gzip header and trailer, not a raw or zlib stream


def check_codec(codec: str) -> str:
    if codec not in SUFFIXES:
        raise UsageError(f"unknown compression {codec!r}: expected one of {', '.join(CODECS)}")
    return codec


def codec_from_suffix(name: str) -> Optional[str]:
    """The codec an object or file name's suffix says, ``None`` if neither."""
    for codec, suffix in SUFFIXES.items():
        if name.endswith(suffix):
            return codec
    return None


def load_zstandard():
    try:
        import zstandard
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise ConfigError("zstd compression needs the python package 'zstandard'",
                          hint="pip install zstandard") from exc
    return zstandard


def wal_level(codec: str, level: Optional[int] = None) -> int:
    """``level``, or the codec's default for WAL when None; a level the codec
    does not have is a ``ConfigError``."""
    level = (WAL_GZIP_LEVEL if check_codec(codec) == "gzip" else WAL_ZSTD_LEVEL) \
        if level is None else level
    lowest, highest = LEVELS[codec]
    if not lowest <= level <= highest or level == 0:
        raise ConfigError(f"{codec} has no compression level {level}: "
                          f"from {lowest} to {highest}{', not 0' if lowest < 0 else ''}",
                          hint="set COMPRESSION_LEVEL")
    return level


def compress_bytes(codec: str, data: bytes, level: Optional[int] = None) -> bytes:
    """``data`` compressed whole; ``level``: see ``wal_level``."""
    level = wal_level(codec, level)
    if codec == "gzip":
        # mtime 0 in the header: the same input always gives the same bytes
        compressor = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WBITS)
        return compressor.compress(data) + compressor.flush()
    compressor = load_zstandard().ZstdCompressor(level=level, write_checksum=True)
    return compressor.compress(data)


def decompress_bytes(codec: str, data: bytes) -> bytes:
    """Decompress one or more concatenated gzip members or zstd frames."""
    return decompress_checked(codec, data)[0]


def decompress_checked(codec: str, data: bytes) -> tuple[bytes, bool]:
    """``decompress_bytes``, and whether every zstd frame carried the checksum
    of its content (XXH64), which libzstd verified: then the output is what
    the compressor was given, bit for bit (gzip's CRC-32 is not counted)."""
    if check_codec(codec) == "zstd":
        zstandard = load_zstandard()
        new, errors = zstandard.ZstdDecompressor().decompressobj, (zstandard.ZstdError,)
    else:
        new, errors = (lambda: zlib.decompressobj(_GZIP_WBITS)), (zlib.error,)
    if not data:
        # even empty input compresses to a header and a trailer
        raise IntegrityError(f"empty {codec} data")
    out, checksummed = [], codec == "zstd"
    try:
        while data:
            if checksummed:
                checksummed = zstandard.get_frame_parameters(data).has_checksum
            decoder = new()
            out.append(decoder.decompress(data))
            if not decoder.eof:
                raise IntegrityError(f"truncated {codec} data")
            # one member or frame is complete; whatever follows starts another
            data = decoder.unused_data
    except errors as exc:
        raise IntegrityError(f"corrupt {codec} data: {exc}") from None
    return b"".join(out), checksummed


class DecompressingReader:
    """A read-only file object giving the decompressed bytes of ``raw``.

    Every ``read`` returns at most the size asked for: WAL segments and empty
    relation pages full of zeros shrink a thousandfold or more, so one chunk
    of input may expand to gigabytes.  The end of ``raw`` inside a gzip member
    or zstd frame raises ``IntegrityError``.
    """

    def __init__(self, codec: str, raw: BinaryIO) -> None:
        self.codec = check_codec(codec)
        self._raw = raw
        if codec == "zstd":
            self._next = _ZstdChunks(raw).read
        else:
            self._next = _GzipChunks(raw).read

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is not None and size >= 0:
            return self._next(size) if size else b""
        return b"".join(iter(lambda: self._next(CHUNK), b""))

    def close(self) -> None:
        pass


def decompressing_reader(codec: str, raw: BinaryIO) -> DecompressingReader:
    """Stream ``raw`` (a download) through decompression, in process.

    Both codecs decompress single-threaded at several hundred MB/s here,
    faster than a restore writes files, so no external tool and no thread.
    """
    return DecompressingReader(codec, raw)


class _GzipChunks:
    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._input = b""
        self._member = None
        self._started = False

    def read(self, size: int) -> bytes:
        try:
            while True:
                if self._member is not None or self._input:
                    if self._member is None:
                        self._member = zlib.decompressobj(_GZIP_WBITS)
                        self._started = True
                    out = self._member.decompress(self._input, size)
                    if self._member.eof:
                        self._input, self._member = self._member.unused_data, None
                    else:
                        self._input = self._member.unconsumed_tail
                    if out:
                        return out
                    if self._input:
                        continue
                data = self._raw.read(CHUNK)
                if not data:
                    if self._member is not None or not self._started:
                        raise IntegrityError("truncated gzip data")
                    return b""
                self._input = data
        except zlib.error as exc:
            raise IntegrityError(f"corrupt gzip data: {exc}") from None


class _ZstdChunks:
    """libzstd's stream reader ends quietly where its input ends, even inside
    a frame, so ``ZstdFrameEnds`` follows the frames of the same bytes."""

    def __init__(self, raw: BinaryIO) -> None:
        self._zstandard = load_zstandard()
        self._frames = ZstdFrameEnds(self._zstandard)
        self._raw = raw
        self._reader = self._zstandard.ZstdDecompressor().stream_reader(
            _Tee(raw, self._frames.feed), read_size=CHUNK, read_across_frames=True)

    def read(self, size: int) -> bytes:
        try:
            data = self._reader.read(size)
        except self._zstandard.ZstdError as exc:
            raise IntegrityError(f"corrupt zstd data: {exc}") from None
        if not data:
            if self._raw.read(1):
                raise IntegrityError("trailing data after the last zstd frame")
            self._frames.finish()
        return data


class _Tee:
    def __init__(self, raw: BinaryIO, sink: Callable[[bytes], None]) -> None:
        self._raw = raw
        self._sink = sink

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._sink(data)
        return data


_SKIPPABLE_MAGIC = 0x184D2A50  # low 4 bits free (RFC 8878, 3.1.2)
_BLOCK_HEADER = 3


class ZstdFrameEnds:
    """Where the frames of a zstd stream end, to tell a complete stream from
    one cut short, without decompressing.

    Each frame header is read by zstandard: ``frame_header_size`` and
    ``get_frame_parameters`` (its size, whether a content checksum ends the
    frame, a skippable frame's length); a bad magic number or descriptor is
    its ``ZstdError``.  What follows a header are blocks, and python-zstandard
    has no call that finds where they end in a stream while bounding what it
    inflates (``decompressobj`` reports the end of a frame but inflates all it
    is given at once; ``stream_reader`` bounds its output but ends quietly
    inside a frame): the 3-byte block headers (RFC 8878, 3.1.1.2) are
    followed here, their contents skipped.  libzstd, decompressing the same
    bytes, checks everything else, the content checksums included.
    """

    def __init__(self, zstandard) -> None:
        self._zstandard = zstandard
        self._buffer = b""
        self._need = 4  # bytes of a header field to collect before deciding
        self._field = self._frame_start
        self._skip = 0  # bytes of content to pass over before the next field
        self._checksum = 0
        self._frames = 0

    def feed(self, data: bytes) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._skip:
                taken = min(self._skip, end - pos)
                self._skip -= taken
                pos += taken
                continue
            taken = min(self._need - len(self._buffer), end - pos)
            self._buffer += data[pos:pos + taken]
            pos += taken
            if len(self._buffer) == self._need:
                self._field(self._buffer)

    def finish(self) -> None:
        if self._field != self._frame_start or self._buffer or self._skip or not self._frames:
            raise IntegrityError("truncated zstd data: the stream ends inside a frame")

    def _next(self, need: int, field, skip: int = 0) -> None:
        self._buffer, self._need, self._field, self._skip = b"", need, field, skip

    def _parameters(self, header: bytes):
        try:
            return self._zstandard.get_frame_parameters(header)
        except self._zstandard.ZstdError as exc:
            raise IntegrityError(f"corrupt zstd data: {exc}") from None

    def _frame_start(self, head: bytes) -> None:
        if len(head) == 4:  # magic number: a skippable frame's header is 8 bytes
            skippable = int.from_bytes(head, "little") & 0xFFFFFFF0 == _SKIPPABLE_MAGIC
            self._need = 8 if skippable else 5
            return
        if len(head) == 8 and int.from_bytes(head[:4], "little") & 0xFFFFFFF0 == _SKIPPABLE_MAGIC:
            self._frames += 1
            self._next(4, self._frame_start, self._parameters(head).content_size)
            return
        if len(head) == 5:
            try:
                self._need = self._zstandard.frame_header_size(head)
            except self._zstandard.ZstdError as exc:
                raise IntegrityError(f"corrupt zstd data: {exc}") from None
            if self._need > 5:
                return
        self._checksum = 4 if self._parameters(head).has_checksum else 0
        self._next(_BLOCK_HEADER, self._block)

    def _block(self, head: bytes) -> None:
        value = int.from_bytes(head, "little")
        last, kind, size = value & 1, value >> 1 & 3, value >> 3
        if kind == 3:
            raise IntegrityError("corrupt zstd data: reserved block type")
        content = 1 if kind == 1 else size  # an RLE block stores its byte once
        if last:
            self._frames += 1
            self._next(4, self._frame_start, content + self._checksum)
        else:
            self._next(_BLOCK_HEADER, self._block, content)
