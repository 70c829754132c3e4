"""PostgreSQL 16, 17 and 18 (PyPI wheels) each run the archive -> backup ->
point-in-time recovery cycle against the real Swift."""
from __future__ import annotations

import pytest

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_and_recover,
                                     rows, server_time, take_backup)
from tests.support.swiftwal_cli import make_store
from tests.support.pg_cluster import make_reachable


@pytest.mark.parametrize("major", [16, 17, 18])
def test_archive_backup_and_pitr_cycle(major, pg_bin, swift, pg_factory, tmp_path, swiftwal_bin):
    bin_dir = pg_bin[major]
    store = make_store("swift", str(make_reachable(tmp_path / "store")), swiftwal_bin, swift)
    primary = archiving_primary(pg_factory, store, bin_dir=bin_dir)
    assert primary.sql("SHOW server_version_num").startswith(str(major))
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    key = take_backup(store, primary)
    insert(primary, 11, 20)
    target = server_time(primary)
    insert(primary, 21, 30)
    flush_archive(primary)

    restored = restore_and_recover(store, key, pg_factory, "restored", bin_dir=bin_dir,
                                   settings={"recovery_target_time": target})
    assert rows(restored) == list(range(1, 21))
