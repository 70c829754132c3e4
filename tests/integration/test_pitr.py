"""The documented job end to end, against real PostgreSQL 15 and both stores:
archive under load, back up, restore, recover to a time, a restore point and
the end of the archive; timelines; a standby fed by restore-wal; prune."""
from __future__ import annotations

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_and_recover,
                                     rows, server_time, take_backup, wait_until)


def test_every_segment_archived_under_pgbench_reaches_the_store(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.pgbench_init(scale=2)
    primary.pgbench(seconds=4)
    last = flush_archive(primary)
    done = {f.name[:-len(".done")] for f in (primary.data_dir / "pg_wal" / "archive_status").iterdir()
            if f.name.endswith(".done")}
    listed = set(store.run("list-wal").stdout.split())
    assert last in listed
    assert done <= listed, f"archived by PostgreSQL but not in the store: {sorted(done - listed)}"
    archived = int(primary.sql("SELECT archived_count FROM pg_stat_archiver"))
    assert len([n for n in listed if len(n) == 24]) >= archived >= 2
    assert primary.sql("SELECT failed_count FROM pg_stat_archiver") == "0"


def test_recovery_to_a_time_a_restore_point_and_the_end_of_the_archive(store, pg_factory, tmp_path):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    key = take_backup(store, primary)
    insert(primary, 11, 20)
    after_20 = server_time(primary)
    insert(primary, 21, 30)
    primary.sql("SELECT pg_create_restore_point('before_31')")
    insert(primary, 31, 40)
    flush_archive(primary)

    at_time = restore_and_recover(store, key, pg_factory, "r-time",
                                  settings={"recovery_target_time": after_20})
    assert rows(at_time) == list(range(1, 21))
    at_time.destroy()

    at_name = restore_and_recover(store, key, pg_factory, "r-name",
                                  settings={"recovery_target_name": "before_31"})
    assert rows(at_name) == list(range(1, 31))
    at_name.destroy()

    at_end = restore_and_recover(store, "latest", pg_factory, "r-end")
    assert rows(at_end) == list(range(1, 41))


def test_recovery_follows_the_latest_timeline(store, pg_factory, tmp_path):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 5)
    key = take_backup(store, primary)
    insert(primary, 6, 10)
    flush_archive(primary)
    primary.stop()

    # A restored copy is promoted (timeline 2) and archives into the same store.
    branch = restore_and_recover(store, key, pg_factory, "branch", settings={
        "archive_mode": "on", "archive_command": store.command("archive-wal", "%p")})
    assert branch.sql("SELECT pg_walfile_name(pg_current_wal_lsn())").startswith("00000002")
    insert(branch, 100, 110)
    flush_archive(branch)
    assert "00000002.history" in store.run("list-wal").stdout.split()
    branch.destroy()

    again = restore_and_recover(store, key, pg_factory, "again",
                                settings={"recovery_target_timeline": "latest"})
    assert rows(again) == list(range(1, 11)) + list(range(100, 111))
    assert again.sql("SELECT pg_walfile_name(pg_current_wal_lsn())")[:8] > "00000002"


def test_standby_fed_by_restore_wal_follows_and_cleans_the_archive(store, pg_factory, tmp_path):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    key = take_backup(store, primary, "--xlog")
    standby = restore_and_recover(store, key, pg_factory, "standby", signal="standby", wait_promoted=False,
                                  settings={"archive_cleanup_command": store.command("archive-cleanup", "%r"),
                                            "hot_standby": "on"})
    standby.wait_ready()
    before = set(store.run("list-wal").stdout.split())
    for batch in range(4):
        insert(primary, batch * 10 + 1, batch * 10 + 10)
        primary.sql("CHECKPOINT")
        flush_archive(primary)
    wait_until(lambda: standby.sql("SELECT count(*) FROM t") == "40", 120, "the standby to replay")
    assert standby.sql("SELECT pg_is_in_recovery()") == "t"
    standby.sql("CHECKPOINT")  # a restartpoint runs archive_cleanup_command
    oldest_before = min(n for n in before if len(n) == 24)

    def cleaned() -> bool:
        return oldest_before not in store.run("list-wal").stdout.split()
    wait_until(cleaned, 60, "archive-cleanup to remove old segments")
    remaining = [n for n in store.run("list-wal").stdout.split() if len(n) == 24]
    assert remaining, "cleanup must keep the segments the standby still needs"
    assert "00000001.history" not in remaining


def test_prune_keeps_pitr_possible_from_every_kept_backup(store, pg_factory, tmp_path):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    keys = []
    for number in range(3):
        insert(primary, number * 10 + 1, number * 10 + 10)
        keys.append(take_backup(store, primary))
        flush_archive(primary)
    insert(primary, 31, 40)
    flush_archive(primary)
    wal_before = [n for n in store.run("list-wal").stdout.split() if len(n) == 24]

    dry = store.run("prune", "--keep-backups", "2", "--keep-wals", "0", "--dry-run")
    assert "Removing    1 backups" in dry.stdout
    assert store.run("list-backups").stdout.split() == keys
    report = store.run("prune", "--keep-backups", "2", "--keep-wals", "0")
    assert report.stdout == dry.stdout
    assert store.run("list-backups").stdout.split() == keys[1:]
    wal_after = [n for n in store.run("list-wal").stdout.split() if len(n) == 24]
    assert len(wal_after) < len(wal_before)
    again = store.run("prune", "--keep-backups", "2", "--keep-wals", "0")
    assert "Removing    0 backups" in again.stdout and "Removing    0 WAL files" in again.stdout

    oldest_kept = restore_and_recover(store, keys[1], pg_factory, "oldest")
    assert rows(oldest_kept) == list(range(1, 41))
