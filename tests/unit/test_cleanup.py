"""archive-cleanup agrees with pg_archivecleanup's rule."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.domain.cleanup import plan_archive_cleanup
from swiftwal.domain.errors import InvalidWalName
from swiftwal.domain.walnames import (BackupHistoryFile, HistoryFile, PartialSegment, Segment,
                                      parse_wal_filename)

# Few distinct positions, so that equal and neighbouring positions are common.
small_segments = st.builds(Segment, st.integers(1, 3), st.integers(0, 2),
                           st.sampled_from([0, 1, 0xFE, 0xFF]))
archive_files = st.one_of(
    small_segments, small_segments.map(PartialSegment),
    st.builds(BackupHistoryFile, small_segments, st.sampled_from([0, 0x28])),
    st.integers(1, 4).map(HistoryFile))
restart_names = st.one_of(small_segments, small_segments.map(PartialSegment),
                          st.builds(BackupHistoryFile, small_segments, st.just(0x28))).map(str)


def pg_archivecleanup_removes(name: str, restart: str) -> bool:
    """pg_archivecleanup.c: a segment or partial name whose part after the timeline sorts
    (strcmp) before that of the restart file's segment name."""
    is_segment = len(name) == 24 or (len(name) == 32 and name.endswith(".partial"))
    return is_segment and name[8:] < restart[:24][8:]


@given(st.lists(archive_files, max_size=30), restart_names)
@example([Segment(1, 1, 0), PartialSegment(Segment(2, 1, 0)), Segment(3, 0, 0xFF)],
         "000000020000000100000000")
def test_archive_cleanup_agrees_with_pg_archivecleanup(files, restart):
    plan = plan_archive_cleanup(files, restart)
    assert sorted(map(str, plan.delete)) == sorted(
        str(f) for f in files if pg_archivecleanup_removes(str(f), restart))
    assert sorted(map(str, plan.delete + plan.keep)) == sorted(map(str, files))
    assert not any(isinstance(f, (HistoryFile, BackupHistoryFile)) for f in plan.delete)


@pytest.mark.parametrize("restart", ["00000002.history", "garbage", "", "00000001000000000000000"])
def test_archive_cleanup_rejects_a_bad_restart_name(restart):
    with pytest.raises(InvalidWalName) as info:
        plan_archive_cleanup([], restart)
    assert repr(restart) in str(info.value)


def test_archive_cleanup_restart_from_backup_file():
    files = [parse_wal_filename(n) for n in ["000000010000000000000004",
                                             "000000010000000000000005"]]
    plan = plan_archive_cleanup(files, "000000010000000000000005.00000028.backup")
    assert [str(f) for f in plan.delete] == ["000000010000000000000004"]
