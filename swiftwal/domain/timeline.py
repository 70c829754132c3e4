"""Timeline history files and the questions recovery asks of them.

A history file ``0000000T.history`` lists, one line per ancestor, the parent
timeline, the LSN where the child left it and a free-text reason.  Lines are
``parent<TAB>X/X<TAB>reason``; blank lines and ``#`` comments are allowed.
PostgreSQL writes a blank line between entries copied from the parent file
and the new one; ``str()`` renders the same layout, so a history file written
by PostgreSQL round-trips byte for byte.

An LSN equal to a switch point belongs to the child timeline (as in
PostgreSQL's ``tliOfPointInHistory``), and the segment holding a switch point
is read from the child timeline (as in ``XLogFileReadAnyTLI``).
"""
from __future__ import annotations

import re
from typing import Collection, Mapping, NamedTuple, Optional, Tuple

import attrs

from swiftwal.domain.errors import InvalidHistory, InvalidInput
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment, validate_segment_size

_LINE_RE = re.compile(r"\s*(\d+)\s+([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})(?:\s+(.*?))?\s*")


class HistoryEntry(NamedTuple):
    """One ancestor: the child left ``parent`` at ``switch_lsn``."""

    parent: int
    switch_lsn: Lsn
    reason: str


@attrs.frozen
class TimelineSpan:
    """The part of a timeline on a recovery path: ``begin`` <= LSN < ``end`` (None: open)."""

    timeline: int
    begin: Lsn
    end: Optional[Lsn]

    def holds(self, lsn: Lsn) -> bool:
        return self.begin <= lsn and (self.end is None or lsn < self.end)


def _check_entries(instance: TimelineHistory, attribute: object,
                   entries: Tuple[HistoryEntry, ...]) -> None:
    previous: Optional[HistoryEntry] = None
    for entry in entries:
        if not isinstance(entry, HistoryEntry):
            raise InvalidHistory(f"history entry {entry!r} is not a HistoryEntry")
        if entry.parent < 1:
            raise InvalidHistory(f"invalid history entry {entry!r}: timeline ids start at 1")
        if "\n" in entry.reason or "\r" in entry.reason or entry.reason != entry.reason.strip():
            raise InvalidHistory(f"invalid reason {entry.reason!r}: one line without "
                                 "surrounding blanks expected")
        if previous is not None and entry.parent <= previous.parent:
            raise InvalidHistory(f"invalid history entry {entry!r}: timeline ids must increase")
        if previous is not None and entry.switch_lsn < previous.switch_lsn:
            raise InvalidHistory(f"invalid history entry {entry!r}: switch points must not "
                                 "go backwards")
        previous = entry
    if previous is not None and previous.parent >= instance.timeline:
        raise InvalidHistory(f"invalid history of timeline {instance.timeline}: parent "
                             f"{previous.parent} is not older than its child")


@attrs.frozen
class TimelineHistory:
    """The ancestry of ``timeline`` as read from its history file."""

    timeline: int = attrs.field()
    entries: Tuple[HistoryEntry, ...] = attrs.field(converter=tuple, validator=_check_entries)

    @timeline.validator
    def _check_timeline(self, attribute: object, value: int) -> None:
        if not isinstance(value, int) or not 1 <= value <= 0xFFFFFFFF:
            raise InvalidHistory(f"invalid timeline {value!r}")

    @classmethod
    def parse(cls, timeline: int, text: str) -> TimelineHistory:
        if not isinstance(text, str):
            raise InvalidHistory(f"history of timeline {timeline} is not text: {text!r}")
        entries = []
        for number, line in enumerate(text.split("\n"), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            match = _LINE_RE.fullmatch(line)
            if match is None:
                raise InvalidHistory(f"syntax error in history file of timeline {timeline}, "
                                     f"line {number}: {line!r}",
                                     hint="expected: parent timeline, switch lsn X/X, reason")
            lsn = Lsn((int(match.group(2), 16) << 32) | int(match.group(3), 16))
            entries.append(HistoryEntry(int(match.group(1)), lsn, match.group(4) or ""))
        try:
            return cls(timeline, tuple(entries))
        except InvalidHistory as exc:
            raise InvalidHistory(f"invalid history file of timeline {timeline}: {exc.message}"
                                 ) from None

    @classmethod
    def root(cls) -> TimelineHistory:
        """Timeline 1, which has no parent (and no history file)."""
        return cls(1, ())

    def __str__(self) -> str:
        # PostgreSQL separates each appended entry from the copied ones by a blank line.
        return "\n".join(f"{e.parent}\t{e.switch_lsn}\t{e.reason}\n" for e in self.entries)

    @property
    def parent(self) -> Optional[int]:
        return self.entries[-1].parent if self.entries else None

    def ancestors(self) -> Tuple[int, ...]:
        """Every timeline on the path, oldest first, ending with this one."""
        return tuple(e.parent for e in self.entries) + (self.timeline,)

    def spans(self) -> Tuple[TimelineSpan, ...]:
        """The path from the oldest ancestor to this timeline, as contiguous LSN spans."""
        spans = []
        begin = Lsn(0)
        for entry in self.entries:
            spans.append(TimelineSpan(entry.parent, begin, entry.switch_lsn))
            begin = entry.switch_lsn
        spans.append(TimelineSpan(self.timeline, begin, None))
        return tuple(spans)

    def timeline_of(self, lsn: Lsn) -> int:
        """Which timeline holds ``lsn`` on the path to this timeline."""
        for span in self.spans():
            if span.holds(lsn):
                return span.timeline
        raise AssertionError("spans cover every lsn")  # pragma: no cover

    def segment_timeline(self, number: int, segment_size: int = DEFAULT_SEGMENT_SIZE) -> int:
        """The timeline recovery along this path reads segment number ``number`` from."""
        validate_segment_size(segment_size)
        chosen = self.entries[0].parent if self.entries else self.timeline
        for span in self.spans():
            if span.begin.value // segment_size <= number:
                chosen = span.timeline
        return chosen

    def passes_through(self, lsn: Lsn, timeline: int) -> bool:
        """Whether the path to this timeline holds ``lsn`` on ``timeline``."""
        return self.timeline_of(lsn) == timeline

    def holds_range(self, start: Lsn, stop: Lsn, timeline: int) -> bool:
        """Whether the path to this timeline holds everything from ``start`` to ``stop`` on
        ``timeline``.  A ``stop`` equal to the switch point is still held: the record that
        ends there was replayed on the parent before the child began."""
        for span in self.spans():
            if span.timeline == timeline:
                return span.holds(start) and (span.end is None or stop <= span.end)
        return False


def history_of(timeline: int, histories: Mapping[int, TimelineHistory]) -> TimelineHistory:
    """The history of ``timeline`` from ``histories``; timeline 1 needs none."""
    history = histories.get(timeline)
    if history is None:
        if timeline == 1:
            return TimelineHistory.root()
        raise InvalidHistory(f"no history file for timeline {timeline}",
                             hint=f"{timeline:08X}.history is missing from the archive")
    if history.timeline != timeline:
        raise InvalidHistory(f"history of timeline {history.timeline} given for timeline "
                             f"{timeline}")
    return history


def timeline_of(lsn: Lsn, target_timeline: int,
                histories: Mapping[int, TimelineHistory]) -> int:
    """Along the path to ``target_timeline``, which timeline holds ``lsn``."""
    return history_of(target_timeline, histories).timeline_of(lsn)


@attrs.frozen
class RecoveryPath:
    """The segments recovery reads, in order; ``missing`` is the first one it could not find
    before reaching its target (None when the target was reached or is the end of archive)."""

    segments: Tuple[Segment, ...]
    missing: Optional[Segment]

    @property
    def complete(self) -> bool:
        return self.missing is None


def recovery_segments(start_lsn: Lsn, start_timeline: int, target_timeline: int,
                      histories: Mapping[int, TimelineHistory],
                      available: Collection[Segment], target_lsn: Optional[Lsn] = None,
                      segment_size: int = DEFAULT_SEGMENT_SIZE) -> RecoveryPath:
    """Segments read by recovery from a backup that started at ``start_lsn`` on
    ``start_timeline``, following ``target_timeline``, up to ``target_lsn`` or, when it is
    None, up to the end of the archive (the first segment not in ``available``)."""
    history = history_of(target_timeline, histories)
    if not history.passes_through(start_lsn, start_timeline):
        raise InvalidInput(f"timeline {target_timeline} does not pass through {start_lsn} on "
                           f"timeline {start_timeline}",
                           hint="the backup is not an ancestor of the target timeline")
    if target_lsn is not None and target_lsn < start_lsn:
        raise InvalidInput(f"target lsn {target_lsn} is before the backup start {start_lsn}")
    present = set(available)
    number = start_lsn.value // validate_segment_size(segment_size)
    last = None if target_lsn is None else target_lsn.value // segment_size
    read = []
    while last is None or number <= last:
        segment = Segment.from_number(history.segment_timeline(number, segment_size), number,
                                      segment_size)
        if segment not in present:
            return RecoveryPath(tuple(read), None if last is None else segment)
        read.append(segment)
        number += 1
    return RecoveryPath(tuple(read), None)


def abandoned_segments(segments: Collection[Segment], target_timeline: int,
                       histories: Mapping[int, TimelineHistory],
                       segment_size: int = DEFAULT_SEGMENT_SIZE) -> Tuple[Segment, ...]:
    """The segments recovery along the path to ``target_timeline`` never reads: those of
    branches that left the path, and the parts of ancestors beyond their switch point."""
    history = history_of(target_timeline, histories)
    return tuple(sorted(
        s for s in segments
        if history.segment_timeline(s.number(segment_size), segment_size) != s.timeline))
