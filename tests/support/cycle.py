"""Steps shared by the end-to-end tests: an archiving primary, a backup, a
restore into a new directory and recovery to a target, all through the real
``swiftwal`` command run as ``postgres``."""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from tests.support.swiftwal_cli import Store
from tests.support.pg_cluster import ARCHIVE_SETTINGS, PgCluster


def archiving_primary(pg_factory, store: Store, bin_dir=None) -> PgCluster:
    settings = {**ARCHIVE_SETTINGS, "archive_command": store.command("archive-wal", "%p"),
                "archive_timeout": 0}
    return pg_factory(settings=settings, bin_dir=bin_dir)


def incremental_primary(pg_factory, store: Store, bin_dir, **settings) -> PgCluster:
    """An archiving primary that summarizes its WAL, as incremental backups need."""
    return pg_factory(bin_dir=bin_dir, settings={
        **ARCHIVE_SETTINGS, "archive_command": store.command("archive-wal", "%p"),
        "archive_timeout": 0, "summarize_wal": "on", **settings})


def pg_env(cluster: PgCluster) -> dict:
    return {**cluster.env(), "SWIFTWAL_PG_BIN_DIR": str(cluster.bin_dir)}


def take_backup(store: Store, cluster: PgCluster, *extra: str) -> str:
    """Run ``swiftwal backup`` with the documented connection options; returns the new key."""
    before = set(backup_keys(store))
    store.run("backup", "-c", "fast", "-H", str(cluster.socket_dir), "-p", str(cluster.port),
              "-U", "postgres", *extra, env=pg_env(cluster))
    new = sorted(set(backup_keys(store)) - before)
    assert len(new) == 1, f"expected one new backup, found {new}"
    return new[0]


def backup_keys(store: Store) -> list[str]:
    return store.run("list-backups").stdout.split()


def flush_archive(cluster: PgCluster) -> str:
    """Switch WAL and wait until the segment holding everything so far is archived."""
    name = cluster.switch_wal()
    # The last archived file may be a later .backup file, named after its segment.
    query = "SELECT coalesce(substr(last_archived_wal, 1, 24), '') >= '%s' FROM pg_stat_archiver" % name
    cluster.wait_for(query, "t", timeout=120)
    return name


def restore_target(pg_factory, name: str) -> Path:
    """An absent directory in a parent the postgres user may write to."""
    parent = pg_factory.directory("restores")
    shutil.chown(parent, "postgres", "postgres")
    return parent / name


def restore_and_recover(store: Store, key: str, pg_factory, name: str, *, settings=None,
                        signal="recovery", bin_dir=None, wait_promoted=True) -> PgCluster:
    directory = restore_target(pg_factory, name)
    store.run("restore", key, str(directory))
    recovery = {"restore_command": store.command("restore-wal", "%f", "%p"),
                "recovery_target_action": "promote", **(settings or {})}
    cluster = pg_factory.adopt(directory, bin_dir=bin_dir, settings=recovery, signal=signal)
    cluster.start()
    if wait_promoted:
        cluster.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    return cluster


def rows(cluster: PgCluster, table: str = "t") -> list[int]:
    out = cluster.sql(f"SELECT coalesce(json_agg(i ORDER BY i), '[]') FROM {table}")
    return json.loads(out)


def insert(cluster: PgCluster, first: int, last: int, table: str = "t") -> None:
    cluster.sql(f"INSERT INTO {table} SELECT generate_series({first}, {last})")


def server_time(cluster: PgCluster) -> str:
    """A moment strictly after every commit so far (the clock moves on before we return)."""
    moment = cluster.sql("SELECT clock_timestamp()")
    time.sleep(0.05)
    return moment


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def segments_in(directory: str) -> set[str]:
    return {name for name in os.listdir(directory) if len(name) == 24}
