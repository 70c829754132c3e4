"""restore_command answered at once where that is safe, and only there:
`swiftwal restore` fetches the WAL recovery starts with before the server
is started, a standby's "not in the archive" is remembered for a few
seconds, and during archive recovery every miss asks the store again, so a
segment archived a moment after a miss is found."""
from __future__ import annotations

import json
import os
import shutil

from tests.integration.test_lookahead import (NAMES, _files, fake_pg_wal, new_store,
                                               wait_for_claim, wait_for_worker)
from tests.integration.test_prefetch import _spool_files
from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_target, rows,
                                 take_backup)
from tests.support.cycle import wait_until
from tests.support.pg_cluster import make_reachable
from tests.support.swiftwal_cli import make_store, postgres_dir


def test_restore_fetches_the_first_segments_before_the_server_starts(tmp_path, pg_factory,
                                                                      swiftwal_bin):
    cache = postgres_dir(tmp_path / "cache")
    store = make_store("local", str(make_reachable(tmp_path / "store")), str(swiftwal_bin),
                       extra={"CACHE_DIR": cache})
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    key = take_backup(store, primary)
    insert(primary, 11, 20)
    flush_archive(primary)
    primary.stop()
    (backup,) = json.loads(store.run("list-backups", "--json").stdout)["backups"]
    directory = restore_target(pg_factory, "r")
    store.run("restore", key, str(directory))
    # No server yet: `restore` returned once the segment recovery asks for first
    # was fetched, and its worker goes on with the next ones.
    first = backup["start_segment"]
    assert first in _spool_files(cache)
    wait_until(lambda: len(_spool_files(cache)) >= 2, 60, "segments fetched ahead")
    wait_for_worker(cache, "restore")
    assert first in _spool_files(cache), "kept for the server after the worker left"

    recovery = {"restore_command": store.command("restore-wal", "%f", "%p"),
                "recovery_target_action": "promote"}
    cluster = pg_factory.adopt(directory, settings=recovery, signal="recovery")
    cluster.start()
    cluster.wait_for("SELECT NOT pg_is_in_recovery()", "t", timeout=120)
    assert rows(cluster) == list(range(1, 21))
    # Served from the spool (moved out of it): a call that fetched it itself
    # would have left the spooled copy behind.
    assert first not in _spool_files(cache)
    assert f'restored log file "{first}" from archive' in cluster.log_text()


def _restore(store, name, target, data_dir):
    return store.run("restore-wal", name, target, cwd=data_dir, check=False)


def test_a_standby_miss_is_remembered_and_archive_recovery_always_asks(tmp_path, swiftwal_bin):
    store, cache = new_store("local", tmp_path, swiftwal_bin, ARCHIVE_LOOKAHEAD="0",
                             RESTORE_PREFETCH="2")
    wal = fake_pg_wal(tmp_path, NAMES[:2], ready=False)
    store.run("archive-wal", os.path.join(wal, NAMES[0]))
    data_dir = postgres_dir(tmp_path / "data")
    target = os.path.join(postgres_dir(tmp_path / "data" / "pg_wal"), "RECOVERYXLOG")
    signal = os.path.join(data_dir, "standby.signal")
    open(signal, "w").close()

    assert _restore(store, NAMES[0], target, data_dir).returncode == 0
    assert _restore(store, NAMES[1], target, data_dir).returncode == 1
    assert _restore(store, "00000002.history", target, data_dir).returncode == 1
    # The store gone: only a remembered miss can still say "not in the archive".
    away = store.location + ".away"
    os.rename(store.location, away)
    try:
        for name in (NAMES[1], "00000002.history"):
            remembered = _restore(store, name, target, data_dir)
            assert remembered.returncode == 1, remembered.stderr
        # A segment never asked for is not answered from memory.
        assert _restore(store, NAMES[2], target, data_dir).returncode not in (0, 1)
        # Archive recovery: a miss is always the store's answer (here: no store, so abort).
        os.unlink(signal)
        open(os.path.join(data_dir, "recovery.signal"), "w").close()
        asked = _restore(store, NAMES[1], target, data_dir)
        assert asked.returncode > 125, (asked.returncode, asked.stderr)
    finally:
        os.rename(away, store.location)
    wait_for_worker(cache, "restore")


def test_in_archive_recovery_a_segment_archived_after_a_miss_is_found(tmp_path, swiftwal_bin):
    store, cache = new_store("local", tmp_path, swiftwal_bin, ARCHIVE_LOOKAHEAD="0",
                             RESTORE_PREFETCH="4")
    wal = fake_pg_wal(tmp_path, NAMES[:3], ready=False)
    store.run("archive-wal", os.path.join(wal, NAMES[0]))
    data_dir = postgres_dir(tmp_path / "data")
    open(os.path.join(data_dir, "recovery.signal"), "w").close()
    target = os.path.join(postgres_dir(tmp_path / "data" / "pg_wal"), "RECOVERYXLOG")

    assert _restore(store, NAMES[0], target, data_dir).returncode == 0
    wait_for_claim(cache, "restore")  # a worker follows, and finds NAMES[1] missing
    assert _restore(store, NAMES[1], target, data_dir).returncode == 1
    store.run("archive-wal", os.path.join(wal, NAMES[1]))  # archived a moment later
    assert _restore(store, NAMES[1], target, data_dir).returncode == 0
    with open(target, "rb") as got, open(os.path.join(wal, NAMES[1]), "rb") as want:
        assert got.read() == want.read()
    assert not [p for p in _files(cache) if p.endswith(".missing")], "nothing remembered"
    wait_for_worker(cache, "restore")
    shutil.rmtree(data_dir)
