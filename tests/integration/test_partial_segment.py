"""A streaming standby promoted in the middle of a segment archives that
segment as ``<name>.partial`` (PostgreSQL 13+): archive-wal must accept the
real file (its header is checked like a segment's), and a PITR through the new
timeline must read the data written before and after the promotion."""
from __future__ import annotations

import subprocess

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_and_recover,
                                     restore_target, rows, take_backup, wait_until)
from tests.support.pg_cluster import ARCHIVE_SETTINGS


def test_a_promoted_standby_archives_its_partial_segment(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    key = take_backup(store, primary)

    directory = restore_target(pg_factory, "standby")
    subprocess.run(["runuser", "-u", "postgres", "--", str(primary.bin_dir / "pg_basebackup"),
                    "-D", str(directory), "-h", str(primary.socket_dir), "-p", str(primary.port),
                    "-U", "postgres", "-X", "stream", "-R", "-c", "fast"],
                   check=True, capture_output=True)
    standby = pg_factory.adopt(directory, settings={
        **ARCHIVE_SETTINGS, "archive_command": store.command("archive-wal", "%p")})
    standby.start()
    insert(primary, 11, 20)  # streamed, in the middle of a segment
    standby.wait_for("SELECT count(*) FROM t", "20")
    standby.promote()
    standby.wait_for("SELECT pg_is_in_recovery()", "f")

    def partial_archived() -> bool:
        return any(name.endswith(".partial") for name in store.run("list-wal").stdout.split())

    wait_until(partial_archived, 120, "the .partial segment in the store")
    assert standby.sql("SELECT failed_count FROM pg_stat_archiver") == "0", standby.log_text()[-2000:]
    insert(standby, 21, 30)
    flush_archive(standby)

    restored = restore_and_recover(store, key, pg_factory, "pitr",
                                   settings={"recovery_target_timeline": "latest"})
    assert rows(restored) == list(range(1, 31))
