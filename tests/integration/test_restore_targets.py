"""One ``swiftwal restore`` with a target, then ``pg_ctl start``: the server holds
exactly the data at the target, from the backup the target lies after; ``--standby``
gives a standby that follows the archive.  Real PostgreSQL 15 and Swift."""
from __future__ import annotations

import pytest

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_target, rows,
                                     server_time, take_backup, wait_until)


pytestmark = pytest.mark.parametrize("store", ["swift"], indirect=True)


def restore_with(store, pg_factory, name, *options, key="latest", promoted=True, settings=None):
    """``swiftwal restore`` and start, nothing else (``settings``: server settings that
    are not recovery's); returns (cluster, backup key used)."""
    directory = restore_target(pg_factory, name)
    out = store.run("restore", key, str(directory), *options).stdout
    used = out.split("Restored backup ", 1)[1].split()[0]
    cluster = pg_factory.adopt(directory, settings=settings)  # recovery settings: swiftwal's
    cluster.start()
    if promoted:
        cluster.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    return cluster, used


def test_latest_picks_the_backup_each_target_lies_after(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    before_first = server_time(primary)
    insert(primary, 1, 10)
    first = take_backup(store, primary)
    insert(primary, 11, 20)
    at_20 = server_time(primary)
    lsn_20 = primary.sql("SELECT pg_current_wal_insert_lsn()")
    insert(primary, 21, 30)
    second = take_backup(store, primary)
    insert(primary, 31, 40)
    primary.sql("SELECT pg_create_restore_point('after_40')")
    at_40 = server_time(primary)
    insert(primary, 41, 50)
    flush_archive(primary)

    cluster, used = restore_with(store, pg_factory, "t20", "--target-time", at_20,
                                 "--target-action", "promote")
    assert (used, rows(cluster)) == (first, list(range(1, 21)))
    cluster.destroy()

    cluster, used = restore_with(store, pg_factory, "t40", "--target-time", at_40,
                                 "--target-action", "promote")
    assert (used, rows(cluster)) == (second, list(range(1, 41)))
    cluster.destroy()

    cluster, used = restore_with(store, pg_factory, "l20", "--target-lsn", lsn_20,
                                 "--target-action", "promote")
    assert (used, rows(cluster)) == (first, list(range(1, 21)))
    cluster.destroy()

    cluster, used = restore_with(store, pg_factory, "n40", "--target-name", "after_40",
                                 "--target-action", "promote")
    assert (used, rows(cluster)) == (second, list(range(1, 41)))
    cluster.destroy()

    early = store.run("restore", "latest", str(restore_target(pg_factory, "early")),
                      "--target-time", before_first, check=False)
    assert early.returncode == 2, early.stderr
    assert "no backup ended before the target" in early.stderr
    too_new = store.run("restore", second, str(restore_target(pg_factory, "too-new")),
                        "--target-time", at_20, check=False)
    assert too_new.returncode == 2 and f"backup {second} ended at" in too_new.stderr


def test_targets_after_a_timeline_switch(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 5)
    first = take_backup(store, primary)
    insert(primary, 6, 10)
    flush_archive(primary)
    primary.stop()

    # The end of the archive, then promotion: timeline 2, archiving into the same store.
    branch, used = restore_with(store, pg_factory, "branch", settings={
        "archive_mode": "on", "archive_command": store.command("archive-wal", "%p")})
    assert used == first
    assert branch.sql("SELECT pg_walfile_name(pg_current_wal_lsn())").startswith("00000002")
    insert(branch, 100, 110)
    at_110 = server_time(branch)
    insert(branch, 111, 120)
    second = take_backup(store, branch)
    insert(branch, 121, 130)
    at_130 = server_time(branch)
    insert(branch, 131, 140)
    flush_archive(branch)
    branch.destroy()

    cluster, used = restore_with(store, pg_factory, "t110", "--target-time", at_110,
                                 "--target-action", "promote")
    assert (used, rows(cluster)) == (first, list(range(1, 11)) + list(range(100, 111)))
    cluster.destroy()

    cluster, used = restore_with(store, pg_factory, "t130", "--target-time", at_130,
                                 "--target-action", "promote")
    assert (used, rows(cluster)) == (second, list(range(1, 11)) + list(range(100, 131)))


def test_standby_follows_the_archive(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    take_backup(store, primary)
    standby, _ = restore_with(store, pg_factory, "standby", "--standby", promoted=False)
    standby.wait_ready()
    for batch in range(2):
        insert(primary, 11 + batch * 10, 20 + batch * 10)
        flush_archive(primary)
        expected = str(20 + batch * 10)
        wait_until(lambda: standby.sql("SELECT count(*) FROM t") == expected, 120,
                   "the standby to replay")
    assert standby.sql("SELECT pg_is_in_recovery()") == "t"
    assert (standby.data_dir / "standby.signal").exists()
