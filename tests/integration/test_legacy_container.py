"""A container written in the swiftwal 0.2.2 layout, object by object, from a real
PostgreSQL (gzip'd ``wal_<NAME>.gz``, ``pg_basebackup_<KEY>.tgz`` as a Dynamic Large
Object, ``backup_label_<KEY>.txt``, an interrupted upload's marker), then upgraded in
place: the new swiftwal archives and backs up into it, lists, verifies, fetches, restores by PITR
across both layouts and prunes the old backup with its segments."""
from __future__ import annotations

import datetime
import gzip
import io
import json
import os
import subprocess
import tarfile
import uuid

import pytest

from tests.support.cycle import flush_archive, insert, restore_target, rows, server_time, take_backup
from tests.support.swiftwal_cli import postgres_dir
from tests.support.pg_cluster import ARCHIVE_SETTINGS


pytestmark = pytest.mark.parametrize("store", ["swift"], indirect=True)


@pytest.fixture
def conn(swift):
    from swiftclient.client import Connection

    connection = Connection(authurl=swift.auth_url, user=swift.user, key=swift.key)
    yield connection
    connection.close()


class OldTool:
    """Writes what swiftwal 0.2.2 wrote, into ``container``."""

    def __init__(self, conn, container: str, archive_dir: str):
        self.conn, self.container, self.archive_dir = conn, container, archive_dir
        self.uploaded: set[str] = set()
        conn.put_container(container)

    def upload_wal(self) -> None:
        for name in sorted(os.listdir(self.archive_dir)):
            if name not in self.uploaded:
                with open(os.path.join(self.archive_dir, name), "rb") as handle:
                    self.conn.put_object(self.container, f"wal_{name}.gz", gzip.compress(handle.read()))
                self.uploaded.add(name)

    def backup(self, cluster) -> str:
        key = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%MZ")
        tar = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(cluster.bin_dir / "pg_basebackup"),
             "--format=tar", "--pgdata=-", "-X", "fetch", "-c", "fast",
             "-h", str(cluster.socket_dir), "-p", str(cluster.port), "-U", "postgres"],
            check=True, capture_output=True, cwd="/").stdout
        with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
            label = archive.extractfile("backup_label").read()
        data, name, upload = gzip.compress(tar), f"pg_basebackup_{key}.tgz", uuid.uuid4().hex
        self.conn.put_object(self.container, f"...uploading/{name}/{upload}", b"")
        step = len(data) // 3 + 1
        for number, start in enumerate(range(0, len(data), step)):
            self.conn.put_object(self.container, f"...seg/{name}/{upload}/{number:06d}",
                                 data[start:start + step])
        self.conn.put_object(self.container, name, b"", headers={
            "X-Object-Manifest": f"{self.container}/...seg/{name}/{upload}/"})
        self.conn.delete_object(self.container, f"...uploading/{name}/{upload}")
        self.conn.put_object(self.container, f"backup_label_{key}.txt", label)
        # An upload interrupted long ago: its marker stays.
        self.conn.put_object(self.container, f"...uploading/pg_basebackup_20130828T1810Z.tgz/{upload}", b"")
        return key

    def names(self) -> list[str]:
        return [item["name"] for item in self.conn.get_container(self.container, full_listing=True)[1]]


def test_a_0_2_2_container_is_read_restored_and_pruned_in_place(store, pg_factory, conn):
    archive_dir = postgres_dir(pg_factory.directory("old-archive"))
    primary = pg_factory(settings={**ARCHIVE_SETTINGS, "archive_timeout": 0,
                                   "archive_command": f"cp %p {archive_dir}/%f"})
    old = OldTool(conn, store.location, archive_dir)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    old_key = old.backup(primary)
    insert(primary, 11, 15)
    last = primary.switch_wal()
    primary.wait_archived(last)  # copied whole, not only begun
    old.upload_wal()
    legacy_wal = sorted(old.uploaded)

    # The upgrade: only archive_command changes.
    command = store.command("archive-wal", "%p").replace("'", "''")
    primary.sql(f"ALTER SYSTEM SET archive_command = '{command}'")
    primary.sql("SELECT pg_reload_conf()")
    insert(primary, 16, 20)
    at_20 = server_time(primary)
    insert(primary, 21, 30)
    new_key = take_backup(store, primary)
    insert(primary, 31, 40)
    at_40 = server_time(primary)
    insert(primary, 41, 50)
    flush_archive(primary)

    assert store.run("list-backups").stdout.split() == [old_key, new_key]
    listed = json.loads(store.run("list-backups", "--json").stdout)["backups"]
    assert listed[0]["legacy"] and listed[0]["stored_size"] > 0 and listed[0]["stop_lsn"]
    verbose = store.run("-v", "list-backups").stdout + store.run("-v", "list-wal").stdout
    assert "...seg" not in verbose and "...uploading" not in verbose
    wal = store.run("list-wal").stdout.split()
    assert set(legacy_wal) <= set(wal)

    verified = store.run("verify", old_key, "--full", "--json", check=False)
    assert json.loads(verified.stdout)["ok"], verified.stdout + verified.stderr

    fetched = postgres_dir(pg_factory.directory("fetched"))
    segment = [n for n in legacy_wal if len(n) == 24][0]
    store.run("restore-wal", segment, f"{fetched}/{segment}")
    with open(f"{fetched}/{segment}", "rb") as got, open(f"{archive_dir}/{segment}", "rb") as want:
        assert got.read() == want.read()

    # Recovery from the 0.2.2 backup through both layouts' WAL.
    directory = restore_target(pg_factory, "pitr-old")
    out = store.run("restore", "latest", str(directory), "--target-time", at_20,
                    "--target-action", "promote").stdout
    assert f"Restored backup {old_key}" in out
    cluster = pg_factory.adopt(directory)
    cluster.start()
    cluster.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    assert rows(cluster) == list(range(1, 21))
    cluster.destroy()

    store.run("prune", "--keep-backups", "1")
    assert store.run("list-backups").stdout.split() == [new_key]
    left = old.names()
    assert not [n for n in left if old_key in n], f"0.2.2 backup objects left: {left}"
    assert [n for n in left if n.startswith("...uploading/")], "not ours to delete"

    directory = restore_target(pg_factory, "pitr-new")
    store.run("restore", "latest", str(directory), "--target-time", at_40, "--target-action", "promote")
    cluster = pg_factory.adopt(directory)
    cluster.start()
    cluster.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    assert rows(cluster) == list(range(1, 41))
