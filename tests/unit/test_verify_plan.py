"""verify's WAL plan: every segment recovery reads from a backup, and every gap."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from swiftwal.domain.verification import BackupReport, plan_wal_check, wal_check
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.timeline import HistoryEntry, TimelineHistory
from swiftwal.domain.walnames import Segment
from tests.unit.strategies import numbered_record

SIZE = 16 * 1024 * 1024


record = numbered_record


def seg(number: int, timeline: int = 1) -> Segment:
    return Segment.from_number(timeline, number, SIZE)


@given(st.integers(1, 40), st.integers(0, 5), st.integers(0, 20), st.sets(st.integers(0, 80)))
def test_no_problem_exactly_when_no_segment_is_missing_from_start_to_the_last(
        start, length, tail, holes):
    stop = start + length
    last = stop + tail
    archived = {seg(n) for n in range(start, last + 1) if n not in holes or n == last}
    check = plan_wal_check(record(start, stop), {}, archived)
    missing = [n for n in range(start, last + 1) if seg(n) not in archived]
    assert (check.problems == ()) == (not missing)
    assert set(check.segments) == archived
    if missing:
        assert str(seg(missing[0])) in check.problems[0]


@given(st.integers(1, 40), st.integers(1, 5), st.integers(1, 5))
def test_missing_wal_before_stop_is_reported_even_at_the_end_of_the_archive(start, length, cut):
    stop = start + length
    archived = {seg(n) for n in range(start, stop - min(cut, length) + 1)}
    check = plan_wal_check(record(start, stop), {}, archived)
    assert len(check.problems) == 1
    assert "consistent" in check.problems[0]


@given(st.integers(1, 40), st.integers(0, 5), st.integers(1, 10))
def test_wal_inside_the_backup_is_not_needed_from_the_archive(start, length, tail):
    stop = start + length
    archived = {seg(n) for n in range(stop + 1, stop + 1 + tail)}
    assert plan_wal_check(record(start, stop, wal_included=True), {}, archived).problems == ()
    assert plan_wal_check(record(start, stop), {}, archived).problems != ()


def test_recovery_follows_the_latest_timeline_and_ignores_abandoned_branches():
    histories = {2: TimelineHistory(2, (HistoryEntry(1, Lsn(12 * SIZE + 500), "x"),))}
    archived = {seg(n) for n in range(10, 15)} | {seg(n, 2) for n in range(12, 17)}
    check = plan_wal_check(record(10, 11), histories, archived)
    assert check.problems == ()
    assert check.timeline == 2
    assert check.segments[-1] == seg(16, 2)
    assert seg(13) not in check.segments and seg(12) not in check.segments
    archived.discard(seg(14, 2))
    check = plan_wal_check(record(10, 11), histories, archived)
    assert len(check.problems) == 1 and "000000020000000000000000E" not in check.problems[0]
    assert "00000002000000000000000E" in check.problems[0]


@given(st.integers(1, 40), st.integers(0, 5), st.integers(0, 20), st.sets(st.integers(0, 80)),
       st.lists(st.sampled_from(["backup object missing", "corrupted"]), max_size=2),
       st.booleans())
def test_a_report_fails_exactly_with_a_problem_and_shows_each(start, length, tail, holes,
                                                              found, full):
    stop = start + length
    archived = {seg(n) for n in range(start, stop + tail + 1) if n not in holes}
    check = wal_check(record(start, stop), {}, archived)
    assert check == plan_wal_check(record(start, stop), {}, archived)
    report = BackupReport.of(record(start, stop), check, [*found, *check.problems], full)
    assert report.ok == (not found and not check.problems)
    assert report.lines()[1:] == [f"  - {p}" for p in [*found, *check.problems]]
    data = report.to_json_dict()
    assert data["ok"] == report.ok and data["segments"] == len(check.segments)
    assert (data["first_segment"], data["last_segment"]) == (
        (str(check.segments[0]), str(check.segments[-1])) if check.segments else (None, None))
    assert data["checked"] == ("full" if full else "metadata")
