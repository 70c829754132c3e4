"""An incremental tar header walker: watches a tar stream go by, chunk by
chunk, and keeps the few members a base backup is described by.

It copies nothing but headers and the captured members, so scanning costs
little next to hashing and compressing the same bytes.  It reads ustar,
GNU long names and pax ``path``/``size`` records, the formats
pg_basebackup and tar(1) write.
"""
from __future__ import annotations

from typing import Dict, Optional, Set

from swiftwal.domain.errors import IntegrityError

BLOCK = 512

# member -> (how many bytes to keep, keep the tail rather than the whole)
CAPTURE = {
    "backup_label": (1 << 20, False),
    "tablespace_map": (1 << 20, False),
    "PG_VERSION": (4096, False),
    "global/pg_control": (8192, False),
    # the manifest lists every file; its WAL-Ranges are in the last lines
    "backup_manifest": (64 << 10, True),
}
_NO_DATA_TYPES = b"123456"  # links, devices, directories, fifos: size is not data
_META_TYPES = b"xgLK"


class TarScanner:
    """``feed`` it the stream; ``captured`` maps member names to their bytes,
    ``seen`` and ``sizes`` cover the names in ``capture``."""

    def __init__(self, capture=None, sinks=None) -> None:
        self._capture = CAPTURE if capture is None else capture
        #: member name -> a callable given each piece of its data as it goes by
        #: (a member too large to keep in memory, such as a big backup_manifest)
        self._sinks = sinks or {}
        self._sink = None
        self.captured: Dict[str, bytes] = {}
        self.sizes: Dict[str, int] = {}
        self.seen: Set[str] = set()
        self.ended = False
        #: bytes taken from the stream so far, and where its end-of-archive
        #: block begins once ``ended``: what to keep to re-end the archive
        self.offset = 0
        self.end_offset: Optional[int] = None
        self._header = bytearray()
        self._remaining = 0  # data bytes of the current member still to come
        self._padding = 0
        self._keep: Optional[bytearray] = None
        self._keep_limit = 0
        self._keep_tail = False
        self._on_data_end = None
        self._next_name: Optional[str] = None
        self._next_size: Optional[int] = None

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self.ended:
            if self._remaining:
                taken = min(self._remaining, len(view))
                if self._keep is not None:
                    self._keep_bytes(view[:taken])
                if self._sink is not None:
                    self._sink(bytes(view[:taken]))
                self._remaining -= taken
                self.offset += taken
                view = view[taken:]
                if not self._remaining:
                    self._data_end()
            elif self._padding:
                taken = min(self._padding, len(view))
                self._padding -= taken
                self.offset += taken
                view = view[taken:]
            else:
                taken = min(BLOCK - len(self._header), len(view))
                self._header += view[:taken]
                self.offset += taken
                view = view[taken:]
                if len(self._header) == BLOCK:
                    header, self._header = bytes(self._header), bytearray()
                    self._on_header(header)

    @property
    def settled(self) -> int:
        """How much of the stream is known not to be its end-of-archive
        marker: all but a header still incomplete, or up to the marker."""
        return self.end_offset if self.ended else self.offset - len(self._header)

    @property
    def between_members(self) -> bool:
        """Whether the stream so far ends where a member (or the archive) does."""
        return not (self._remaining or self._padding or self._header)

    def finish(self) -> None:
        """The stream is over: raise unless it ended where a tar ends."""
        if not self.ended:
            raise IntegrityError("truncated tar stream: no end-of-archive marker")

    def _keep_bytes(self, chunk: memoryview) -> None:
        if self._keep_tail:
            self._keep += chunk
            del self._keep[:-self._keep_limit]
        elif len(self._keep) + len(chunk) <= self._keep_limit:
            self._keep += chunk
        else:
            self._keep = None  # larger than any real one: not the file we know

    def _on_header(self, header: bytes) -> None:
        if header == bytes(BLOCK):
            self.ended = True  # the rest is the end marker and record padding
            self.end_offset = self.offset - BLOCK
            return
        _check_checksum(header)
        kind = header[156:157]
        size = _number(header[124:136])
        self._sink = None
        if kind in _META_TYPES:
            self._start_data(size, capture=(kind in b"xL", 1 << 20, False),
                             then=lambda data: self._meta(kind, data))
            return
        name = self._next_name or _header_name(header)
        if self._next_size is not None:
            size = self._next_size
        self._next_name = self._next_size = None
        if kind and kind in _NO_DATA_TYPES:
            size = 0
        name = _clean(name)
        wanted = self._capture.get(name)
        self._sink = self._sinks.get(name)
        if wanted is not None:  # not every name: memory must not grow with the file count
            self.seen.add(name)
            self.sizes[name] = size
        self._start_data(size, capture=(wanted is not None, *(wanted or (0, False))),
                         then=lambda data: self._captured(name, data))

    def _start_data(self, size: int, capture, then) -> None:
        wanted, limit, tail = capture
        self._remaining = size
        self._padding = -size % BLOCK
        self._keep = bytearray() if wanted else None
        self._keep_limit, self._keep_tail = limit, tail
        self._on_data_end = then
        if not size:
            self._data_end()

    def _data_end(self) -> None:
        data = bytes(self._keep) if self._keep is not None else None
        self._keep = None
        self._on_data_end(data)

    def _captured(self, name: str, data: Optional[bytes]) -> None:
        if data is not None:
            self.captured[name] = data

    def _meta(self, kind: bytes, data: Optional[bytes]) -> None:
        if kind == b"L" and data is not None:
            self._next_name = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif kind == b"x" and data is not None:
            records = _pax_records(data)
            if "path" in records:
                self._next_name = records["path"]
            if "size" in records:
                self._next_size = int(records["size"])


def _clean(name: str) -> str:
    return "/".join(part for part in name.split("/") if part not in ("", "."))


def _header_name(header: bytes) -> str:
    name = header[0:100].split(b"\0", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape")


def _number(field: bytes) -> int:
    if field[0] & 0x80:  # base-256, for sizes past 8 GiB
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise IntegrityError(f"not a tar stream: bad number {field!r} in a header") from None


def _check_checksum(header: bytes) -> None:
    expected = _number(header[148:156])
    unsigned = sum(header[:148]) + 8 * 0x20 + sum(header[156:])
    signed = unsigned - 256 * sum(1 for byte in header[:148] + header[156:] if byte > 127)
    if expected not in (unsigned, signed):
        raise IntegrityError("not a tar stream: header checksum mismatch")


def _pax_records(data: bytes) -> Dict[str, str]:
    records, pos = {}, 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            break
        try:
            length = int(data[pos:space])
        except ValueError:
            raise IntegrityError("not a tar stream: bad pax header") from None
        if length <= 0:
            raise IntegrityError("not a tar stream: bad pax header")
        key, _, value = data[space + 1:pos + length - 1].partition(b"=")
        records[key.decode("utf-8", "surrogateescape")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records
