"""prune keeps the last backup that verifies unless --force; it removes what
a backup killed mid-upload left, but only once it is old enough."""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.support.cycle import archiving_primary, flush_archive, insert, pg_env, take_backup
from tests.support.faults import adapter, hidden_names, kill_when, spawn
from tests.support.swiftwal_cli import make_store
from tests.support.pg_cluster import make_reachable

INVARIANT = 11


@pytest.fixture(params=["swift", "local"])
def store(request, tmp_path, swiftwal_bin):
    swift = request.getfixturevalue("swift") if request.param == "swift" else None
    # Small large-object segments: a backup of a few MiB is uploaded in pieces.
    extra = {"LARGE_OBJECT_SIZE": str(1 << 20), "COMPRESSION": "zstd"}
    return make_store(request.param, str(make_reachable(tmp_path / "store")), swiftwal_bin, swift, extra)


def truncate(store, name: str) -> None:
    if store.kind == "local":
        os.truncate(os.path.join(store.location, *name.split("/")), 100)
    else:
        import io
        adapter(store).put(name, io.BytesIO(b"x" * 100))


def test_prune_refuses_to_delete_the_last_backup_that_verifies(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    old = take_backup(store, primary)
    insert(primary, 1, 10)
    new = take_backup(store, primary)
    flush_archive(primary)
    records = {b["key"]: b for b in json.loads(store.run("list-backups", "--json").stdout)["backups"]}
    truncate(store, records[new]["data_object"])

    refused = store.run("prune", "--keep-backups", "1", check=False)
    assert refused.returncode == INVARIANT, refused.stdout + refused.stderr
    assert f"prune would delete {old}, the last backup that verifies" in refused.stderr
    assert store.run("list-backups").stdout.split() == [old, new]

    store.run("prune", "--keep-backups", "1", "--force")
    assert store.run("list-backups").stdout.split() == [new]


def test_prune_removes_an_interrupted_backup_only_once_it_is_old_enough(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.pgbench_init(scale=1)
    kept = take_backup(store, primary)
    before = set(hidden_names(store, "backups/"))

    backup = spawn(store, "backup", "-c", "fast", "-H", str(primary.socket_dir), "-p", str(primary.port),
                   "-U", "postgres", env=pg_env(primary))
    hidden = ".segments/backups/" if store.kind == "swift" else ".swiftwal-tmp."

    def uploading():
        return any(hidden in name and name not in before for name in hidden_names(store, "backups/"))

    status = kill_when(backup, uploading, what="the backup's first large-object segment")
    assert status != 0
    leftovers = sorted(set(hidden_names(store, "backups/")) - before)
    assert leftovers, "the killed backup left nothing to clean up"
    assert store.run("list-backups").stdout.split() == [kept]
    assert store.run("verify", "--all").returncode == 0

    young = store.run("prune", "--keep-backups", "1")
    assert "kept: written to less than 24 hours ago, it may still be running" in young.stdout
    # Nothing of it deleted.  More may have come: a request the backup had sent
    # whole before it was killed (its manifest) is still carried out by Swift.
    assert set(hidden_names(store, "backups/")) - before >= set(leftovers)

    time.sleep(1.5)
    old = store.run("prune", "--keep-backups", "1", "--interrupted-after", "0.0003", "--json")
    assert len(json.loads(old.stdout)["interrupted"]["delete"]) == 1
    assert set(hidden_names(store, "backups/")) == before
    assert store.run("list-backups").stdout.split() == [kept]
    assert store.run("verify", "--full").returncode == 0
