"""Incremental backups on real PostgreSQL 17 and 18 (the wheels), against real Swift and
the local store: a chain full -> incremental -> incremental restored to a point after
each member, and to the end of the archive through restore-wal."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.support.cycle import (flush_archive, insert, pg_env, restore_target, rows,
                                 server_time, take_backup)
from tests.support.pg_cluster import ARCHIVE_SETTINGS, PgCluster

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def incremental_primary(pg_factory, store, bin_dir, **settings) -> PgCluster:
    """An archiving primary that summarizes its WAL, as incremental backups need."""
    return pg_factory(bin_dir=bin_dir, settings={
        **ARCHIVE_SETTINGS, "archive_command": store.command("archive-wal", "%p"),
        "archive_timeout": 0, "summarize_wal": "on", **settings})


def records(store) -> dict:
    listed = json.loads(store.run("list-backups", "--json").stdout)
    jsonschema.validate(listed, json.loads((SCHEMAS / "list-backups.json").read_text()))
    return {b["key"]: b for b in listed["backups"]}


def restore_to(store, pg_factory, name: str, bin_dir, *target: str) -> PgCluster:
    """``restore latest DIR [target]``, the recovery settings restore writes, then the
    server started on it until it has promoted."""
    directory = restore_target(pg_factory, name)
    done = store.run("restore", "latest", str(directory), *target,
                     *(("--target-action", "promote") if target else ()),
                     env={"SWIFTWAL_PG_BIN_DIR": str(bin_dir)})
    assert not (directory / ".swiftwal-staging").exists()
    cluster = pg_factory.adopt(directory, bin_dir=bin_dir)
    cluster.start()
    cluster.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    cluster.restore_output = done.stdout
    return cluster


@pytest.mark.parametrize("major", [17, 18])
def test_a_chain_restores_to_a_point_after_each_member_and_to_the_end(major, store, pg_bin,
                                                                      pg_factory):
    bin_dir = pg_bin[major]
    primary = incremental_primary(pg_factory, store, bin_dir)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    full = take_backup(store, primary)
    insert(primary, 11, 20)
    after_full = server_time(primary)
    first = take_backup(store, primary, "--incremental")
    insert(primary, 21, 30)
    after_first = server_time(primary)
    second = take_backup(store, primary, "--incremental")
    insert(primary, 31, 40)
    after_second = server_time(primary)
    insert(primary, 41, 50)
    flush_archive(primary)

    found = records(store)
    assert [(found[k]["type"], found[k]["parent"], found[k]["chain"], found[k]["format"])
            for k in (full, first, second)] == [
        ("full", None, [], 1), ("incremental", full, [full], 2),
        ("incremental", first, [full, first], 2)]
    assert all(found[k]["manifest_object"] == f"backups/{k}/backup_manifest.zst"
               for k in (full, first, second))

    # a chain of 1, 2 and 3 backups
    for name, moment, expected, backup, combined_with in (
            ("at-full", after_full, 20, full, []), ("at-first", after_first, 30, first, [full]),
            ("at-second", after_second, 40, second, [full, first])):
        restored = restore_to(store, pg_factory, name, bin_dir, "--target-time", moment)
        assert rows(restored) == list(range(1, expected + 1)), name
        if combined_with:
            assert (f"Restored incremental backup {backup} into {restored.data_dir}, combined "
                    f"with its chain ({', '.join(combined_with)})") in restored.restore_output
        else:
            assert f"Restored backup {backup} into" in restored.restore_output
        restored.destroy()

    restored = restore_to(store, pg_factory, "at-end", bin_dir)
    assert rows(restored) == list(range(1, 51))
    assert f"Restored incremental backup {second} " in restored.restore_output

    info = json.loads(store.run("info", "--json").stdout)
    (chain,) = info["chains"]
    assert chain["backups"] == [full, first, second] and chain["complete"]
    assert chain["stored_bytes"] == sum(found[k]["stored_size"] for k in (full, first, second))
    # each incremental holds the blocks changed, not the cluster
    assert found[second]["stored_size"] < found[full]["stored_size"] / 2
