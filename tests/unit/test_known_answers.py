"""Known answers recorded from a real PostgreSQL 15 (see data/README)."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from swiftwal.domain.backup import parse_backup_label
from swiftwal.domain.cleanup import plan_archive_cleanup
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.timeline import HistoryEntry, TimelineHistory
from swiftwal.domain.walnames import Segment, parse_wal_filename

DATA = Path(__file__).parent / "data"

with (DATA / "walfile_names.csv").open() as _f:
    WALFILE_ROWS = list(csv.DictReader(_f))


def test_known_answer_data_covers_sizes_and_timelines():
    assert {int(r["segment_size"]) for r in WALFILE_ROWS} == {1 << 20, 16 << 20, 64 << 20}
    assert {int(r["timeline"]) for r in WALFILE_ROWS} == {1, 2, 3}


@pytest.mark.parametrize("row", WALFILE_ROWS,
                         ids=[f"{r['segment_size']}-{r['timeline']}-{r['lsn']}"
                              for r in WALFILE_ROWS])
def test_segment_for_lsn_matches_pg_walfile_name(row):
    size, timeline, lsn = int(row["segment_size"]), int(row["timeline"]), Lsn.parse(row["lsn"])
    segment = Segment.from_lsn(timeline, lsn, size)
    assert str(segment) == row["file_name"]
    assert Segment.parse(row["file_name"], size) == segment
    assert lsn.value % size == int(row["file_offset"])


def test_real_history_files_parse_and_round_trip_byte_for_byte():
    text2 = (DATA / "00000002.history").read_text()
    text3 = (DATA / "00000003.history").read_text()
    h2, h3 = TimelineHistory.parse(2, text2), TimelineHistory.parse(3, text3)
    assert h2.entries == (HistoryEntry(1, Lsn.parse("0/4000000"), "no recovery target specified"),)
    assert h3.entries[:1] == h2.entries
    assert h3.entries[1].parent == 2
    assert h3.ancestors() == (1, 2, 3)
    assert str(h2) == text2
    assert str(h3) == text3
    switch = h3.entries[1].switch_lsn
    assert h3.timeline_of(Lsn(switch.value - 1)) == 2
    assert h3.timeline_of(switch) == 3
    assert h3.timeline_of(Lsn(0)) == 1


def test_real_backup_label_parses():
    label = parse_backup_label((DATA / "backup_label").read_text())
    assert label.start_segment == Segment.holding(1, label.start_lsn)
    assert label.timeline == 1
    assert label.backup_method == "streamed"
    assert label.backup_from == "primary"
    assert label.label == "pg_basebackup base backup"
    assert label.checkpoint_lsn is not None and label.checkpoint_lsn >= label.start_lsn


def _cleanup_cases():
    cases, current = [], None
    for line in (DATA / "archivecleanup.txt").read_text().splitlines():
        word, value = line.split(" ", 1)
        if word == "restart":
            current = (value, {})
            cases.append(current)
        else:
            current[1][word] = value == "removed"
    return cases


@pytest.mark.parametrize("restart,expected", _cleanup_cases(), ids=lambda v: str(v)[:40])
def test_archive_cleanup_matches_pg_archivecleanup(restart, expected):
    files = [parse_wal_filename(name) for name in expected]
    plan = plan_archive_cleanup(files, restart)
    assert {str(f) for f in plan.delete} == {n for n, removed in expected.items() if removed}
    assert {str(f) for f in plan.keep} == {n for n, removed in expected.items() if not removed}
