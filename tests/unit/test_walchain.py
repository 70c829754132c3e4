"""The WAL chain of a backup: what recovery reads, and every gap, as data."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swiftwal.domain.lsn import Lsn
from swiftwal.domain.timeline import HistoryEntry, TimelineHistory
from swiftwal.domain.walchain import wal_chain
from swiftwal.domain.walnames import Segment
from tests.unit.strategies import numbered_record as record

SIZE = 16 * 1024 * 1024


def seg(number: int, timeline: int = 1) -> Segment:
    return Segment.from_number(timeline, number, SIZE)


def runs(numbers):
    """Maximal runs of consecutive integers, as (first, last)."""
    out = []
    for n in sorted(numbers):
        if out and out[-1][1] == n - 1:
            out[-1] = (out[-1][0], n)
        else:
            out.append((n, n))
    return out


@given(st.integers(1, 40), st.integers(0, 5), st.integers(0, 30), st.sets(st.integers(0, 90)),
       st.sets(st.integers(0, 90)))
def test_gaps_are_exactly_the_missing_runs_between_the_start_and_the_last_archived(
        start, length, tail, holes, older):
    stop = start + length
    last = stop + tail
    archived = {seg(n) for n in range(start, last + 1) if n not in holes or n == last}
    archived |= {seg(n) for n in older if n < start}  # WAL before the backup is never read
    chain = wal_chain(record(start, stop), {}, archived)
    missing = [n for n in range(start, last + 1) if seg(n) not in archived]
    expected = runs(missing)
    assert [(g.first.number(SIZE), g.last.number(SIZE)) for g in chain.gaps] == expected
    assert all(g.count == g.last.number(SIZE) - g.first.number(SIZE) + 1 for g in chain.gaps)
    assert chain.ok == (not missing)
    assert set(chain.segments) == {s for s in archived if s.number(SIZE) >= start}
    first_missing = missing[0] if missing else None
    assert chain.unfinished_from == (seg(first_missing) if first_missing is not None
                                     and first_missing <= stop else None)


@given(st.integers(1, 30), st.integers(0, 4), st.integers(1, 6))
def test_a_hole_right_at_the_backup_start_is_a_gap(start, length, hole):
    stop = start + length
    archived = {seg(n) for n in range(start + hole, stop + hole + 3)}
    chain = wal_chain(record(start, stop), {}, archived)
    assert chain.gaps and chain.gaps[0].first == seg(start)
    assert chain.unfinished_from == seg(start)


def test_a_gap_after_a_timeline_switch_is_named_on_the_new_timeline():
    histories = {2: TimelineHistory(2, (HistoryEntry(1, Lsn(12 * SIZE + 500), "x"),))}
    archived = {seg(n) for n in range(10, 15)} | {seg(n, 2) for n in (12, 13, 16, 17)}
    chain = wal_chain(record(10, 11), histories, archived)
    assert chain.timeline == 2
    assert [(str(g.first), str(g.last), g.count) for g in chain.gaps] == [
        (str(seg(14, 2)), str(seg(15, 2)), 2)]
    assert seg(13) not in chain.segments and chain.segments[-1] == seg(17, 2)
