"""The WAL a backup needs: what recovery from it reads along the latest timeline,
and every gap that would stop it short of the end of the archive.

One answer serves ``verify`` (is this backup restorable?) and ``info`` (are
there holes in the archive?).
"""
from __future__ import annotations

from typing import Collection, Mapping, Optional, Tuple

import attrs

from swiftwal.domain import errors
from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.timeline import TimelineHistory, history_of, recovery_segments
from swiftwal.domain.walnames import Segment


@attrs.frozen
class Gap:
    """A run of missing segments on the path, with archived segments after it."""

    first: Segment
    last: Segment
    count: int


@attrs.frozen
class WalChain:
    """Recovery from one backup to the end of the archive.

    ``segments``: the archived segments recovery reads, in order (a gap does not
    end the list: reading resumes after it, as an administrator repairing the
    gap would see).  ``unfinished_from``: the first missing segment the backup
    needs to become consistent (None when it has all of them)."""

    timeline: int
    segments: Tuple[Segment, ...]
    unfinished_from: Optional[Segment]
    gaps: Tuple[Gap, ...]

    @property
    def ok(self) -> bool:
        return self.unfinished_from is None and not self.gaps


def latest_timeline(record: BackupRecord, histories: Mapping[int, TimelineHistory],
                    segments: Collection[Segment]) -> int:
    """The highest timeline whose path holds the whole backup: what recovery from it
    can follow to the end of the archive (PostgreSQL's ``'latest'`` takes the highest
    timeline of all, which fails when that one left the backup's timeline while the
    backup ran)."""
    candidates = {record.timeline} | set(histories) | {s.timeline for s in segments}
    for timeline in sorted(candidates, reverse=True):
        if timeline < record.timeline:
            break
        try:
            if record.on_path_of(history_of(timeline, histories)):
                return timeline
        except errors.InvalidHistory:
            continue
    return record.timeline


def wal_chain(record: BackupRecord, histories: Mapping[int, TimelineHistory],
              available: Collection[Segment]) -> WalChain:
    """Follow recovery from ``record`` along the latest timeline through every
    archived segment on that path; ``available`` is what the archive holds."""
    size = record.segment_size
    timeline = latest_timeline(record, histories, available)
    history = history_of(timeline, histories)

    def on_path(number: int) -> Segment:
        return Segment.from_number(history.segment_timeline(number, size), number, size)

    start = record.start_number()
    stop = record.stop_segment.number(size) if record.stop_segment is not None else start
    present = set(available)
    if record.wal_included:  # fetched into the backup: the archive is needed after stop
        present.update(on_path(n) for n in range(start, stop + 1))
    read = list(recovery_segments(record.start_lsn, record.timeline, timeline, histories,
                                  present, segment_size=size).segments)
    next_number = read[-1].number(size) + 1 if read else start
    unfinished = on_path(next_number) if next_number <= stop else None
    later = sorted({n for n in (s.number(size) for s in present)
                    if n > next_number and on_path(n) in present})
    gaps = []
    for number in later:
        if number > next_number:
            gaps.append(Gap(on_path(next_number), on_path(number - 1), number - next_number))
        read.append(on_path(number))
        next_number = number + 1
    return WalChain(timeline, tuple(s for s in read if s in available), unfinished, tuple(gaps))
