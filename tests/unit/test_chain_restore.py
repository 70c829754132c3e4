"""The parts of restoring an incremental backup that need no server: the space it
may take, how pg_combinebackup is asked to share the members' files, and the move
of the combined directory into place."""
from __future__ import annotations

import os

import attrs
import pytest

from swiftwal.adapters import chain_restore
from swiftwal.domain import errors
from swiftwal.domain.backup import BackupKey
from swiftwal.domain.chains import chain_of
from swiftwal.domain.lsn import Lsn

from .strategies import MIB, incremental_on, plain_backup


def _chain():
    full = attrs.evolve(plain_backup(BackupKey.parse("20260101T000000Z"), 1,
                                     Lsn.parse("0/2000028"), 16 * MIB), raw_size=700 * MIB)
    incr = incremental_on(attrs.evolve(plain_backup(BackupKey.parse("20260102T000000Z"), 1,
                                                    Lsn.parse("0/4000028"), 16 * MIB),
                                       raw_size=100 * MIB), full)
    return chain_of(incr, [full, incr])


class _Statvfs:
    def __init__(self, free: int) -> None:
        self.f_bavail, self.f_frsize = free // 4096, 4096


def test_the_chain_and_the_combined_directory_must_fit_or_nothing_is_downloaded(tmp_path):
    chain = _chain()
    assert chain.restore_space() == 1600 * MIB
    chain_restore.check_free_space(str(tmp_path), chain, lambda path: _Statvfs(1600 * MIB))
    with pytest.raises(errors.SwiftwalError) as caught:
        chain_restore.check_free_space(str(tmp_path), chain, lambda path: _Statvfs(1000 * MIB))
    assert caught.value.message == (
        f"not enough free space to restore 20260102T000000Z into {tmp_path}: 1.6 GiB may be "
        "needed (its chain of 2 backups extracted, 800.0 MiB, and the combined directory), "
        "1000.0 MiB free")
    assert caught.value.exit_status == 13


def test_postgresql_18_links_the_members_files_and_17_clones_or_copies_in_the_kernel(tmp_path):
    assert chain_restore.combine_mode(18, str(tmp_path)) == "link"
    mode = chain_restore.combine_mode(17, str(tmp_path))
    assert mode in ("clone", "copy-file-range")
    assert os.listdir(tmp_path) == []  # the probe leaves nothing behind


def test_the_combined_directory_moves_into_place_control_file_and_version_last(tmp_path):
    combined, target, staging = tmp_path / "combined", tmp_path / "target", tmp_path
    for name in ("PG_VERSION", "global/pg_control", "global/1262", "base/1/1259", "backup_label"):
        (combined / name).parent.mkdir(parents=True, exist_ok=True)
        (combined / name).write_text(name)
    target.mkdir()
    size = chain_restore._move_into_place(str(combined), str(target), str(staging))
    assert size == sum(len(n) for n in ("PG_VERSION", "global/pg_control", "global/1262",
                                        "base/1/1259", "backup_label"))
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        "PG_VERSION", "backup_label", "base/1/1259", "global/1262", "global/pg_control"]
    assert os.listdir(combined) == []


def test_a_combined_directory_without_its_control_file_is_refused(tmp_path):
    combined = tmp_path / "combined"
    (combined / "global").mkdir(parents=True)
    (combined / "PG_VERSION").write_text("17")
    (tmp_path / "target").mkdir()
    with pytest.raises(errors.IntegrityError, match="pg_combinebackup wrote no global/pg_control"):
        chain_restore._move_into_place(str(combined), str(tmp_path / "target"), str(tmp_path))
    assert os.listdir(tmp_path / "target") == []
