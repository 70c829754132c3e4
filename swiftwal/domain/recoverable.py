"""What the archive can recover to right now: per timeline, the earliest and the latest
point in time.  Pure: the caller lists the store (segment names and the times they were
stored) and reads the backup records."""
from __future__ import annotations

import datetime
from typing import Collection, Dict, Mapping, Optional, Sequence, Tuple

import attrs

from swiftwal.domain.backup import BackupKey, BackupRecord
from swiftwal.domain.recovery import on_path
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walnames import Segment


@attrs.frozen
class RecoverableWindow:
    """Recovery along ``timeline`` can stop anywhere from ``earliest`` (the end of the
    oldest backup on its path whose WAL makes it consistent) to ``latest`` (when the last
    segment of the unbroken WAL after such a backup was stored).  Both None when no
    backup can recover the timeline; ``latest`` None when the store gave no times."""

    timeline: int
    earliest: Optional[datetime.datetime]
    earliest_backup: Optional[BackupKey]
    latest: Optional[datetime.datetime]
    latest_segment: Optional[Segment]

    def to_json_dict(self) -> dict:
        def text(value: object) -> Optional[str]:
            return None if value is None else str(value)
        return {"timeline": self.timeline,
                "earliest": None if self.earliest is None else self.earliest.isoformat(),
                "earliest_backup": text(self.earliest_backup),
                "latest": None if self.latest is None else self.latest.isoformat(),
                "latest_segment": text(self.latest_segment)}


def recoverable_windows(backups: Sequence[BackupRecord],
                        stored: Mapping[Segment, Optional[datetime.datetime]],
                        histories: Mapping[int, TimelineHistory], segment_size: int
                        ) -> Tuple[RecoverableWindow, ...]:
    """One window per timeline known to the archive (from its history files, segments
    and backups), by timeline.  ``stored`` maps each archived segment to the time it
    was stored (None: unknown).  A timeline whose history file is missing gets no
    window: its path is unknown."""
    timelines = {1, *histories, *(s.timeline for s in stored), *(b.timeline for b in backups)}
    windows = []
    for timeline in sorted(timelines):
        history = histories.get(timeline, TimelineHistory.root() if timeline == 1 else None)
        if history is not None:
            windows.append(_window(timeline, history, backups, stored, histories,
                                   segment_size))
    return tuple(windows)


def _window(timeline: int, history: TimelineHistory, backups: Sequence[BackupRecord],
            stored: Mapping[Segment, Optional[datetime.datetime]],
            histories: Mapping[int, TimelineHistory], size: int) -> RecoverableWindow:
    def on_the_path(number: int) -> Segment:
        return Segment.from_number(history.segment_timeline(number, size), number, size)

    present = {s.number(size) for s in stored if on_the_path(s.number(size)) == s}
    run_end = _run_ends(present)
    earliest: Optional[Tuple[datetime.datetime, BackupKey]] = None
    latest: Optional[Tuple[int, Optional[datetime.datetime]]] = None
    for backup in backups:
        if backup.finished_at is None or not on_path(backup, timeline, histories):
            continue  # a 0.2.2 backup cannot say when it became consistent
        start = backup.start_number()
        stop = backup.stop_segment.number(size) if backup.stop_segment is not None else start
        last = stop if backup.wal_included else run_end.get(start, start - 1)
        if last < stop:
            continue  # it never becomes consistent with what is stored
        last = run_end.get(last + 1, last)
        if earliest is None or backup.finished_at < earliest[0]:
            earliest = (backup.finished_at, backup.key)
        if latest is None or last > latest[0]:
            # WAL fetched into the backup and none archived after it: its end is the limit
            latest = (last, stored.get(on_the_path(last), backup.finished_at))
    if earliest is None or latest is None:
        return RecoverableWindow(timeline, None, None, None, None)
    return RecoverableWindow(timeline, earliest[0], earliest[1], latest[1],
                             on_the_path(latest[0]))


def _run_ends(numbers: Collection[int]) -> Dict[int, int]:
    """For each number, the last one of the unbroken run of numbers it begins."""
    ends: Dict[int, int] = {}
    for number in sorted(numbers, reverse=True):
        ends[number] = ends.get(number + 1, number)
    return ends
