"""``swiftwal info --prometheus FILE`` on a real PostgreSQL 15 archiving into a local
store: the file node_exporter reads says what ``info --json`` says, archive failures
come from the server's own count, and each run replaces the file by a rename."""
from __future__ import annotations

import datetime
import json
import os
import threading

from prometheus_client.parser import text_string_to_metric_families

from tests.support.cycle import archiving_primary, flush_archive, pg_env, take_backup
from tests.support.swiftwal_cli import make_store, postgres_dir
from tests.support.pg_cluster import make_reachable


def read_metrics(path: str) -> dict:
    with open(path) as handle:
        text = handle.read()
    return {sample.name: sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def labelled(path: str, label: str) -> dict:
    with open(path) as handle:
        text = handle.read()
    return {(sample.name, sample.labels[label]): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples
            if label in sample.labels}


def unix(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def test_the_textfile_says_what_info_says_and_is_replaced_whole(tmp_path, swiftwal_bin, pg_factory):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    primary = archiving_primary(pg_factory, store)
    take_backup(store, primary)
    flush_archive(primary)
    textfiles = postgres_dir(tmp_path / "node-exporter")
    path = os.path.join(textfiles, "swiftwal.prom")
    env = pg_env(primary)

    written = store.run("info", "--prometheus", path, env=env)
    assert written.stdout == "", "the screen report is not shown with --prometheus"
    info = json.loads(store.run("info", "--json", env=env).stdout)
    found = read_metrics(path)
    backups, wal = info["backups"], info["wal"]
    assert found["swiftwal_backups"] == backups["count"] == 1
    assert found["swiftwal_backups_stored_bytes"] == backups["stored_bytes"] > 0
    assert found["swiftwal_wal_files"] == wal["count"] > 0
    assert found["swiftwal_wal_stored_bytes"] == wal["stored_bytes"]
    assert found["swiftwal_wal_gaps"] == len(info["gaps"]) == 0
    assert found["swiftwal_wal_last_archived_timestamp_seconds"] == unix(wal["last_archived_at"])
    assert found["swiftwal_backup_newest_finished_timestamp_seconds"] == \
        unix(backups["newest"]["finished_at"])
    assert found["swiftwal_backup_newest_verified_finished_timestamp_seconds"] == \
        unix(backups["newest"]["finished_at"])
    # The two runs are moments apart: their ages differ by about that.
    assert 0 <= wal["age_s"] - found["swiftwal_wal_last_archived_age_seconds"] < 60
    assert 0 <= backups["newest"]["age_s"] - found["swiftwal_backup_newest_age_seconds"] < 60
    windows = labelled(path, "timeline")
    for item in info.get("recovery_window") or []:  # a key info may not have yet
        for end, moment in (("start", item["earliest"]), ("end", item["latest"])):
            name = f"swiftwal_recovery_window_{end}_timestamp_seconds"
            assert windows.get((name, str(item["timeline"]))) == (
                None if moment is None else unix(moment))
    assert found["swiftwal_archive_failures_total"] == 0
    assert found["swiftwal_archive_last_failure_timestamp_seconds"] == 0
    assert os.stat(path).st_mode & 0o777 == 0o644

    # A failing archive_command, counted by PostgreSQL, reaches the file.
    primary.sql("ALTER SYSTEM SET archive_command = '/bin/false'")
    primary.sql("SELECT pg_reload_conf()")
    primary.sql("CREATE TABLE t AS SELECT 1")
    primary.switch_wal()
    primary.wait_for("SELECT failed_count > 0 FROM pg_stat_archiver", "t", timeout=120)
    inode = os.stat(path).st_ino
    reads, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            with open(path) as handle:
                reads.append(handle.read())

    watcher = threading.Thread(target=reader)
    watcher.start()
    try:
        store.run("info", "--prometheus", path, env=env)
    finally:
        stop.set()
        watcher.join()
    count, failed_at = primary.sql("SELECT failed_count, extract(epoch FROM last_failed_time) "
                                   "FROM pg_stat_archiver").split("|")
    found = read_metrics(path)
    assert found["swiftwal_archive_failures_total"] <= int(count)  # it may go on failing
    assert found["swiftwal_archive_failures_total"] >= 1
    assert 0 < found["swiftwal_archive_last_failure_timestamp_seconds"] <= float(failed_at)
    assert os.stat(path).st_ino != inode, "the file is replaced by a rename, not rewritten"
    assert os.listdir(textfiles) == ["swiftwal.prom"], "no temporary file is left behind"
    names = {"swiftwal_backups", "swiftwal_archive_failures_total"}
    assert reads and all(text.endswith("\n") and names <= set(_names(text)) for text in reads)

    # No server to ask: the store's metrics are still written, the failures left out.
    primary.stop()
    result = store.run("info", "--prometheus", path, env=env)
    found = read_metrics(path)
    assert "swiftwal_archive_failures_total" not in found and found["swiftwal_backups"] == 1
    assert "archive failure metrics left out" in result.stderr


def _names(text: str):
    return [sample.name for family in text_string_to_metric_families(text)
            for sample in family.samples]


def test_the_newest_verified_backup_is_the_newest_that_verifies(tmp_path, swiftwal_bin,
                                                               pg_factory):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    primary = archiving_primary(pg_factory, store)
    older = take_backup(store, primary)
    newer = take_backup(store, primary)
    flush_archive(primary)
    listing = {b["key"]: b for b in json.loads(store.run("list-backups", "--json").stdout)["backups"]}
    # The newer backup loses its data: it no longer verifies, the older one does.
    os.remove(os.path.join(store.location, listing[newer]["data_object"]))
    assert store.run("verify", newer, check=False).returncode == 9
    path = os.path.join(postgres_dir(tmp_path / "node-exporter"), "swiftwal.prom")
    store.run("info", "--prometheus", path, env=pg_env(primary))
    found = read_metrics(path)
    assert found["swiftwal_backup_newest_finished_timestamp_seconds"] == \
        unix(listing[newer]["finished_at"])
    assert found["swiftwal_backup_newest_verified_finished_timestamp_seconds"] == \
        unix(listing[older]["finished_at"])
