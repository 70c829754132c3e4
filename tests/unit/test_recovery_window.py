"""The recovery window of prune: any point in time of the last D days that the archive
could recover to before a prune, it can still recover to after it.  Checked against an
oracle that simulates recovery instant by instant, on archives whose WAL positions carry
times (the one thing the planner is never told)."""
from __future__ import annotations

import datetime
from typing import Dict, List, Tuple

import attrs
from hypothesis import given
from hypothesis import strategies as st

from swiftwal.domain.backup import BackupKey, BackupRecord
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.prune import PrunePolicy, plan_prune
from swiftwal.domain.timeline import HistoryEntry, TimelineHistory
from swiftwal.domain.walnames import Segment

from .oracles import naive_on_path, path_of

UTC = datetime.timezone.utc
SIZE = 16 * 1024 * 1024
BASE = datetime.datetime(2026, 1, 1, tzinfo=UTC)
STEP = datetime.timedelta(minutes=30)  # one segment of WAL every half hour


def moment(number: int) -> datetime.datetime:
    """When WAL position (segment) ``number`` was written, on whichever timeline."""
    return BASE + number * STEP


@attrs.frozen
class TimedArchive:
    histories: Dict[int, TimelineHistory]
    segments: Tuple[Segment, ...]
    backups: Tuple[BackupRecord, ...]
    latest: int
    last_number: int  # the newest archived position on the newest timeline's path
    now: datetime.datetime


def _backup(timeline: int, start: int, length: int, offset: int) -> BackupRecord:
    start_lsn = Lsn(start * SIZE + 40)
    stop_lsn = Lsn((start + length) * SIZE + offset)
    began = moment(start) + datetime.timedelta(seconds=1)
    return BackupRecord(
        key=BackupKey.from_datetime(began), label="", start_lsn=start_lsn, stop_lsn=stop_lsn,
        timeline=timeline, start_segment=Segment.from_number(timeline, start, SIZE),
        stop_segment=Segment.from_lsn(timeline, stop_lsn, SIZE), pg_version="15.4",
        system_identifier="1", segment_size=SIZE, raw_size=1, stored_size=1,
        data_object=f"backups/{BackupKey.from_datetime(began)}/base.tar.zst",
        compression="zstd", sha256=None, wal_included=False,
        finished_at=moment(start + length) + datetime.timedelta(minutes=1))


@st.composite
def timed_archives(draw) -> TimedArchive:
    """Timeline 1 from position 0, sometimes a timeline 2 that branched off at a switch
    point (a point-in-time restore), segments with a few gaps, backups on both."""
    last1 = draw(st.integers(4, 40))
    histories: Dict[int, TimelineHistory] = {1: TimelineHistory.root()}
    segments = {Segment.from_number(1, n, SIZE) for n in range(last1 + 1)}
    latest, switch = 1, None
    if draw(st.booleans()):
        switch = draw(st.integers(1, last1 * SIZE))
        histories[2] = TimelineHistory(2, (HistoryEntry(1, Lsn(switch), "pitr"),))
        last2 = draw(st.integers(switch // SIZE, switch // SIZE + 30))
        segments |= {Segment.from_number(2, n, SIZE) for n in range(switch // SIZE, last2 + 1)}
        latest = 2
    for hole in draw(st.lists(st.sampled_from(sorted(segments)), max_size=2)):
        segments.discard(hole)
    backups = {}
    for _ in range(draw(st.integers(0, 7))):
        timeline = draw(st.sampled_from(sorted(histories)))
        low = 0 if timeline == 1 else switch // SIZE + 1
        top = max(s.number(SIZE) for s in segments if s.timeline == timeline) \
            if any(s.timeline == timeline for s in segments) else low
        if top < low:
            continue
        start = draw(st.integers(low, top))
        backup = _backup(timeline, start, draw(st.integers(0, 3)),
                         draw(st.integers(100, SIZE - 1)))
        backups[backup.key] = backup
    on_path = [s.number(SIZE) for s in segments
               if s.timeline == _reader(histories[latest], s.number(SIZE))]
    last_number = max(on_path) if on_path else 0
    now = moment(last_number) + datetime.timedelta(minutes=draw(st.integers(0, 600)))
    return TimedArchive(histories, tuple(sorted(segments)),
                        tuple(sorted(backups.values(), key=lambda b: b.key)), latest,
                        last_number, now)


def _reader(history: TimelineHistory, number: int) -> int:
    """The timeline recovery along ``history`` reads position ``number`` from."""
    return next(tl for tl, begin, _ in reversed(path_of(history)) if begin // SIZE <= number)


def recoverable(instant_number: int, instant: datetime.datetime, archive: TimedArchive,
                backups, segments) -> bool:
    """Recovery along the newest timeline to ``instant`` (within position
    ``instant_number``) works from some backup: it ended by then and every segment
    from its start to that position is there."""
    history = archive.histories[archive.latest]
    present = set(segments)
    for backup in backups:
        if not naive_on_path(backup, archive.latest, archive.histories):
            continue
        if backup.finished_at > instant:
            continue
        numbers = range(backup.start_segment.number(SIZE), instant_number + 1)
        if all(Segment.from_number(_reader(history, n), n, SIZE) in present for n in numbers):
            return True
    return False


def instants(archive: TimedArchive, start: datetime.datetime
             ) -> List[Tuple[int, datetime.datetime]]:
    """Every instant of the window that the archive covers, one per WAL position (the
    latest moment inside it) and the window's own start."""
    found = []
    for number in range(archive.last_number + 1):
        end = moment(number + 1) - datetime.timedelta(seconds=1)
        if end >= start:
            found.append((number, end))
        if moment(number) <= start <= end:
            found.append((number, start))
    return found


@given(timed_archives(), st.integers(1, 3), st.integers(0, 40))
def test_every_point_of_the_window_recoverable_before_stays_recoverable(archive, keep, hours):
    window = datetime.timedelta(hours=hours)
    policy = PrunePolicy(keep_backups=keep, keep_wals=0, recovery_window=window, now=archive.now)
    plan = plan_prune(archive.backups, archive.segments, policy, archive.histories, SIZE)
    kept_backups = [d.item for d in plan.keep_backups]
    kept_segments = [d.item for d in plan.keep_wal]
    for number, instant in instants(archive, archive.now - window):
        if recoverable(number, instant, archive, archive.backups, archive.segments):
            assert recoverable(number, instant, archive, kept_backups, kept_segments), \
                (number, instant, plan.report_lines(verbose=True))


@given(timed_archives(), st.integers(1, 3), st.integers(0, 40))
def test_the_window_only_ever_keeps_more_than_the_count_alone(archive, keep, hours):
    by_count = plan_prune(archive.backups, archive.segments,
                          PrunePolicy(keep_backups=keep, keep_wals=0), archive.histories, SIZE)
    with_window = plan_prune(archive.backups, archive.segments, PrunePolicy(
        keep_backups=keep, keep_wals=0, recovery_window=datetime.timedelta(hours=hours),
        now=archive.now), archive.histories, SIZE)
    assert set(with_window.backups_to_delete) <= set(by_count.backups_to_delete)
    assert set(with_window.wal_to_delete) <= set(by_count.wal_to_delete)


@given(timed_archives(), st.integers(1, 3))
def test_an_empty_window_keeps_what_the_count_keeps(archive, keep):
    """A window of zero length starting after every backup ended adds nothing."""
    later = archive.now + datetime.timedelta(days=1)
    by_count = plan_prune(archive.backups, archive.segments,
                          PrunePolicy(keep_backups=keep, keep_wals=0), archive.histories, SIZE)
    empty = plan_prune(archive.backups, archive.segments, PrunePolicy(
        keep_backups=keep, keep_wals=0, recovery_window=datetime.timedelta(0), now=later),
        archive.histories, SIZE)
    assert set(empty.backups_to_delete) == set(by_count.backups_to_delete)
    assert set(empty.wal_to_delete) == set(by_count.wal_to_delete)


def test_the_backup_that_ended_before_the_window_is_kept_with_its_wal():
    """prune --keep-backups 1 --keep-days 1, backups two days and one hour old: a point
    18 hours ago needs the older one."""
    now = moment(100)
    old = _backup(1, 2, 1, 500)            # ended about two days before now
    new = _backup(1, 98, 1, 500)           # ended about an hour before now
    segments = [Segment.from_number(1, n, SIZE) for n in range(101)]
    plan = plan_prune([old, new], segments, PrunePolicy(
        keep_backups=1, keep_wals=0, recovery_window=datetime.timedelta(days=1), now=now))
    assert plan.backups_to_delete == ()
    assert [d.reason for d in plan.keep_backups][0].startswith(
        "the newest backup on timeline 1's path that ended before the recovery window")
    assert [str(f) for f in plan.wal_to_delete] == [str(segments[0]), str(segments[1])]
    old_name = PrunePolicy(keep_backups=1, keep_wals=0,
                           keep_newer_than=datetime.timedelta(days=1), now=now)
    assert old_name.recovery_window == datetime.timedelta(days=1)
    assert plan_prune([old, new], segments, old_name, {}, SIZE) == plan


# --- what info reports: the window the archive can recover to now --------------------

def _naive_window(archive: TimedArchive):
    """(earliest end, last position) over the backups recovery along the newest timeline
    can start from, walking the path segment by segment."""
    history = archive.histories[archive.latest]
    present = set(archive.segments)
    ends, lasts = [], []
    for backup in archive.backups:
        if not naive_on_path(backup, archive.latest, archive.histories):
            continue
        number = backup.start_segment.number(SIZE)
        while Segment.from_number(_reader(history, number), number, SIZE) in present:
            number += 1
        if number - 1 >= backup.stop_segment.number(SIZE):
            ends.append(backup.finished_at)
            lasts.append(number - 1)
    return (min(ends), max(lasts)) if ends else None


@given(timed_archives())
def test_the_reported_window_is_what_recovery_can_reach(archive):
    from swiftwal.domain.recoverable import recoverable_windows

    stored = {s: moment(s.number(SIZE) + 1) for s in archive.segments}
    windows = {w.timeline: w for w in recoverable_windows(archive.backups, stored,
                                                          archive.histories, SIZE)}
    assert set(windows) == set(archive.histories)
    window = windows[archive.latest]
    expected = _naive_window(archive)
    if expected is None:
        assert window.earliest is None and window.latest is None
        return
    earliest, last = expected
    assert window.earliest == earliest
    assert window.latest_segment.number(SIZE) == last
    assert window.latest == moment(last + 1)
