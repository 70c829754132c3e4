"""Incremental backups of a cluster with two tablespaces, on real PostgreSQL 17 and 18 (the
wheels), against real Swift and the local store: a chain full -> incremental -> incremental,
each backup an object per tablespace, restored with both tablespaces moved to new directories
and recovered to a time; a tablespace target that is not empty refused before anything is
fetched; a killed incremental backup never listed, and a chain pruned whole."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cycle import (backup_keys, flush_archive, incremental_primary, insert, pg_env,
                                 restore_target, rows, server_time, take_backup)
from tests.support.faults import kill_when, spawn
from tests.support.tablespaces import TABLES, add_tablespaces, snapshot


def insert_everywhere(cluster, first: int, last: int) -> None:
    for table in TABLES:
        insert(cluster, first, last, table)


def records(store) -> dict:
    return {b["key"]: b for b in json.loads(store.run("list-backups", "--json").stdout)["backups"]}


@pytest.mark.parametrize("major", [17, 18])
def test_a_chain_with_two_tablespaces_restores_to_a_time_into_new_directories(
        major, store, pg_bin, pg_factory):
    bin_dir = pg_bin[major]
    env = {"SWIFTWAL_PG_BIN_DIR": str(bin_dir)}
    primary = incremental_primary(pg_factory, store, bin_dir)
    locations, oids = add_tablespaces(pg_factory, primary)
    full = take_backup(store, primary)
    insert_everywhere(primary, 101, 200)
    first = take_backup(store, primary, "--incremental")
    insert_everywhere(primary, 201, 300)
    second = take_backup(store, primary, "--incremental")
    insert_everywhere(primary, 301, 400)
    moment = server_time(primary)
    insert_everywhere(primary, 401, 500)
    flush_archive(primary)

    found = records(store)
    assert [(found[k]["type"], found[k]["parent"], found[k]["chain"], found[k]["format"])
            for k in (full, first, second)] == [
        ("full", None, [], 2), ("incremental", full, [full], 2),
        ("incremental", first, [full, first], 2)]
    for key in (full, first, second):
        assert found[key]["manifest_object"] == f"backups/{key}/backup_manifest.zst"
        spaces = {t["oid"]: t for t in found[key]["tablespaces"]}
        assert {oid: spaces[oid]["location"] for oid in spaces} == {
            oids[name]: str(locations[name]) for name in oids}
        assert all(spaces[oid]["data_object"] == f"backups/{key}/{oid}.tar.zst"
                   for oid in spaces)
    info = json.loads(store.run("info", "--json").stdout)
    (chain,) = info["chains"]
    assert chain["backups"] == [full, first, second] and chain["complete"]
    assert chain["stored_bytes"] == sum(
        found[k]["stored_size"] + sum(t["stored_size"] for t in found[k]["tablespaces"])
        for k in (full, first, second))
    verbose = store.run("list-backups", "--verbose").stdout
    assert second in verbose and "incremental" in verbose
    # every member and its tablespaces extracted, each against its stored manifest, then
    # the combined directory with its tablespaces, by pg_verifybackup
    out = store.run("verify", "--full", "--json", second, env=env).stdout
    (report,) = json.loads(out)["backups"]
    assert report["ok"] and report["chain"] == [full, first], report

    primary.stop()
    before = {name: snapshot(path) for name, path in locations.items()}
    directory = restore_target(pg_factory, "restored")
    parent = directory.parent
    mapping = ("--tablespace-map", f"{oids['one']}={parent / 'one'}",
               "--tablespace-map-all", str(parent / "others"))

    busy = parent / "busy"
    busy.mkdir()
    (busy / "precious").write_text("keep me")
    refused = store.run("restore", "latest", str(directory), "--target-time", moment,
                        "--tablespace-map", f"{oids['one']}={busy}", "--tablespace-map-all",
                        str(parent / "others"), env=env, check=False)
    assert refused.returncode == 7, refused.stderr
    assert f"the target of tablespace {oids['one']} {busy} is not empty" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not directory.exists() and not (parent / "others").exists()
    assert os.listdir(busy) == ["precious"]

    done = store.run("restore", "latest", str(directory), "--target-time", moment,
                     "--target-action", "promote", "--target-timeline", "current", *mapping,
                     env=env)
    assert (f"Restored incremental backup {second} into {directory}, combined with its chain "
            f"({full}, {first})") in done.stdout
    two = parent / "others" / str(oids["two"])
    for place in (directory, parent / "one", two):
        assert not (place / ".swiftwal-staging").exists(), place
    assert sorted(os.listdir(directory / "pg_tblspc")) == sorted(str(o) for o in oids.values())
    assert os.readlink(directory / "pg_tblspc" / str(oids["one"])) == str(parent / "one")
    assert os.readlink(directory / "pg_tblspc" / str(oids["two"])) == str(two)

    restored = pg_factory.adopt(directory, bin_dir=bin_dir)
    restored.start()
    restored.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    for table in TABLES:
        assert rows(restored, table) == list(range(1, 401)), table
    assert restored.sql(f"SELECT pg_tablespace_location({oids['one']})") == str(parent / "one")
    assert restored.sql(f"SELECT pg_tablespace_location({oids['two']})") == str(two)
    # new rows land in the restored tablespaces, never in the original ones
    insert(restored, 1000, 1000, "t_one")
    insert(restored, 1000, 1000, "t_two")
    restored.sql("CHECKPOINT")
    restored.stop()
    assert {name: snapshot(path) for name, path in locations.items()} == before


local_store = pytest.mark.parametrize("store", ["local"], indirect=True)


@local_store
def test_a_killed_incremental_backup_of_tablespaces_is_never_listed(store, pg_bin, pg_factory):
    primary = incremental_primary(pg_factory, store, pg_bin[17])
    _locations, oids = add_tablespaces(pg_factory, primary, rows_each=10)
    # nothing to base it on: a full backup instead, with its tablespaces, as without them
    full = take_backup(store, primary, "--incremental=auto")
    record = records(store)[full]
    assert record["type"] == "full" and len(record["tablespaces"]) == 2
    insert_everywhere(primary, 11, 20000)

    before = backup_keys(store)
    # the tablespaces' archives come first; the data directory's, last, crawls
    slow = spawn(store, "backup", "--incremental", "-c", "fast", "-H", str(primary.socket_dir),
                 "-p", str(primary.port), "-U", "postgres",
                 env={**pg_env(primary), "SWIFTWAL_MAX_UPLOAD_RATE": "16k"})
    backups = Path(store.location) / "backups"

    def a_tablespace_stored() -> bool:
        return any(path.name.split(".")[0] in {str(o) for o in oids.values()}
                   for path in backups.glob("*/*.tar.zst") if path.parent.name not in before)

    assert kill_when(slow, a_tablespace_stored, what="a tablespace object") != 0
    assert backup_keys(store) == before
    store.run("prune", "--keep-backups", "1", "--interrupted-after", "0")
    assert sorted(p.name for p in backups.iterdir()) == before

    # the chain is unharmed: the next incremental backup is based on the full one
    incremental = take_backup(store, primary, "--incremental")
    record = records(store)[incremental]
    assert (record["type"], record["parent"]) == ("incremental", full)
    assert {t["oid"] for t in record["tablespaces"]} == set(oids.values())

    # retention by chains: a newer full backup, and the whole first chain goes, every
    # tablespace object with it
    newer = take_backup(store, primary)
    store.run("prune", "--keep-backups", "1")
    assert backup_keys(store) == [newer]
    assert [p for key in (full, incremental) for p in (backups / key).rglob("*")
            if p.is_file()] == []
