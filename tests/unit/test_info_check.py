"""info's gap finder and check's reading of archive_command, as properties."""
from __future__ import annotations

import shlex

from hypothesis import given, strategies as st

from swiftwal.domain.gaps import backup_gaps, find_gaps
from swiftwal.domain.server_settings import (FAIL, Finding, _config_option, judge_archive_call,
                                             read_archive_command)
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment
from tests.unit.strategies import numbered_record as record

SIZE = DEFAULT_SEGMENT_SIZE


@given(st.sets(st.integers(0, 300), min_size=1, max_size=60), st.integers(1, 5), st.integers(0, 300))
def test_gaps_and_archived_segments_cover_the_range_exactly_once(numbers, timeline, start):
    segments = [Segment.from_number(timeline, n, SIZE) for n in numbers]
    gaps = find_gaps(segments, start, SIZE)
    kept = sorted(n for n in numbers if n >= start)
    missing = set()
    for gap in gaps:
        first = Segment.parse(gap["first"], SIZE).number(SIZE)
        last = Segment.parse(gap["last"], SIZE).number(SIZE)
        assert gap["count"] == last - first + 1 and gap["timeline"] == timeline
        missing |= set(range(first, last + 1))
    assert not missing & set(kept)
    if kept:
        assert missing | set(kept) == set(range(kept[0], kept[-1] + 1))
    else:
        assert gaps == []


paths = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters="/._- "),
                min_size=1, max_size=30)


@given(paths, st.sampled_from(["--config={}", "--config {}", "-c {}"]))
def test_the_config_file_is_found_however_it_is_given(path, form):
    words = ["/opt/swiftwal/venv/bin/swiftwal"] + shlex.split(form.format(shlex.quote(path))) + \
        ["archive-wal", "%p"]
    assert _config_option(words) == path


@given(st.sampled_from(["cp %p /archive/%f", "swiftwal archive-wal", "/bin/true", "",
                        "swiftwal restore-wal %f %p", "'unbalanced"]))
def test_commands_that_do_not_archive_with_swiftwal_fail(command):
    call = read_archive_command(command)
    if not isinstance(call, Finding):  # a swiftwal call, judged as if its tool ran
        call = judge_archive_call(call, True, None, ("swift", None))
    assert call.status == FAIL


@given(st.lists(st.integers(0, 60), min_size=1, max_size=4), st.integers(-3, 4),
       st.sets(st.integers(0, 90)), st.integers(0, 90))
def test_info_reports_every_hole_from_the_oldest_backup_start_to_the_last_segment(
        starts, lead, holes, last):
    """Even a hole that begins exactly at a backup's start, before anything on
    its timeline was archived (which a per-timeline scan cannot see)."""
    backups = [record(start, start) for start in sorted(starts)]
    oldest = backups[0].start_number()
    first = max(0, oldest + lead)  # the archive may begin before, at or after the start
    archived = [Segment.from_number(1, n, SIZE) for n in range(first, last + 1)
                if n not in holes or n == last]
    gaps = backup_gaps(backups, archived, {}, SIZE)
    reported = set()
    for gap in gaps:
        number = Segment.parse(gap["first"], SIZE).number(SIZE)
        reported |= set(range(number, number + gap["count"]))
    expected = ({n for n in range(oldest, last) if n in holes or n < first}
                if archived else set())
    assert reported == expected
    assert len(gaps) == len({(g["first"], g["last"]) for g in gaps})
