"""info's report (``domain.summary``, ``domain.gaps``) on generated archives."""
from __future__ import annotations

import datetime
import json
from typing import Optional

import attrs
from hypothesis import given, strategies as st

from swiftwal.domain.gaps import find_gaps
from swiftwal.domain.prune import PrunePolicy, plan_prune
from swiftwal.domain.summary import prune_preview, render, summarise
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment, wal_order_key

from .strategies import archives, chained_archives

SIZE = DEFAULT_SEGMENT_SIZE


@attrs.frozen
class Listed:
    """What info reads of an archived file (as ``catalog.StoredWal``)."""

    wal_file: object
    size: int
    last_modified: Optional[datetime.datetime]


def listing(archive):
    """The archive's files, each stored a minute after the previous one."""
    ordered = sorted(archive.wal_files, key=wal_order_key)
    start = datetime.datetime(2013, 8, 28, tzinfo=datetime.timezone.utc)
    return [Listed(f, 1000 + i, start + datetime.timedelta(minutes=i))
            for i, f in enumerate(ordered)]


@given(st.dictionaries(st.integers(1, 6), st.sets(st.integers(0, 120), min_size=1, max_size=40),
                       max_size=4), st.integers(0, 120))
def test_each_timelines_gaps_and_segments_cover_its_range_exactly(numbers, start):
    segments = [Segment.from_number(tl, n, SIZE) for tl, ns in numbers.items() for n in ns]
    gaps = find_gaps(segments, start, SIZE)
    for timeline, present in numbers.items():
        kept = {n for n in present if n >= start}
        missing = []
        for gap in (g for g in gaps if g["timeline"] == timeline):
            first = Segment.parse(gap["first"], SIZE).number(SIZE)
            missing.extend(range(first, first + gap["count"]))
        assert len(missing) == len(set(missing)) and not set(missing) & kept
        assert set(missing) | kept == (set(range(min(kept), max(kept) + 1)) if kept else set())
    assert {g["timeline"] for g in gaps} <= set(numbers)


@given(archives(), st.integers(1, 4), st.integers(0, 3))
def test_the_prune_preview_is_the_plan_and_parts_the_backups(archive, keep, keep_wals):
    wal = listing(archive)
    policy = PrunePolicy(keep_backups=keep, keep_wals=keep_wals, now=archive.now)
    preview = prune_preview(list(archive.backups), wal, policy, archive.segment_size,
                            archive.known_histories)
    plan = plan_prune(archive.backups, archive.wal_files, policy,
                      histories=archive.known_histories, segment_size=archive.segment_size)
    assert preview["delete_backups"] == [str(b.key) for b in plan.backups_to_delete]
    assert preview["delete_wal_count"] == len(plan.delete_wal)
    assert sorted(preview["delete_backups"] + preview["keep_backups"]) == sorted(
        str(b.key) for b in archive.backups)
    assert preview["warnings"] == list(plan.warnings)


@given(archives(), st.booleans())
def test_the_report_counts_what_is_listed_and_renders_each_gap(archive, previewed):
    wal = listing(archive)
    backups = sorted(archive.backups, key=lambda b: b.key)
    report = summarise(backups, wal, archive.now, archive.segment_size,
                       archive.known_histories)
    report["store"] = "file:///archive"
    report["prune"] = (prune_preview(backups, wal, PrunePolicy(1, 0, now=archive.now),
                                     archive.segment_size, archive.known_histories)
                       if previewed and backups else None)
    assert json.loads(json.dumps(report)) == report
    assert report["backups"]["count"] == len(backups)
    assert report["wal"]["count"] == len(wal)
    assert report["wal"]["stored_bytes"] == sum(w.size for w in wal)
    segments = [w for w in wal if isinstance(w.wal_file, Segment)]
    assert report["wal"]["last_segment"] == (str(segments[-1].wal_file) if segments else None)
    lines = render(report)
    assert sum(line.startswith("GAP:") for line in lines) == len(report["gaps"])
    assert ("Gaps:           none" in lines) == (not report["gaps"])
    assert sum(line.startswith("Recoverable:") for line in lines) == len(
        report["recovery_window"])
    assert any(line.startswith("Next prune:") for line in lines) == (report["prune"] is not None)


@given(chained_archives())
def test_each_chain_is_reported_with_its_stored_size_and_shown_when_it_has_increments(archive):
    wal = listing(archive)
    backups = sorted(archive.backups, key=lambda b: b.key)
    report = summarise(backups, wal, archive.now, archive.segment_size,
                       archive.known_histories)
    report["store"], report["prune"] = "file:///archive", None
    chains = report["chains"]
    assert sorted(k for c in chains for k in c["backups"]) == sorted(str(b.key) for b in backups)
    assert sum(c["stored_bytes"] for c in chains) == sum(b.stored_size or 0 for b in backups)
    shown = [line for line in render(report) if line.startswith("Chain:")]
    assert len(shown) == sum(1 for c in chains if c["incremental"])
    broken = [c for c in chains if c["incremental"] and not c["complete"]]
    assert sum(line.endswith("(BROKEN: see verify)") for line in shown) == len(broken)
