"""Timeline histories: parsing, ancestry and the segments recovery reads."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.domain.errors import InvalidHistory, InvalidInput
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.timeline import (HistoryEntry, TimelineHistory, abandoned_segments,
                                      history_of, recovery_segments, timeline_of)
from swiftwal.domain.walnames import Segment

from .strategies import archives, histories

DATA = Path(__file__).parent / "data"
# 1 switches to 2 at 0/4000000, 2 to 3 at 0/7000000
H3 = TimelineHistory.parse(3, (DATA / "00000003.history").read_text())
HISTORIES = {2: TimelineHistory.parse(2, (DATA / "00000002.history").read_text()), 3: H3}


@given(histories())
@example(TimelineHistory(1, ()))
@example(TimelineHistory(2, (HistoryEntry(1, Lsn(0), ""),)))
def test_history_file_round_trip(history):
    assert TimelineHistory.parse(history.timeline, str(history)) == history


def test_history_parsing_allows_comments_blank_lines_and_spaces():
    text = "# made by hand\n\n 1  0/4000000  promoted by hand \r\n\n# end\n2\t0/7000000\n"
    history = TimelineHistory.parse(5, text)
    assert history.entries == (HistoryEntry(1, Lsn.parse("0/4000000"), "promoted by hand"),
                               HistoryEntry(2, Lsn.parse("0/7000000"), ""))


@pytest.mark.parametrize("timeline,text", [
    (3, "one\t0/4000000\treason\n"),
    (3, "1\n"),
    (3, "1\t0/4000000X\treason\n"),
    (3, "1\t4000000\treason\n"),
    (3, "1\t0/123456789\treason\n"),
    (3, "2\t0/4000000\tr\n1\t0/5000000\tr\n"),   # timeline ids must increase
    (3, "1\t0/5000000\tr\n2\t0/4000000\tr\n"),   # switch points must not go back
    (2, "2\t0/4000000\tr\n"),                    # parent must be older than its child
    (2, "0\t0/4000000\tr\n"),
])
def test_malformed_history_is_rejected_naming_the_input(timeline, text):
    with pytest.raises(InvalidHistory) as info:
        TimelineHistory.parse(timeline, text)
    assert str(timeline) in str(info.value)
    assert isinstance(info.value, InvalidInput)


def test_ancestry_and_timeline_of_an_lsn():
    assert H3.ancestors() == (1, 2, 3)
    assert history_of(1, {}).ancestors() == (1,)
    assert timeline_of(Lsn.parse("0/3FFFFFF"), 3, HISTORIES) == 1
    assert timeline_of(Lsn.parse("0/4000000"), 3, HISTORIES) == 2
    assert timeline_of(Lsn.parse("0/8000000"), 3, HISTORIES) == 3
    assert timeline_of(Lsn.parse("0/8000000"), 2, HISTORIES) == 2
    assert timeline_of(Lsn.parse("0/8000000"), 1, HISTORIES) == 1
    with pytest.raises(InvalidHistory) as info:
        timeline_of(Lsn(0), 4, HISTORIES)
    assert "timeline 4" in str(info.value)


def _segments(*names):
    return [Segment.parse(n) for n in names]


def test_recovery_reads_the_switch_segment_from_the_new_timeline():
    available = _segments(
        "000000010000000000000003", "000000010000000000000004", "000000020000000000000004",
        "000000020000000000000005", "000000020000000000000006", "000000020000000000000007",
        "000000030000000000000007", "000000030000000000000008", "000000010000000000000005")
    path = recovery_segments(Lsn.parse("0/3000028"), 1, 3, HISTORIES, available)
    assert [str(s) for s in path.segments] == [
        "000000010000000000000003", "000000020000000000000004", "000000020000000000000005",
        "000000020000000000000006", "000000030000000000000007", "000000030000000000000008"]
    assert path.complete
    to_lsn = recovery_segments(Lsn.parse("0/3000028"), 1, 3, HISTORIES, available,
                               target_lsn=Lsn.parse("0/9000000"))
    assert to_lsn.missing == Segment.parse("000000030000000000000009")
    assert not to_lsn.complete
    on_one = recovery_segments(Lsn.parse("0/3000028"), 1, 1, HISTORIES, available,
                               target_lsn=Lsn.parse("0/5000010"))
    assert [str(s) for s in on_one.segments] == [
        "000000010000000000000003", "000000010000000000000004", "000000010000000000000005"]
    assert on_one.complete


def test_mid_segment_switch_is_read_from_the_new_timeline():
    history = {2: TimelineHistory(2, (HistoryEntry(1, Lsn.parse("0/4000100"), "r"),))}
    available = _segments("000000010000000000000003", "000000010000000000000004",
                          "000000020000000000000004", "000000020000000000000005")
    path = recovery_segments(Lsn.parse("0/3000028"), 1, 2, history, available)
    assert [str(s) for s in path.segments] == [
        "000000010000000000000003", "000000020000000000000004", "000000020000000000000005"]


def test_recovery_refuses_a_target_timeline_that_left_before_the_backup():
    with pytest.raises(InvalidInput) as info:
        recovery_segments(Lsn.parse("0/5000028"), 1, 2, HISTORIES, [])
    assert "0/5000028" in str(info.value)


def test_abandoned_segments_are_those_off_the_path():
    segments = _segments("000000010000000000000003", "000000010000000000000004",
                         "000000010000000000000005", "000000020000000000000004",
                         "000000020000000000000007", "000000030000000000000007")
    assert [str(s) for s in abandoned_segments(segments, 3, HISTORIES)] == [
        "000000010000000000000004", "000000010000000000000005", "000000020000000000000007"]


def _pg_read_timeline(path_spans, number, size):
    """PostgreSQL's XLogFileReadAnyTLI: the newest timeline of the path that began at or
    before the segment."""
    for timeline, begin in reversed(path_spans):
        if begin // size <= number:
            return timeline
    return path_spans[0][0]


@given(archives(), st.data())
def test_recovery_reads_each_position_once_from_the_path_timeline(archive, data):
    size = archive.segment_size
    target = data.draw(st.sampled_from(sorted(archive.histories)))
    history = archive.histories[target]
    path_spans = [(e.parent, 0) for e in history.entries[:1]] + [
        (later, e.switch_lsn.value) for e, later in
        zip(history.entries, [x.parent for x in history.entries[1:]] + [target])]
    start_lsn = Lsn(data.draw(st.integers(0, 30 * size)))
    start_tl = history.timeline_of(start_lsn)
    available = {f for f in archive.wal_files if isinstance(f, Segment)}
    path = recovery_segments(start_lsn, start_tl, target, archive.histories, available,
                             segment_size=size)
    numbers = [s.number(size) for s in path.segments]
    assert numbers == list(range(start_lsn.value // size, start_lsn.value // size + len(numbers)))
    for segment in path.segments:
        assert segment in available
        assert segment.timeline == _pg_read_timeline(path_spans or [(target, 0)],
                                                     segment.number(size), size)
    following = start_lsn.value // size + len(numbers)
    assert Segment.from_number(_pg_read_timeline(path_spans or [(target, 0)], following, size),
                               following, size) not in available
