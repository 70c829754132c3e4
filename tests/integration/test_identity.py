"""Two clusters pointed at one container: the second is refused, by
archive-wal and by backup (before anything is uploaded), and the first's
archive is untouched."""
from __future__ import annotations

import os
import shutil

from tests.support.cycle import archiving_primary, flush_archive, insert, pg_env, take_backup
from tests.support.faults import hidden_names
from tests.support.swiftwal_cli import postgres_dir

INVARIANT = 11


def test_a_second_cluster_is_refused_and_the_first_archive_is_untouched(store, pg_factory):
    first = archiving_primary(pg_factory, store)
    first.sql("CREATE TABLE t (i int)")
    take_backup(store, first)
    insert(first, 1, 10)
    flush_archive(first)
    wal_before = store.run("list-wal").stdout.split()
    backups_before = hidden_names(store, "backups/")

    second = archiving_primary(pg_factory, store)
    second.sql("CREATE TABLE u (i int)")
    name = second.switch_wal()
    copy = os.path.join(postgres_dir(pg_factory.directory("second-wal")), name)
    shutil.copy(second.data_dir / "pg_wal" / name, copy)
    shutil.chown(copy, "postgres", "postgres")
    identifier = second.sql("SELECT system_identifier FROM pg_control_system()")

    refused = store.run("archive-wal", copy, check=False)
    assert refused.returncode == INVARIANT, refused.stderr
    assert f"not {identifier}" in refused.stderr and "own container" in refused.stderr

    backup = store.run("backup", "-c", "fast", "-H", str(second.socket_dir), "-p", str(second.port),
                       "-U", "postgres", check=False, env=pg_env(second))
    assert backup.returncode == INVARIANT, backup.stderr
    assert f"not {identifier}" in backup.stderr
    assert hidden_names(store, "backups/") == backups_before, "the refused backup uploaded something"

    assert int(second.sql("SELECT archived_count FROM pg_stat_archiver")) == 0
    assert store.run("list-wal").stdout.split() == wal_before
    assert store.run("verify", "--all", "--full").returncode == 0
