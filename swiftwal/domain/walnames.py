"""Names of the files found in a WAL archive, as immutable values.

A segment name is 24 upper-case hex digits: timeline, log id and segment
number within the log id, 8 digits each.  How many segments a log id holds
depends on the segment size (``initdb --wal-segsize``), so every operation
that needs it takes the size as an argument; it is never global state.
"""
from __future__ import annotations

import re
from typing import Optional, Union

import attrs

from swiftwal.domain.errors import InvalidInput, InvalidWalName
from swiftwal.domain.lsn import MAX_LSN, Lsn

DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024
MIN_SEGMENT_SIZE = 1024 * 1024
MAX_SEGMENT_SIZE = 1024 * 1024 * 1024
_U32 = 0xFFFFFFFF

_SEGMENT_RE = re.compile(r"[0-9A-F]{24}")
_HISTORY_RE = re.compile(r"([0-9A-F]{8})\.history")
_BACKUP_RE = re.compile(r"([0-9A-F]{24})\.([0-9A-F]{8})\.backup")
_PARTIAL_RE = re.compile(r"([0-9A-F]{24})\.partial")


def validate_segment_size(size: int) -> int:
    """Return ``size`` if it is a WAL segment size PostgreSQL accepts, else raise."""
    if (not isinstance(size, int) or isinstance(size, bool)
            or not MIN_SEGMENT_SIZE <= size <= MAX_SEGMENT_SIZE or size & (size - 1)):
        raise InvalidInput(f"invalid wal segment size {size!r}: expected a power of two "
                           "from 1 MiB to 1 GiB, in bytes",
                           hint="see initdb --wal-segsize; the default is 16 MiB")
    return size


def segments_per_log(segment_size: int) -> int:
    """How many segments one log id holds (256 for 16 MiB)."""
    return 0x100000000 // validate_segment_size(segment_size)


def _u32(name: str):
    def check(instance: object, attribute: attrs.Attribute, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U32:
            raise InvalidInput(f"{name} {value!r} is not an integer in 0..0xFFFFFFFF")
    return check


def _timeline(instance: object, attribute: attrs.Attribute, value: int) -> None:
    # PostgreSQL numbers timelines from 1; 0 never names a real timeline.
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _U32:
        raise InvalidInput(f"timeline {value!r} is not an integer in 1..0xFFFFFFFF")


@attrs.frozen(order=True)
class Segment:
    """One WAL segment.  Ordered like its name: timeline, then position."""

    timeline: int = attrs.field(validator=_timeline)
    log: int = attrs.field(validator=_u32("log id"))
    seg: int = attrs.field(validator=_u32("segment number"))

    @classmethod
    def parse(cls, name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
        if not isinstance(name, str) or _SEGMENT_RE.fullmatch(name) is None:
            raise InvalidWalName(f"invalid wal segment name {name!r}: expected 24 upper-case "
                                 "hex digits")
        return cls._from_hex(name, name, segment_size)

    @classmethod
    def _from_hex(cls, hex24: str, original: str, segment_size: int) -> Segment:
        timeline, log, seg = int(hex24[:8], 16), int(hex24[8:16], 16), int(hex24[16:], 16)
        if timeline == 0:
            raise InvalidWalName(f"invalid wal file name {original!r}: timeline 0 does not exist")
        if seg >= segments_per_log(segment_size):
            raise InvalidWalName(
                f"invalid wal file name {original!r}: segment number {seg:#x} is out of range "
                f"for {segment_size // (1024 * 1024)} MiB segments",
                hint="is the segment size right?")
        return cls(timeline, log, seg)

    @classmethod
    def from_number(cls, timeline: int, number: int,
                    segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
        """The segment with PostgreSQL's segment number ``number`` (XLogSegNo)."""
        per_log = segments_per_log(segment_size)
        if not isinstance(number, int) or not 0 <= number <= MAX_LSN // segment_size:
            raise InvalidInput(f"segment number {number!r} is out of range")
        return cls(timeline, number // per_log, number % per_log)

    @classmethod
    def from_lsn(cls, timeline: int, lsn: Lsn,
                 segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
        """The same answer as PostgreSQL's ``pg_walfile_name(lsn)`` on ``timeline``.

        Like PostgreSQL (XLByteToPrevSeg) an LSN exactly on a segment boundary
        names the segment that ends there, and 0/0 wraps to the last segment:
        this is the segment holding WAL that *ends* at ``lsn``.
        """
        validate_segment_size(segment_size)
        return cls.from_number(timeline, ((lsn.value - 1) & MAX_LSN) // segment_size,
                               segment_size)

    @classmethod
    def holding(cls, timeline: int, lsn: Lsn,
                segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
        """The segment that holds the byte at ``lsn`` (PostgreSQL's XLByteToSeg).

        This is where a record *starting* at ``lsn`` is read from: the start
        segment of a backup, the first segment of a new timeline.
        """
        validate_segment_size(segment_size)
        return cls.from_number(timeline, lsn.value // segment_size, segment_size)

    def number(self, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
        """PostgreSQL's segment number (XLogSegNo): the position, timeline aside."""
        per_log = segments_per_log(segment_size)
        if self.seg >= per_log:
            raise InvalidInput(f"segment {self} does not exist with "
                               f"{segment_size // (1024 * 1024)} MiB segments")
        return self.log * per_log + self.seg

    def start_lsn(self, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Lsn:
        return Lsn(self.number(segment_size) * segment_size)

    def end_lsn(self, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Lsn:
        """The last LSN this segment holds (inclusive)."""
        return Lsn(self.start_lsn(segment_size).value + segment_size - 1)

    def next(self, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
        return Segment.from_number(self.timeline, self.number(segment_size) + 1, segment_size)

    def previous(self, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
        number = self.number(segment_size)
        if number == 0:
            raise InvalidInput(f"segment {self} is the first one: it has no previous segment")
        return Segment.from_number(self.timeline, number - 1, segment_size)

    def on_timeline(self, timeline: int) -> Segment:
        return Segment(timeline, self.log, self.seg)

    def __str__(self) -> str:
        return f"{self.timeline:08X}{self.log:08X}{self.seg:08X}"


def distance(a: Segment, b: Segment, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
    """How many segments ``b`` lies after ``a`` (negative if before); timelines ignored."""
    return b.number(segment_size) - a.number(segment_size)


@attrs.frozen(order=True)
class HistoryFile:
    """A timeline history file, ``0000000A.history``."""

    timeline: int = attrs.field(validator=_timeline)

    def __str__(self) -> str:
        return f"{self.timeline:08X}.history"


@attrs.frozen(order=True)
class BackupHistoryFile:
    """``<segment>.<8 hex offset>.backup``: written by PostgreSQL when a backup stops."""

    segment: Segment
    offset: int = attrs.field(validator=_u32("offset"))

    def start_lsn(self, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Lsn:
        return Lsn(self.segment.start_lsn(segment_size).value + self.offset)

    def __str__(self) -> str:
        return f"{self.segment}.{self.offset:08X}.backup"


@attrs.frozen(order=True)
class PartialSegment:
    """``<segment>.partial``: the incomplete last segment of a timeline left at promotion."""

    segment: Segment

    def __str__(self) -> str:
        return f"{self.segment}.partial"


WalFile = Union[Segment, HistoryFile, BackupHistoryFile, PartialSegment]


def parse_wal_filename(name: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> WalFile:
    """Parse any file name PostgreSQL puts in a WAL archive; raise InvalidWalName otherwise."""
    validate_segment_size(segment_size)
    if not isinstance(name, str):
        raise InvalidWalName(f"invalid wal file name {name!r}: not a string")
    if _SEGMENT_RE.fullmatch(name):
        return Segment._from_hex(name, name, segment_size)
    match = _HISTORY_RE.fullmatch(name)
    if match:
        timeline = int(match.group(1), 16)
        if timeline == 0:
            raise InvalidWalName(f"invalid wal file name {name!r}: timeline 0 does not exist")
        return HistoryFile(timeline)
    match = _BACKUP_RE.fullmatch(name)
    if match:
        offset = int(match.group(2), 16)
        if offset >= segment_size:
            raise InvalidWalName(f"invalid wal file name {name!r}: offset {offset:#x} is beyond "
                                 "the end of the segment")
        return BackupHistoryFile(Segment._from_hex(match.group(1), name, segment_size), offset)
    match = _PARTIAL_RE.fullmatch(name)
    if match:
        return PartialSegment(Segment._from_hex(match.group(1), name, segment_size))
    raise InvalidWalName(f"invalid wal file name {name!r}: expected a segment (24 upper-case hex "
                         "digits), <timeline>.history, <segment>.<offset>.backup or "
                         "<segment>.partial")


def segment_of(wal_file: WalFile) -> Optional[Segment]:
    """The segment a file belongs to (``.backup`` and ``.partial`` files follow it);
    None for a history file."""
    if isinstance(wal_file, Segment):
        return wal_file
    if isinstance(wal_file, (BackupHistoryFile, PartialSegment)):
        return wal_file.segment
    return None


_KIND_RANK = {Segment: 0, PartialSegment: 1, BackupHistoryFile: 2}


def wal_order_key(wal_file: WalFile) -> tuple:
    """Sort key for mixed archive listings: history files first, then by position.

    Unlike plain name order, segments of different timelines interleave by
    their position in the WAL, and each ``.partial``/``.backup`` file sits
    just after its segment.  The key does not depend on the segment size.
    """
    if isinstance(wal_file, HistoryFile):
        return (0, wal_file.timeline, 0, 0, 0, 0)
    segment = segment_of(wal_file)
    assert segment is not None
    offset = wal_file.offset if isinstance(wal_file, BackupHistoryFile) else 0
    return (1, segment.log, segment.seg, segment.timeline, _KIND_RANK[type(wal_file)], offset)


#: Short name for ``wal_order_key``.
sort_key = wal_order_key
