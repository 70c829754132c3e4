"""A backup that a timeline left while it ran lies on that timeline's path only up to the
switch point: recovery from it along the new timeline switches before the backup is
consistent, and PostgreSQL stops ("online backup was canceled").  Restore, verify and
prune must all judge a backup by its whole range, start to stop."""
from __future__ import annotations

import datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from swiftwal.domain import errors
from swiftwal.domain.backup import BackupKey
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.prune import PrunePolicy, plan_prune
from swiftwal.domain.recovery import RecoveryTarget, check_reachable, choose_backup
from swiftwal.domain.timeline import HistoryEntry, TimelineHistory
from swiftwal.domain.walchain import latest_timeline
from swiftwal.domain.walnames import Segment

from .oracles import naive_on_path
from .strategies import archives, plain_backup

UTC = datetime.timezone.utc
SIZE = 16 * 1024 * 1024


def _newest_timeline(archive) -> int:
    return max([*archive.known_histories, *(b.timeline for b in archive.backups)])


@st.composite
def archives_and_targets(draw):
    archive = draw(archives())
    backups = sorted(archive.backups, key=lambda b: b.key)
    kind = draw(st.sampled_from(["time", "lsn", "end"]))
    if kind == "time":
        moment = draw(st.datetimes(min_value=datetime.datetime(2013, 8, 27),
                                   max_value=datetime.datetime(2013, 10, 1),
                                   timezones=st.just(UTC)))
        return archive, backups, RecoveryTarget.build(time=moment.isoformat())
    if kind == "lsn":
        lsn = Lsn(draw(st.integers(0, 26 * archive.segment_size)))
        return archive, backups, RecoveryTarget.build(lsn=str(lsn))
    return archive, backups, RecoveryTarget.build()


def _reaches(backup, target) -> bool:
    if target.kind == "time":
        return backup.finished_at <= target.value
    if target.kind == "lsn":
        return backup.stop_lsn <= target.value
    return True


@given(archives_and_targets())
def test_the_chosen_backup_is_the_newest_lying_wholly_on_the_target_path(case):
    archive, backups, target = case
    histories = archive.known_histories
    timeline = _newest_timeline(archive) if backups else None
    qualifying = [b for b in backups
                  if naive_on_path(b, timeline, histories) and _reaches(b, target)]
    if not qualifying:
        with pytest.raises(errors.InvalidInput):
            choose_backup(backups, target, histories)
        return
    chosen = choose_backup(backups, target, histories)
    assert chosen == qualifying[-1]
    history = histories.get(timeline)
    if history is not None:  # no switch on the way falls inside the backup
        for entry in history.entries:
            if entry.parent >= chosen.timeline:
                assert chosen.stop_lsn <= entry.switch_lsn


@given(archives(), st.data())
def test_a_backup_named_by_key_is_refused_exactly_when_it_is_off_the_path(archive, data):
    if not archive.backups:
        return
    backup = data.draw(st.sampled_from(archive.backups))
    histories = archive.known_histories
    timeline = max([*histories, backup.timeline])
    if naive_on_path(backup, timeline, histories):
        check_reachable(backup, RecoveryTarget.build(), histories)
    else:
        with pytest.raises(errors.InvalidInput) as info:
            check_reachable(backup, RecoveryTarget.build(), histories)
        assert "--target-timeline" in info.value.hint
        followable = int(info.value.hint.rsplit(" ", 1)[1])
        assert naive_on_path(backup, followable, histories)


@given(archives())
def test_verify_follows_the_newest_timeline_that_holds_the_whole_backup(archive):
    segments = [f for f in archive.wal_files if isinstance(f, Segment)]
    histories = archive.known_histories
    for backup in archive.backups:
        chosen = latest_timeline(backup, histories, segments)
        assert naive_on_path(backup, chosen, histories)
        later = {*histories, *(s.timeline for s in segments)}
        assert not [t for t in later if t > chosen and t in histories
                    and naive_on_path(backup, t, histories)]


@given(archives(), st.integers(1, 4))
def test_prune_keeps_the_newest_timeline_recoverable_or_says_none_can(archive, keep):
    policy = PrunePolicy(keep_backups=keep, keep_wals=0)
    plan = plan_prune(archive.backups, archive.wal_files, policy, archive.known_histories,
                      archive.segment_size)
    if not archive.backups:
        return
    latest = max([*archive.known_histories, *(b.timeline for b in archive.backups),
                  *(f.timeline for f in archive.wal_files if isinstance(f, Segment))])
    kept = [d.item for d in plan.keep_backups]
    if any(naive_on_path(b, latest, archive.known_histories) for b in archive.backups):
        assert any(naive_on_path(b, latest, archive.known_histories) for b in kept)
        assert not plan.warnings
    else:
        assert plan.warnings and f"timeline {latest}" in plan.warnings[0]


# --- the case found on a real server ---------------------------------------------------

def _straddle():
    """B1 on timeline 1; B2 ran from 0/3000028 to 0/5000100 while timeline 2 left timeline 1
    at 0/4000000 (a point-in-time restore from B1 to a transaction committed during B2)."""
    b1 = plain_backup(BackupKey.parse("20261201T000000Z"), 1, Lsn.parse("0/1000028"), SIZE)
    b2 = plain_backup(BackupKey.parse("20261201T010000Z"), 1, Lsn.parse("0/3000028"), SIZE)
    b2 = attrs.evolve(b2, stop_lsn=Lsn.parse("0/5000100"),
                      stop_segment=Segment.from_lsn(1, Lsn.parse("0/5000100"), SIZE))
    histories = {2: TimelineHistory(2, (HistoryEntry(1, Lsn.parse("0/4000000"), "xid"),))}
    return b1, b2, histories


def test_latest_skips_the_backup_that_straddles_the_switch():
    b1, b2, histories = _straddle()
    target = RecoveryTarget.build(lsn="0/6000000")
    assert choose_backup([b1, b2], target, histories) == b1
    with pytest.raises(errors.InvalidInput, match="while the backup ran"):
        check_reachable(b2, target, histories)
    assert latest_timeline(b2, histories, []) == 1
    assert latest_timeline(b1, histories, []) == 2


def test_a_backup_ending_exactly_at_the_switch_point_is_on_the_path():
    b1, b2, histories = _straddle()
    b2 = attrs.evolve(b2, stop_lsn=Lsn.parse("0/4000000"))
    assert choose_backup([b1, b2], RecoveryTarget.build(lsn="0/6000000"), histories) == b2


def test_prune_keep_one_keeps_the_backup_the_new_timeline_needs_and_its_wal():
    b1, b2, histories = _straddle()
    wal = [Segment.from_number(1, n, SIZE) for n in range(1, 6)] + \
        [Segment.from_number(2, n, SIZE) for n in range(4, 7)]
    plan = plan_prune([b1, b2], wal, PrunePolicy(keep_backups=1, keep_wals=0), histories)
    assert plan.backups_to_delete == ()
    reasons = {str(d.item.key): d.reason for d in plan.keep_backups}
    assert reasons["20261201T000000Z"] == ("the newest backup from which timeline 2 can be "
                                           "recovered")
    assert not [f for f in plan.wal_to_delete if f.timeline == 2]
    # once B1 is gone nothing can recover timeline 2, and the plan says so
    alone = plan_prune([b2], wal, PrunePolicy(keep_backups=1, keep_wals=0), histories)
    assert alone.warnings == ("no backup can recover timeline 2, the newest: take a backup",)
    assert "Warning: no backup can recover timeline 2" in "\n".join(alone.report_lines())
