"""A base backup taken from a hot standby fed by streaming replication, the
primary archiving through swiftwal: recorded as taken on a standby and from
which timeline, accepted by the cluster-identity guard, and a point in time
after it recovers to exactly the rows of that time (PostgreSQL 15 and 17)."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_and_recover,
                                 rows, server_time, take_backup)
from tests.support.pg_cluster import RUNUSER, bin_dir_for


def streaming_standby(pg_factory, primary, bin_dir):
    """pg_basebackup -R from the primary: a hot standby that streams from it."""
    parent = pg_factory.directory("standby")
    shutil.chown(parent, "postgres", "postgres")
    data = parent / "data"
    subprocess.run([*RUNUSER, str(bin_dir / "pg_basebackup"), "-D", str(data), "-R",
                    "-X", "stream", "-c", "fast", "-h", str(primary.socket_dir),
                    "-p", str(primary.port), "-U", "postgres"], check=True, cwd="/",
                   capture_output=True)
    standby = pg_factory.adopt(data, bin_dir=bin_dir, settings={"hot_standby": "on"})
    standby.start()
    standby.wait_ready()
    primary.wait_for("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'", "1",
                     timeout=60)
    return standby


def caught_up(primary, standby) -> None:
    lsn = primary.sql("SELECT pg_current_wal_lsn()")
    standby.wait_for(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'", "t", timeout=60)


@pytest.mark.parametrize("version", [15, 17])
def test_a_backup_from_a_streaming_standby_recovers_to_a_later_time(store, pg_factory, version):
    bin_dir = bin_dir_for(version)
    primary = archiving_primary(pg_factory, store, bin_dir=bin_dir)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 100)
    standby = streaming_standby(pg_factory, primary, bin_dir)
    primary.sql("CHECKPOINT")  # a restartpoint for the standby's backup to start from
    caught_up(primary, standby)

    key = take_backup(store, standby, "--xlog")
    record = json.loads(store.run("list-backups", "--json").stdout)["backups"][0]
    assert record["backup_from"] == "standby"
    assert record["timeline"] == 1 and record["pg_version"] == str(version)
    assert record["system_identifier"] == primary.sql(
        "SELECT system_identifier FROM pg_control_system()")

    insert(primary, 101, 200)
    moment = server_time(primary)
    insert(primary, 201, 300)
    flush_archive(primary)
    standby.stop()
    primary.stop()

    restored = restore_and_recover(store, key, pg_factory, "from-standby", bin_dir=bin_dir,
                                   settings={"recovery_target_time": moment,
                                             "recovery_target_timeline": "current"})
    assert rows(restored) == list(range(1, 201))
