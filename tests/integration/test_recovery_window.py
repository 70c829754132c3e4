"""prune --keep-days D keeps a recovery window: a point in time inside the last D days
stays recoverable even when the only backup that reaches it is older than D days."""
from __future__ import annotations

import datetime
import json
import time

import pytest

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_target,
                                     rows, server_time, take_backup)

pytestmark = pytest.mark.parametrize("store", ["swift"], indirect=True)


def _finished(store, key: str) -> datetime.datetime:
    listing = json.loads(store.run("list-backups", "--json").stdout)
    record = next(b for b in listing["backups"] if b["key"] == key)
    return datetime.datetime.fromisoformat(record["finished_at"])


def _days_since(moment: datetime.datetime) -> str:
    elapsed = datetime.datetime.now(datetime.timezone.utc) - moment
    return repr(elapsed.total_seconds() / 86400)


def test_the_window_keeps_the_backup_a_point_inside_it_needs(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    first = take_backup(store, primary)
    time.sleep(3)
    insert(primary, 11, 20)
    point = server_time(primary)  # inside the window, before the second backup ended
    time.sleep(3)
    insert(primary, 21, 30)
    second = take_backup(store, primary)
    insert(primary, 31, 40)
    third = take_backup(store, primary)
    flush_archive(primary)
    end_first = _finished(store, first)
    moment = datetime.datetime.fromisoformat(point)
    assert end_first < moment < _finished(store, second)
    window_start = end_first + (moment - end_first) / 2
    backups = store.run("list-backups").stdout.split()
    wal = store.run("list-wal").stdout.split()

    dry = json.loads(store.run("prune", "--keep-backups", "1", "--keep-days",
                               _days_since(window_start), "--dry-run", "--json").stdout)
    assert [d["name"] for d in dry["backups"]["keep"]] == [first, second, third]
    assert "ended before the recovery window" in dry["backups"]["keep"][0]["reason"]
    assert store.run("list-backups").stdout.split() == backups
    assert store.run("list-wal").stdout.split() == wal

    info = json.loads(store.run("info", "--json", "--keep-backups", "1", "--keep-days",
                                _days_since(window_start)).stdout)
    assert info["prune"]["keep_backups"] == [first, second, third]
    (now_window,) = [w for w in info["recovery_window"] if w["timeline"] == 1]
    assert now_window["earliest_backup"] == first
    assert info["prune"]["recovery_window"][0]["earliest_backup"] == first

    store.run("prune", "--keep-backups", "1", "--keep-days", _days_since(window_start))
    assert store.run("list-backups").stdout.split() == [first, second, third]
    primary.stop()

    directory = restore_target(pg_factory, "inside-window")
    out = store.run("restore", "latest", str(directory), "--target-time", point,
                    "--target-action", "promote")
    assert f"Restored backup {first}" in out.stdout
    restored = pg_factory.adopt(directory)
    restored.start()
    restored.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    assert rows(restored) == list(range(1, 21))
