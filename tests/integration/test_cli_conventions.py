"""Options after the command, as an administrator may write them in the server's
archive_command and restore_command: the server archives and recovers through them."""
from __future__ import annotations

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_and_recover,
                                     rows, take_backup)
from tests.support.swiftwal_cli import Store, make_store
from tests.support.pg_cluster import make_reachable


class OptionsAfterTheCommand(Store):
    def command(self, *args: str) -> str:
        return f"{self.swiftwal_bin} {args[0]} --config {self.config_path} " + " ".join(args[1:])


def test_archive_and_restore_commands_with_their_options_after_the_command(
        tmp_path, swiftwal_bin, pg_factory):
    made = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    store = OptionsAfterTheCommand(made.kind, made.config_path, made.location, made.swiftwal_bin)
    primary = archiving_primary(pg_factory, store)
    assert " archive-wal --config " in primary.sql("SHOW archive_command")
    primary.sql("CREATE TABLE t (i int)")
    key = take_backup(store, primary)  # backup -c fast: the checkpoint, as in 0.2.2
    insert(primary, 1, 100)
    flush_archive(primary)
    restored = restore_and_recover(store, key, pg_factory, "after")
    assert rows(restored) == list(range(1, 101))
