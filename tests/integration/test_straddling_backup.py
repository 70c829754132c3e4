"""A timeline that branched off while a backup ran (a point-in-time restore to a transaction
committed during that backup): the backup's start lies before the switch point and its stop
after it, so recovery from it along the new timeline cannot become consistent.  restore
latest must pick the older backup, restore by key must refuse the straddling one, and prune
must keep a backup from which the new timeline stays recoverable."""
from __future__ import annotations

import json

import pytest

from tests.support.cycle import (archiving_primary, flush_archive, insert, pg_env,
                                     restore_and_recover, restore_target, rows, server_time,
                                     take_backup, wait_until)
from tests.support.faults import spawn

pytestmark = pytest.mark.parametrize("store", ["local"], indirect=True)

#: A spread checkpoint paces its writes over checkpoint_completion_target of
#: checkpoint_timeout (30 s is the least PostgreSQL accepts): with a few thousand dirty
#: buffers the backup's start takes about 6 s, time enough to commit inside it.
SPREAD = {"checkpoint_timeout": "30s", "checkpoint_completion_target": 0.2}


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


def _record(store, key: str) -> dict:
    listing = json.loads(store.run("list-backups", "--json").stdout)
    return next(b for b in listing["backups"] if b["key"] == key)


def _backup_around_a_commit(store, primary) -> tuple[str, str, int]:
    """A backup with a spread checkpoint, and a transaction committed while it runs:
    (the backup's key, the transaction id, the LSN just after its commit)."""
    primary.sql("CREATE TABLE filler AS SELECT i, md5(i::text) AS m "
                "FROM generate_series(1, 200000) AS i")  # dirty buffers for the checkpoint
    before = set(store.run("list-backups").stdout.split())
    backup = spawn(store, "backup", "-c", "spread", "-H", str(primary.socket_dir),
                   "-p", str(primary.port), "-U", "postgres", env=pg_env(primary))
    try:
        wait_until(lambda: primary.sql("SELECT count(*) FROM pg_stat_progress_basebackup "
                                       "WHERE phase = 'waiting for checkpoint to finish'") == "1",
                   60, "the backup to wait for its checkpoint")
        xid = primary.sql("WITH added AS (INSERT INTO t SELECT generate_series(11, 20) "
                          "RETURNING 1) SELECT pg_current_xact_id() FROM added LIMIT 1")
        after_commit = _lsn(primary.sql("SELECT pg_current_wal_insert_lsn()"))
        out, err = backup.communicate(timeout=300)
    finally:
        if backup.poll() is None:
            backup.kill()
            backup.wait()
    assert backup.returncode == 0, f"backup failed: {out}\n{err}"
    (key,) = set(store.run("list-backups").stdout.split()) - before
    return key, xid, after_commit


def test_latest_restores_the_backup_from_which_the_new_timeline_is_recoverable(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.configure(SPREAD)
    primary.reload()
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    b1 = take_backup(store, primary)
    b2, xid, commit_end = _backup_around_a_commit(store, primary)
    record = _record(store, b2)
    assert _lsn(record["start_lsn"]) < commit_end < _lsn(record["stop_lsn"]), \
        f"the transaction did not commit inside backup {b2}: {record}"
    insert(primary, 21, 30)
    flush_archive(primary)
    primary.stop()

    # Timeline 2 switches right after the transaction: inside backup B2's range.
    branch = restore_and_recover(store, b1, pg_factory, "branch", settings={
        "recovery_target_xid": xid, "archive_mode": "on",
        "archive_command": store.command("archive-wal", "%p")})
    assert branch.sql("SELECT pg_walfile_name(pg_current_wal_lsn())").startswith("00000002")
    insert(branch, 100, 110)
    moment = server_time(branch)
    insert(branch, 111, 120)
    flush_archive(branch)
    branch.stop()

    # prune --keep-backups 1 keeps B2 (the newest) and B1 (timeline 2 needs it)
    pruned = json.loads(store.run("prune", "--keep-backups", "1", "--json").stdout)
    kept = {item["name"]: item["reason"] for item in pruned["backups"]["keep"]}
    assert set(kept) == {b1, b2}, pruned["backups"]
    assert "timeline 2" in kept[b1]
    assert not [w for w in pruned["wal"]["delete"] if w["name"].startswith("00000002")]

    refused = store.run("restore", b2, str(restore_target(pg_factory, "straddling")),
                        "--target-time", moment, check=False)
    assert refused.returncode == 2 and "while the backup ran" in refused.stderr, refused.stderr
    assert not restore_target(pg_factory, "straddling").exists()

    directory = restore_target(pg_factory, "at-time")
    chosen = store.run("restore", "latest", str(directory), "--target-time", moment,
                       "--target-action", "promote")
    assert f"Restored backup {b1}" in chosen.stdout
    restored = pg_factory.adopt(directory, signal=None)
    restored.start()
    restored.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    assert rows(restored) == list(range(1, 21)) + list(range(100, 111))
