"""SIGKILL of swiftwal at several points of archive-wal, restore-wal and
restore, and a full disk on the restore target: nothing half-done ever looks
done, and everything can be done again afterwards.  (backup killed mid-upload:
test_verify_prune.py.)"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.integration.cycle import (archiving_primary, flush_archive, insert, pg_env,
                                     restore_and_recover, restore_target, rows, take_backup)
from tests.integration.faults import kill_when, spawn
from tests.integration.swiftwal_cli import _clean_env, make_store, postgres_dir
from tests.support.pg_cluster import make_reachable
from tests.support.tcp_proxy import TcpProxy

NOT_EMPTY = 7
HELD_BACK = ("PG_VERSION", os.path.join("global", "pg_control"))


def first_segment(pg_factory) -> str:
    """A real WAL segment of a new cluster, copied where postgres can read it."""
    cluster = pg_factory(start=False)
    name = sorted(n for n in os.listdir(cluster.data_dir / "pg_wal") if len(n) == 24)[0]
    copy = os.path.join(postgres_dir(pg_factory.directory("segment")), name)
    shutil.copy(cluster.data_dir / "pg_wal" / name, copy)
    shutil.chown(copy, "postgres", "postgres")
    return copy


@pytest.fixture
def proxy(swift):
    proxy = TcpProxy(swift.proxy_port)
    yield proxy
    proxy.close()


def stall_on(proxy, method: bytes, fragment: bytes):
    def trip(line: bytes):
        return "stall" if line.startswith(method) and fragment in line else None
    proxy.trip = trip
    return lambda: proxy.mode == "stall"


def test_killed_archive_wal_and_restore_wal_leave_nothing_half_done(swift, proxy, pg_factory, tmp_path,
                                                                    swiftwal_bin):
    store = make_store("swift", str(make_reachable(tmp_path / "store")), swiftwal_bin, swift,
                       {"OS_AUTH_URL": f"http://{proxy.url_host}/auth/v1.0"})
    segment = first_segment(pg_factory)
    name = os.path.basename(segment)

    # Killed while the WAL object's body is on the wire.
    stalled = stall_on(proxy, b"PUT", f"/wal/{name}".encode())
    assert kill_when(spawn(store, "archive-wal", segment), stalled, what="the WAL upload") != 0
    proxy.set_mode("pass")
    assert name not in store.run("list-wal").stdout.split()
    store.run("archive-wal", segment)
    assert name in store.run("list-wal").stdout.split()

    # Killed while the WAL object's body is coming back.
    directory = postgres_dir(pg_factory.directory("pg_wal"))
    stalled = stall_on(proxy, b"GET", f"/wal/{name}".encode())
    assert kill_when(spawn(store, "restore-wal", name, "RESTORED", cwd=directory), stalled,
                     what="the WAL download") != 0
    proxy.set_mode("pass")
    assert os.listdir(directory) == [], "a killed restore-wal left a file behind"
    store.run("restore-wal", name, "RESTORED", cwd=directory)
    with open(segment, "rb") as original, open(os.path.join(directory, "RESTORED"), "rb") as restored:
        assert original.read() == restored.read()
    assert [n for n in os.listdir(directory)] == ["RESTORED"]


@pytest.fixture
def local_store(tmp_path, swiftwal_bin):
    return make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)


def test_a_killed_or_disk_full_restore_leaves_a_directory_postgresql_refuses(local_store, pg_factory):
    store = local_store
    primary = archiving_primary(pg_factory, store)
    primary.pgbench_init(scale=2)
    primary.sql("CREATE TABLE t (i int)")
    key = take_backup(store, primary)
    insert(primary, 1, 10)
    flush_archive(primary)

    # Killed in the middle of unpacking.
    killed = restore_target(pg_factory, "killed")
    restore = spawn(store, "restore", key, str(killed))
    assert kill_when(restore, lambda: os.path.isdir(killed / "base"), what="files in the target") != 0
    assert os.listdir(killed), "the kill came too late to test anything"
    assert not any(os.path.exists(killed / held) for held in HELD_BACK)
    again = store.run("restore", key, str(killed), check=False)
    assert again.returncode == NOT_EMPTY and "not empty" in again.stderr

    # A file-size limit (as a full disk): EFBIG half way through.
    full = restore_target(pg_factory, "full")
    argv = ["runuser", "-u", "postgres", "--", "sh", "-c", 'ulimit -f 4096; exec "$@"', "sh",
            str(store.swiftwal_bin), f"--config={store.config_path}", "restore", key, str(full)]
    result = subprocess.run(argv, capture_output=True, text=True, cwd="/", env=_clean_env(), timeout=300)
    assert result.returncode not in (0, 70), result.stderr
    assert result.stderr.startswith("swiftwal: error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not any(os.path.exists(full / held) for held in HELD_BACK)

    # The backup itself is fine: a restore elsewhere recovers everything.
    assert store.run("verify", "--all", "--full").returncode == 0
    primary.stop()
    recovered = restore_and_recover(store, key, pg_factory, "good")
    assert rows(recovered) == list(range(1, 11))
