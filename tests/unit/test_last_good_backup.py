"""prune's last check: it never deletes the last backup that verifies while
keeping only backups that would not restore (``domain.last_good_backup``)."""
from __future__ import annotations

import datetime

from hypothesis import given, strategies as st

from swiftwal.domain.backup import BackupKey
from swiftwal.domain.errors import InvariantViolated
from swiftwal.domain.last_good_backup import losing_the_last_good_backup
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.verification import BackupReport
from tests.unit.strategies import plain_backup

BASE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
SIZE = 16 * 1024 * 1024


def backup(minute: int):
    key = BackupKey.from_datetime(BASE + datetime.timedelta(minutes=minute))
    return plain_backup(key, 1, Lsn(minute * SIZE + 40), SIZE)


def report(record, ok: bool) -> BackupReport:
    return BackupReport(str(record.key), () if ok else ("gap",), 1, None, None, 0, False)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.booleans()), min_size=1, max_size=8,
                unique_by=lambda t: t[0]), st.data())
def test_refused_exactly_when_only_a_deleted_backup_verifies(backups, data):
    backups.sort()
    records = [(backup(minute), ok) for minute, ok in backups]
    kept_count = data.draw(st.integers(1, len(records)))
    doomed, kept = records[:-kept_count], records[-kept_count:]
    reports = [report(r, ok) for r, ok in records]
    refusal = losing_the_last_good_backup([r for r, _ in kept], [r for r, _ in doomed], reports)
    good_doomed = [r for r, ok in doomed if ok]
    assert (refusal is not None) == (not any(ok for _, ok in kept) and bool(good_doomed))
    if refusal is not None:
        assert isinstance(refusal, InvariantViolated) and refusal.hint
        assert f"delete {good_doomed[-1].key}," in refusal.message
        assert all(str(r.key) in refusal.message for r, _ in kept)
