"""A cluster with two tablespaces, against real PostgreSQL 15 and both stores:
backed up into an object per tablespace, restored with every tablespace moved
to a new directory and recovered to a time in one command; a target that is
not empty refused before anything is fetched; a killed backup never listed;
the backup's memory bounded."""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from tests.support.cycle import (archiving_primary, backup_keys, flush_archive, insert, pg_env,
                                 restore_target, rows, server_time, take_backup)
from tests.support.faults import kill_when, spawn
from tests.support.pg_cluster import make_reachable
from tests.support.swiftwal_cli import make_store
from tests.support.tablespaces import add_tablespaces, snapshot

#: The peak RSS any backup may reach (the process and its children).
RSS_LIMIT_MB = 100


@pytest.fixture
def local_store(tmp_path, swiftwal_bin):
    return make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)


def with_tablespaces(pg_factory, store, rows_each: int = 100):
    """A primary (PostgreSQL 15) archiving into ``store``, with the tablespaces of
    ``add_tablespaces``."""
    primary = archiving_primary(pg_factory, store)
    return (primary, *add_tablespaces(pg_factory, primary, rows_each))


def test_two_tablespaces_restore_to_new_directories_at_a_point_in_time(store, pg_factory):
    primary, locations, oids = with_tablespaces(pg_factory, store)
    key = take_backup(store, primary)
    record = json.loads(store.run("list-backups", "--json").stdout)["backups"][0]
    assert record["format"] == 2 and record["backup_from"] == "primary"
    # the manifest is stored beside the data, as for a backup through pg_basebackup
    assert record["manifest_object"] == f"backups/{key}/backup_manifest.zst"
    assert record["type"] == "full" and record["manifest_size"] > 0
    spaces = {t["oid"]: t for t in record["tablespaces"]}
    assert set(spaces) == set(oids.values())
    for name, oid in oids.items():
        assert spaces[oid]["location"] == str(locations[name])
        assert spaces[oid]["data_object"] == f"backups/{key}/{oid}.tar.zst"
        assert spaces[oid]["stored_size"] > 0 and len(spaces[oid]["sha256"]) == 64
    store.run("verify", "--full", key)

    for table in ("t_one", "t_two", "t_base"):
        insert(primary, 101, 200, table)
    moment = server_time(primary)
    for table in ("t_one", "t_two", "t_base"):
        insert(primary, 201, 300, table)
    flush_archive(primary)
    primary.stop()
    before = {name: snapshot(path) for name, path in locations.items()}

    directory = restore_target(pg_factory, "restored")
    parent = directory.parent
    store.run("restore", key, str(directory), "--target-time", moment, "--target-action",
              "promote", "--target-timeline", "current",
              "--tablespace-map", f"{oids['one']}={parent / 'one'}",
              "--tablespace-map-all", str(parent / "others"))
    restored = pg_factory.adopt(directory)
    restored.start()
    restored.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)

    for table in ("t_one", "t_two", "t_base"):
        assert rows(restored, table) == list(range(1, 201)), table
    assert restored.sql(f"SELECT pg_tablespace_location({oids['one']})") == str(parent / "one")
    assert restored.sql(f"SELECT pg_tablespace_location({oids['two']})") == \
        str(parent / "others" / str(oids["two"]))
    # new rows land in the restored tablespaces, never in the original ones
    insert(restored, 1000, 1000, "t_one")
    restored.sql("CHECKPOINT")
    restored.stop()
    assert {name: snapshot(path) for name, path in locations.items()} == before


def test_a_tablespace_target_that_is_not_empty_is_refused_before_anything_is_fetched(
        store, pg_factory):
    primary, _locations, oids = with_tablespaces(pg_factory, store, rows_each=10)
    key = take_backup(store, primary)
    directory = restore_target(pg_factory, "refused")
    busy = directory.parent / "busy"
    busy.mkdir()
    (busy / "precious").write_text("keep me")
    shutil.chown(busy, "postgres", "postgres")

    result = store.run("restore", key, str(directory), "--tablespace-map",
                       f"{oids['one']}={busy}", "--tablespace-map-all",
                       str(directory.parent / "others"), check=False)
    assert result.returncode == 7, result.stderr
    assert f"tablespace {oids['one']}" in result.stderr and "not empty" in result.stderr
    assert "Traceback" not in result.stderr
    assert not directory.exists() and not (directory.parent / "others").exists()
    assert os.listdir(busy) == ["precious"]

    # by default a tablespace goes back where it was: the live one is refused too
    result = store.run("restore", key, str(directory), check=False)
    assert result.returncode == 7 and "not empty" in result.stderr
    assert not directory.exists()

    result = store.run("restore", key, str(directory), "--tablespace-map", "12=/tmp/x",
                       check=False)
    assert result.returncode == 2 and "no tablespace with oid 12" in result.stderr


def _peak_rss_mb(pid: int, stop: threading.Event, peak: list) -> None:
    from tests.support.faults import descendants

    while not stop.is_set():
        total = 0
        for each in [pid, *descendants(pid)]:
            try:
                with open(f"/proc/{each}/status") as handle:
                    total += next(int(line.split()[1]) for line in handle
                                  if line.startswith("VmRSS:"))
            except (OSError, StopIteration):
                pass
        peak[0] = max(peak[0], total / 1024)
        time.sleep(0.02)


def test_memory_stays_bounded_and_a_killed_backup_is_never_listed(local_store, pg_factory):
    store = local_store
    primary, _locations, oids = with_tablespaces(pg_factory, store, rows_each=10)
    for name in ("one", "two"):  # about 70 MB a tablespace, half of it compressible
        primary.sql(f"INSERT INTO t_{name} SELECT g FROM generate_series(1, 2000000) g")
    primary.sql("CHECKPOINT")

    backup = spawn(store, "backup", "-c", "fast", "-H", str(primary.socket_dir), "-p",
                   str(primary.port), "-U", "postgres", env=pg_env(primary))
    stop, peak = threading.Event(), [0.0]
    sampler = threading.Thread(target=_peak_rss_mb, args=(backup.pid, stop, peak), daemon=True)
    sampler.start()
    out, err = backup.communicate(timeout=300)
    stop.set()
    sampler.join()
    assert backup.returncode == 0, out + err
    record = json.loads(store.run("list-backups", "--json").stdout)["backups"][0]
    assert sum(t["raw_size"] for t in record["tablespaces"]) > 100 << 20
    print(f"peak RSS of a tablespace backup ({record['raw_size'] >> 20} MiB data directory, "
          f"{sum(t['raw_size'] for t in record['tablespaces']) >> 20} MiB in tablespaces): "
          f"{peak[0]:.0f} MB")
    assert 0 < peak[0] <= RSS_LIMIT_MB

    # killed once the first tablespace's object is stored: nothing listed, all pruned
    before = backup_keys(store)
    slow = spawn(store, "backup", "-c", "fast", "-H", str(primary.socket_dir), "-p",
                 str(primary.port), "-U", "postgres",
                 env={**pg_env(primary), "SWIFTWAL_MAX_UPLOAD_RATE": "8M"})
    backups = Path(store.location) / "backups"

    def first_tablespace_stored() -> bool:
        return any(path.name.startswith(str(oids["one"])) or path.name.startswith(
            str(oids["two"])) for path in backups.glob("*/*.tar.zst")
            if path.parent.name not in before)

    assert kill_when(slow, first_tablespace_stored, what="a tablespace object") != 0
    assert backup_keys(store) == before
    store.run("prune", "--keep-backups", "1", "--interrupted-after", "0")
    assert sorted(p.name for p in backups.iterdir()) == before


def test_encrypted_tablespaces_are_verified_listed_pruned_and_restored(tmp_path, swiftwal_bin,
                                                                      pg_factory):
    from tests.integration.test_encryption import key_file

    base = str(make_reachable(tmp_path / "enc"))
    store = make_store("local", base, swiftwal_bin,
                       extra={"ENCRYPTION_KEY_FILE": key_file(base, "key")})
    primary, _locations, oids = with_tablespaces(pg_factory, store, rows_each=1000)
    first = take_backup(store, primary)
    second = take_backup(store, primary)
    records = json.loads(store.run("list-backups", "--json").stdout)["backups"]
    for record in records:
        assert record["encryption"] == "aes-256-gcm"
        for tablespace in record["tablespaces"]:
            stored = Path(store.location, tablespace["data_object"]).read_bytes()
            assert not stored.startswith(b"\x28\xb5\x2f\xfd")  # no zstd frame in clear
    total = sum(r["stored_size"] + sum(t["stored_size"] for t in r["tablespaces"])
                for r in records)
    info = json.loads(store.run("info", "--json").stdout)
    assert info["backups"]["stored_bytes"] == total
    store.run("verify", "--all", "--full")

    store.run("prune", "--keep-backups", "1")
    assert backup_keys(store) == [second]
    assert not [p for p in Path(store.location, "backups").rglob("*")
                if p.is_file() and first in p.parts]

    directory = restore_target(pg_factory, "enc")
    store.run("restore", second, str(directory), "--no-recovery-settings",
              "--tablespace-map-all", str(directory.parent / "spaces"))
    for oid in oids.values():
        assert list((directory.parent / "spaces" / str(oid)).glob("PG_*/*/*"))

    victim = Path(store.location, records[-1]["tablespaces"][0]["data_object"])
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    result = store.run("verify", "--full", second, check=False)
    assert result.returncode == 9 and victim.name in result.stdout + result.stderr
    victim.unlink()
    result = store.run("verify", second, check=False)
    assert result.returncode == 9 and "missing" in result.stdout + result.stderr
