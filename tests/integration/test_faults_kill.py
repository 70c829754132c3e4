"""SIGKILL of swiftwal at several points of archive-wal, restore-wal, backup
and restore, and a full disk on the restore target: nothing half-done ever
looks done, and everything can be done again afterwards.  (backup killed
mid-upload: test_verify_prune.py.)"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time

import pytest

from tests.support.cycle import (archiving_primary, backup_keys, flush_archive, insert, pg_env,
                                     restore_and_recover, restore_target, rows, server_time,
                                     take_backup)
from tests.support.faults import hidden_names, kill_when, spawn
from tests.support.swiftwal_cli import Store, _chown_postgres, _clean_env, make_store, postgres_dir
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


def test_a_backup_killed_between_its_data_and_its_record_is_never_taken_for_one(
        swift, proxy, pg_factory, tmp_path, swiftwal_bin):
    # The backup goes through the proxy, which holds the PUT of backup.json: the
    # data object (a large object of 1 MiB segments) is complete, the record not.
    through_proxy = make_store("swift", str(make_reachable(tmp_path / "store")), swiftwal_bin, swift,
                               {"OS_AUTH_URL": f"http://{proxy.url_host}/auth/v1.0",
                                "LARGE_OBJECT_SIZE": str(1 << 20)})
    direct = os.path.join(os.path.dirname(through_proxy.config_path), "direct.conf")
    with open(through_proxy.config_path) as source, open(direct, "w") as target:
        target.write(source.read().replace(f"http://{proxy.url_host}/auth/v1.0", swift.auth_url))
    os.chmod(direct, 0o600)
    _chown_postgres(direct)
    store = Store("swift", direct, through_proxy.location, swiftwal_bin)
    primary = archiving_primary(pg_factory, store)
    primary.pgbench_init(scale=1)
    primary.sql("CREATE TABLE t (i int)")
    kept = take_backup(store, primary)
    before = set(hidden_names(store, "backups/"))

    stalled = stall_on(proxy, b"PUT", b"/backup.json")
    backup = spawn(through_proxy, "backup", "-c", "fast", "-H", str(primary.socket_dir),
                   "-p", str(primary.port), "-U", "postgres", env=pg_env(primary))
    assert kill_when(backup, stalled, what="the PUT of backup.json") != 0
    proxy.set_mode("pass")
    left = sorted(set(hidden_names(store, "backups/")) - before)
    killed = {name.split("/")[-2] for name in left if name.startswith("backups/")}
    assert len(killed) == 1, left
    data = [n for n in left if n.startswith("backups/") and "/base." in n]
    assert data and any(n.startswith(".segments/") for n in left), left
    assert not any(n.endswith("/backup.json") for n in left)

    assert backup_keys(store) == [kept]
    verified = json.loads(store.run("verify", "--all", "--json").stdout)
    assert verified["ok"] and [b["key"] for b in verified["backups"]] == [kept]
    time.sleep(1.5)
    pruned = json.loads(store.run("prune", "--keep-backups", "2", "--interrupted-after", "0.0003",
                                  "--json").stdout)
    assert pruned["interrupted"]["delete"] == sorted(killed)
    assert set(hidden_names(store, "backups/")) == before

    # A new backup and a recovery to a time after it.
    fresh = take_backup(store, primary)
    insert(primary, 1, 10)
    moment = server_time(primary)
    insert(primary, 11, 20)
    flush_archive(primary)
    primary.stop()
    recovered = restore_and_recover(store, fresh, pg_factory, "after-kill",
                                    settings={"recovery_target_time": moment})
    assert rows(recovered) == list(range(1, 11))


def test_restore_wal_removes_the_temp_files_of_dead_processes_only(local_store, pg_factory, tmp_path):
    segment = first_segment(pg_factory)
    name = os.path.basename(segment)
    local_store.run("archive-wal", segment)
    directory = postgres_dir(tmp_path / "pg_wal")
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = os.path.join(directory, f".{name}.swiftwal-{finished.pid}")
    live = os.path.join(directory, f".{name}.swiftwal-{os.getpid()}")
    other = os.path.join(directory, ".not-ours.swiftwal-tmp")
    for path in (dead, live, other):
        with open(path, "wb") as handle:
            handle.write(b"partial")
    subprocess.run(["chown", "-R", "postgres:postgres", directory], check=True)
    local_store.run("restore-wal", name, name, cwd=directory)
    assert sorted(os.listdir(directory)) == sorted([name, os.path.basename(live), os.path.basename(other)])
