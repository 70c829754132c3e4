"""Prune planning, checked against a naive oracle that simulates recovery."""
from __future__ import annotations

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swiftwal.domain.backup import BackupKey
from swiftwal.domain.errors import InvalidInput, InvalidPolicy
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.prune import PrunePolicy, plan_prune
from swiftwal.domain.timeline import HistoryEntry, TimelineHistory
from swiftwal.domain.walnames import (BackupHistoryFile, HistoryFile, PartialSegment, Segment,
                                      parse_wal_filename)

from .oracles import naive_on_path, path_of
from .strategies import archives, plain_backup


@st.composite
def policies(draw, now):
    return PrunePolicy(
        keep_backups=draw(st.integers(1, 4)), keep_wals=draw(st.integers(0, 6)),
        keep_newer_than=draw(st.none() | st.integers(0, 20).map(
            lambda d: datetime.timedelta(days=d))),
        now=now)


@st.composite
def archives_and_policies(draw):
    archive = draw(archives())
    return archive, draw(policies(archive.now))


# --- the naive oracle -------------------------------------------------------------------

def naive_latest_timeline(archive):
    return max([*archive.known_histories, *(b.timeline for b in archive.backups),
                *(f.timeline for f in archive.wal_files if isinstance(f, Segment))])


def naive_kept_backups(backups, policy, archive=None):
    by_age = sorted(backups, key=lambda b: (b.key, b.data_object))
    kept = by_age[len(by_age) - policy.keep_backups:] if policy.keep_backups < len(by_age) \
        else by_age
    latest = naive_latest_timeline(archive) if archive is not None else 1
    histories = archive.known_histories if archive is not None else {}
    if policy.recovery_window is not None:
        start = policy.now - policy.recovery_window
        inside = [b for b in by_age if b.key.time >= start]
        kept = kept + inside
        for timeline in {latest} | {b.timeline for b in inside}:
            path = [b for b in by_age if naive_on_path(b, timeline, histories)]
            ended = [n for n, b in enumerate(path) if b.finished_at <= start]
            kept = kept + path[ended[-1] if ended else 0:]
    if archive is not None:
        on_latest = [b for b in by_age if naive_on_path(b, latest, archive.known_histories)]
        if on_latest and not any(b in kept for b in on_latest):
            kept = kept + [on_latest[-1]]
    return kept


def naive_needed_positions(archive, kept):
    """Every (timeline, segment number) some recovery from a kept backup to some timeline
    reads, found by walking each possible recovery segment by segment."""
    size = archive.segment_size
    last = max([f.number(size) for f in archive.wal_files if isinstance(f, Segment)] +
               [f.segment.number(size) for f in archive.wal_files
                if isinstance(f, (PartialSegment, BackupHistoryFile))] + [0])
    needed = set()
    for backup in kept:
        start = backup.start_lsn.value
        for history in archive.histories.values():  # the true histories, all of them
            path = path_of(history)
            holder, end = next((tl, end) for tl, begin, end in path
                               if begin <= start and (end is None or start < end))
            if holder != backup.timeline or (end is not None and backup.stop_lsn.value > end):
                continue  # this timeline left before the backup ended
            for number in range(start // size, last + 1):
                reader = next(tl for tl, begin, _ in reversed(path) if begin // size <= number)
                needed.add((reader, number))
    return needed


def position(wal_file, size):
    segment = wal_file if isinstance(wal_file, Segment) else wal_file.segment
    return segment.timeline, segment.number(size)


# --- properties --------------------------------------------------------------------------

@given(archives_and_policies())
def test_prune_never_deletes_one_of_the_newest_keep_backups(case):
    archive, policy = case
    plan = plan_prune(archive.backups, archive.wal_files, policy, archive.known_histories,
                      archive.segment_size)
    newest = sorted(archive.backups, key=lambda b: b.key)[-policy.keep_backups:]
    deleted = [d.item for d in plan.delete_backups]
    assert not any(b in deleted for b in newest)
    assert sorted(plan.backups_to_delete + tuple(d.item for d in plan.keep_backups),
                  key=lambda b: b.key) == sorted(archive.backups, key=lambda b: b.key)
    assert {d.item for d in plan.keep_backups} == set(naive_kept_backups(archive.backups, policy, archive))
    if archive.backups:
        assert plan.keep_backups


@given(archives_and_policies())
def test_prune_never_deletes_wal_needed_for_pitr_from_a_kept_backup(case):
    archive, policy = case
    size = archive.segment_size
    plan = plan_prune(archive.backups, archive.wal_files, policy, archive.known_histories, size)
    needed = naive_needed_positions(archive, naive_kept_backups(archive.backups, policy, archive))
    for decision in plan.delete_wal:
        assert position(decision.item, size) not in needed, decision
    if archive.known_histories == archive.histories and archive.backups:
        limit = min(b.start_segment.number(size)
                    for b in naive_kept_backups(archive.backups, policy, archive))
        kept_after = {position(d.item, size) for d in plan.keep_wal
                      if isinstance(d.item, Segment) and d.item.number(size) >= limit}
        present_needed = {position(f, size) for f in archive.wal_files
                          if isinstance(f, Segment)} & needed
        assert kept_after == present_needed  # and nothing else after the oldest start


@given(archives_and_policies())
def test_prune_keeps_exactly_keep_wals_segments_before_the_oldest_kept_backup(case):
    archive, policy = case
    size = archive.segment_size
    plan = plan_prune(archive.backups, archive.wal_files, policy, archive.known_histories, size)
    if not archive.backups:
        return
    limit = min(b.start_segment.number(size)
                for b in naive_kept_backups(archive.backups, policy, archive))
    kept = {d.item for d in plan.keep_wal}
    before = sorted((f.number(size), f.timeline, f) for f in archive.wal_files
                    if isinstance(f, Segment) and f.number(size) < limit)
    kept_before = [entry for entry in before if entry[2] in kept]
    assert len(kept_before) == min(policy.keep_wals, len(before))
    assert kept_before == before[len(before) - len(kept_before):]  # the newest ones


@given(archives_and_policies())
def test_prune_never_deletes_history_and_companions_follow_their_segment(case):
    archive, policy = case
    size = archive.segment_size
    plan = plan_prune(archive.backups, archive.wal_files, policy, archive.known_histories, size)
    kept = {d.item for d in plan.keep_wal}
    deleted = {d.item for d in plan.delete_wal}
    assert kept | deleted == set(archive.wal_files) and not kept & deleted
    assert all(f in kept for f in archive.wal_files if isinstance(f, HistoryFile))
    for f in archive.wal_files:
        if isinstance(f, (PartialSegment, BackupHistoryFile)) and f.segment in kept | deleted:
            assert (f in kept) == (f.segment in kept)
    if not archive.backups:
        assert not deleted


@given(archives_and_policies())
def test_prune_is_idempotent(case):
    archive, policy = case
    args = (policy, archive.known_histories, archive.segment_size)
    plan = plan_prune(archive.backups, archive.wal_files, *args)
    left_backups = [b for b in archive.backups if b not in plan.backups_to_delete]
    left_wal = [f for f in archive.wal_files if f not in plan.wal_to_delete]
    again = plan_prune(left_backups, left_wal, *args)
    assert again.delete_backups == () and again.delete_wal == ()
    assert again.keep_backups == plan.keep_backups


@given(archives_and_policies(), st.randoms(use_true_random=False))
def test_prune_is_deterministic(case, rnd):
    archive, policy = case
    args = (policy, archive.known_histories, archive.segment_size)
    backups, wal_files = list(archive.backups), list(archive.wal_files)
    rnd.shuffle(backups)
    rnd.shuffle(wal_files)
    assert plan_prune(backups, wal_files, *args) == plan_prune(archive.backups,
                                                               archive.wal_files, *args)


# --- examples ----------------------------------------------------------------------------

def _backup(key, start, timeline=1):
    return plain_backup(BackupKey.parse(key), timeline, Lsn.parse(start), 16 * 1024 * 1024)


def test_report_matches_the_documented_example():
    backups = [_backup("20130828T1524Z", "0/56000028"), _backup("20130828T1528Z", "0/58000028"),
               _backup("20130828T1700Z", "0/60000028"), _backup("20130828T1904Z", "0/63000028")]
    wal = [Segment(1, 0, n) for n in range(0x56, 0x65)]
    plan = plan_prune(backups, wal, PrunePolicy(keep_backups=3, keep_wals=0))
    assert plan.report_lines() == [
        "Removing    1 backups,   20130828T1524Z -> 20130828T1524Z",
        "Keeping     3 backups,   20130828T1528Z -> 20130828T1904Z",
        "",
        "Removing    2 WAL files, 000000010000000000000056 -> 000000010000000000000057",
        "Keeping    13 WAL files, 000000010000000000000058 -> 000000010000000000000064",
    ]
    verbose = plan.report_lines(verbose=True)
    assert "    20130828T1524Z: older than the newest 3 backups" in verbose
    assert ("    000000010000000000000058: needed to recover from backup 20130828T1528Z"
            in verbose)
    nothing = plan_prune(backups[-1:], [], PrunePolicy(keep_backups=3, keep_wals=0))
    assert nothing.report_lines() == [
        "Removing    0 backups", "Keeping     1 backups,   20130828T1904Z -> 20130828T1904Z", "",
        "Removing    0 WAL files", "Keeping     0 WAL files"]
    keep_two = plan_prune(backups, wal, PrunePolicy(keep_backups=3, keep_wals=1))
    assert [str(f) for f in keep_two.wal_to_delete] == ["000000010000000000000056"]


def test_keep_wals_zero_deletes_what_no_backup_needs():
    # swiftwal 0.2.2 deleted nothing with --keep-wals 0
    backups = [_backup("20130828T1528Z", "0/58000028")]
    wal = [Segment(1, 0, n) for n in range(0x50, 0x59)]
    plan = plan_prune(backups, wal, PrunePolicy(keep_backups=1, keep_wals=0))
    assert len(plan.delete_wal) == 8


def test_abandoned_branch_goes_and_history_files_stay():
    history = TimelineHistory(2, (HistoryEntry(1, Lsn.parse("0/54000100"), "r"),))
    backups = [_backup("20130828T1528Z", "0/58000028", timeline=2)]
    wal = [parse_wal_filename(n) for n in [
        "000000010000000000000053", "000000010000000000000054", "000000010000000000000058",
        "000000010000000000000054.partial", "000000020000000000000054",
        "000000020000000000000058", "00000002.history"]]
    plan = plan_prune(backups, wal, PrunePolicy(keep_backups=1, keep_wals=0), {2: history})
    assert [str(f) for f in plan.wal_to_delete] == [
        "000000010000000000000053", "000000010000000000000054",
        "000000010000000000000054.partial", "000000020000000000000054",
        "000000010000000000000058"]
    assert "not on the recovery path" in plan.delete_wal[-1].reason


def test_time_based_policy_keeps_recent_backups():
    now = datetime.datetime(2013, 9, 10, tzinfo=datetime.timezone.utc)
    backups = [_backup(f"201309{day:02d}T0000Z", f"0/{day:X}000028") for day in range(1, 10)]
    policy = PrunePolicy(keep_backups=1, keep_wals=0,
                         keep_newer_than=datetime.timedelta(days=3), now=now)
    plan = plan_prune(backups, [], policy)
    assert [str(d.item.key) for d in plan.keep_backups] == [
        "20130907T0000Z", "20130908T0000Z", "20130909T0000Z"]


@pytest.mark.parametrize("kwargs", [
    dict(keep_backups=0, keep_wals=0), dict(keep_backups=-1, keep_wals=0),
    dict(keep_backups=1, keep_wals=-1), dict(keep_backups=True, keep_wals=0),
    dict(keep_backups=1, keep_wals=0, keep_newer_than=datetime.timedelta(days=1)),
    dict(keep_backups=1, keep_wals=0, keep_newer_than=datetime.timedelta(days=-1),
         now=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)),
    dict(keep_backups=1, keep_wals=0, now=datetime.datetime(2020, 1, 1)),
])
def test_invalid_policy_is_rejected(kwargs):
    with pytest.raises(InvalidPolicy) as info:
        PrunePolicy(**kwargs)
    assert isinstance(info.value, InvalidInput)


def test_zero_keep_backups_names_the_value():
    with pytest.raises(InvalidPolicy) as info:
        PrunePolicy(keep_backups=0, keep_wals=0)
    assert "keep-backups 0" in str(info.value)


def test_backups_of_another_segment_size_are_refused():
    with pytest.raises(InvalidInput):
        plan_prune([_backup("20130828T1528Z", "0/58000028")], [],
                   PrunePolicy(keep_backups=1, keep_wals=0), segment_size=64 * 1024 * 1024)
