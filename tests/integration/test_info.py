"""``swiftwal info``: newest backup, WAL archived up to the last segment, and a
segment missing from the store reported as a gap."""
from __future__ import annotations

import json
import os

from tests.support.cycle import archiving_primary, flush_archive, insert, take_backup
from tests.support.swiftwal_cli import make_store
from tests.support.pg_cluster import make_reachable


def test_info_reports_the_newest_backup_the_last_segment_and_gaps(tmp_path, swiftwal_bin, pg_factory):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    key = take_backup(store, primary)
    for batch in range(3):
        insert(primary, batch, batch)
        last = flush_archive(primary)
    info = json.loads(store.run("status", "--json").stdout)
    assert info["backups"]["newest"]["key"] == key and info["backups"]["newest"]["age_s"] >= 0
    assert info["wal"]["last_segment"] == last and info["gaps"] == []
    assert info["wal"]["age_s"] is not None and info["wal"]["age_s"] < 600

    segments = sorted(n for n in store.run("list-wal").stdout.split() if len(n) == 24)
    missing = segments[-2]
    wal_dir = os.path.join(store.location, "wal")
    for name in os.listdir(wal_dir):
        if name.startswith(missing):
            os.unlink(os.path.join(wal_dir, name))
    info = json.loads(store.run("info", "--json").stdout)
    assert info["gaps"] == [{"timeline": 1, "first": missing, "last": missing, "count": 1}]
    text = store.run("info").stdout
    assert f"1 segments missing on timeline 1: {missing} to {missing}" in text
    assert f"Newest backup:  {key}" in text

    # The backup's own first segment gone: nothing before it on the path is archived
    # any more, yet recovery from the backup cannot start: that is a gap too.
    backup = json.loads(store.run("list-backups", "--json").stdout)["backups"][-1]
    start = backup["start_segment"]
    for name in os.listdir(wal_dir):
        if name[:24] < start or name.startswith(start):
            os.unlink(os.path.join(wal_dir, name))
    gaps = json.loads(store.run("info", "--json").stdout)["gaps"]
    assert gaps[0]["first"] == start, gaps
