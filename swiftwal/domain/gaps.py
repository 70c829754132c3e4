"""Holes in the archive, as ``info`` reports them: runs of missing segments that
stop recovery short of the last archived segment."""
from __future__ import annotations

from typing import Dict, List, Mapping

from swiftwal.domain.errors import SwiftwalError
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walchain import wal_chain
from swiftwal.domain.walnames import Segment


def backup_gaps(backups, segments: List[Segment], histories: Mapping[int, TimelineHistory],
                segment_size: int) -> List[dict]:
    """Every gap that stops recovery from some backup short of the end of the
    archive, along the timeline it follows (what ``verify --all`` reports)."""
    found = []
    for record in backups:  # oldest first: a newer backup's gap is a tail of an older one's
        try:
            chain = wal_chain(record, histories, segments)
        except SwiftwalError:
            continue  # a history verify reports as unreadable: not a gap
        for gap in chain.gaps:
            if not any(gap.last == seen.last
                       and seen.first.number(segment_size) <= gap.first.number(segment_size)
                       for seen in found):
                found.append(gap)
    found.sort(key=lambda g: (g.first.number(segment_size), g.first.timeline))
    return [{"timeline": g.first.timeline, "first": str(g.first), "last": str(g.last),
             "count": g.count} for g in found]


def find_gaps(segments: List[Segment], from_number: int, segment_size: int) -> List[dict]:
    """Missing segments inside each timeline's archived range, from ``from_number`` on
    (older WAL is pruned on purpose).  A timeline's range ends at its last archived segment:
    its children start where it stopped."""
    by_timeline: Dict[int, List[int]] = {}
    for segment in segments:
        number = segment.number(segment_size)
        if number >= from_number:
            by_timeline.setdefault(segment.timeline, []).append(number)
    gaps = []
    for timeline, numbers in sorted(by_timeline.items()):
        numbers.sort()
        for before, after in zip(numbers, numbers[1:]):
            if after - before > 1:
                gaps.append({"timeline": timeline,
                             "first": str(Segment.from_number(timeline, before + 1, segment_size)),
                             "last": str(Segment.from_number(timeline, after - 1, segment_size)),
                             "count": after - before - 1})
    return gaps
