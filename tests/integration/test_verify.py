"""verify against real PostgreSQL 15 and both stores: a clean archive verifies;
a WAL segment deleted from the middle of a backup's range, a truncated backup
object and a flipped byte are each reported clearly, with a non-zero exit."""
from __future__ import annotations

import io
import json
import os
import subprocess

from swiftwal.commands.context import open_storage
from swiftwal.config import load_settings
from tests.support.cycle import archiving_primary, flush_archive, insert, take_backup

INTEGRITY = 9


def adapter(store):
    return open_storage(load_settings({}, store.config_path, {}))


def give_back_to_postgres(store) -> None:
    if store.kind == "local":
        subprocess.run(["chown", "-R", "postgres:postgres", store.location], check=True)


def replace(store, name: str, change) -> bytes:
    """Replace object ``name`` by ``change(content)``; returns the original content."""
    storage = adapter(store)
    with storage.get(name) as reader:
        original = reader.read()
        metadata = dict(reader.info.metadata)
    if store.kind == "local":  # in place, as a failing disk would
        path = os.path.join(store.location, *name.split("/"))
        with open(path, "r+b") as handle:
            handle.write(change(original))
            handle.truncate()
    else:
        storage.put(name, io.BytesIO(change(original)), metadata=metadata)
    return original


def verify(store, *args):
    return store.run("verify", *args, check=False)


def test_verify_reports_a_missing_segment_a_truncated_backup_and_a_flipped_byte(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    key = take_backup(store, primary)
    for step in range(4):
        insert(primary, step * 10, step * 10 + 9)
        flush_archive(primary)

    clean = verify(store, "--full", "--json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)["backups"][0]
    assert report["ok"] and report["key"] == key and report["segments"] >= 5
    assert verify(store, "--all").returncode == 0

    # A segment between the backup's start and the end of the archive.
    segments = [n for n in store.run("list-wal").stdout.split() if len(n) == 24]
    victim = segments[len(segments) // 2 + 1]
    assert report["first_segment"] < victim < report["last_segment"]
    storage = adapter(store)
    wal_name = f"wal/{victim}.zst"
    with storage.get(wal_name) as reader:
        saved, metadata = reader.read(), dict(reader.info.metadata)
    storage.delete([wal_name])
    gap = verify(store, key)
    assert gap.returncode == INTEGRITY
    assert f"gap in the archive on timeline 1: {victim} missing" in gap.stdout
    assert "FAILED" in gap.stdout and "would not restore" in gap.stderr
    storage.put(wal_name, io.BytesIO(saved), metadata=metadata)
    give_back_to_postgres(store)
    assert verify(store).returncode == 0

    data_object = json.loads(store.run("list-backups", "--json").stdout)["backups"][0]["data_object"]
    original = replace(store, data_object, lambda b: b[:len(b) // 2])
    truncated = verify(store)
    assert truncated.returncode == INTEGRITY
    assert f"backup object {data_object} holds {len(original) // 2} bytes, {len(original)} were stored" \
        in truncated.stdout

    middle = len(original) // 2
    replace(store, data_object, lambda b: original[:middle] + bytes([original[middle] ^ 1]) + original[middle + 1:])
    assert verify(store).returncode == 0, "metadata checks cannot see a flipped byte"
    flipped = verify(store, "--full", "--json")
    assert flipped.returncode == INTEGRITY
    result = json.loads(flipped.stdout)
    assert result["ok"] is False
    assert result["backups"][0]["problems"] == [
        f"backup object {data_object} does not match its recorded SHA-256 (corrupted)"]

    replace(store, data_object, lambda b: original)
    give_back_to_postgres(store)
    assert verify(store, "--full").returncode == 0


def test_verify_of_an_empty_store_or_an_unknown_key_is_a_clear_error(store):
    empty = verify(store, "--all")
    assert empty.returncode == 12 and "no backup" in empty.stderr
    unknown = verify(store, "20200101T000000Z")
    assert unknown.returncode == 12 and "is not in" in unknown.stderr
    assert "Traceback" not in empty.stderr + unknown.stderr
