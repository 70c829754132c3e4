"""The parts of restoring an incremental backup that need no server: the space it
may take, how pg_combinebackup is asked to share the members' files, and the move
of the combined directory into place."""
from __future__ import annotations

import os

import attrs
import pytest

from swiftwal.adapters import chain_restore
from swiftwal.domain import errors
from swiftwal.domain.backup import BackupKey, TablespaceBackup
from swiftwal.domain.chains import chain_of
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.tablespaces import TablespaceTarget

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
    chain_restore.check_free_space(str(tmp_path), chain,
                                   statvfs=lambda path: _Statvfs(1600 * MIB))
    with pytest.raises(errors.SwiftwalError) as caught:
        chain_restore.check_free_space(str(tmp_path), chain,
                                       statvfs=lambda path: _Statvfs(1000 * MIB))
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


OID = 16384


def _with_tablespace(record, size: int):
    return attrs.evolve(record, tablespaces=(TablespaceBackup(
        oid=OID, location="/srv/ts", data_object=f"backups/{record.key}/{OID}.tar.zst",
        raw_size=size, stored_size=1),))


def _chain_with_tablespace():
    chain = _chain()
    full, incr = (_with_tablespace(m, size) for m, size in zip(chain.members,
                                                                 (300 * MIB, 50 * MIB)))
    return chain_of(incr, [full, incr])


def test_each_file_system_must_hold_what_is_restored_there(tmp_path):
    chain = _chain_with_tablespace()
    data, other = str(tmp_path / "data"), str(tmp_path / "ts")
    space = TablespaceTarget(chain.backup.tablespaces[0], other, True)
    free = {data: 1600 * MIB, other: 700 * MIB}
    chain_restore.check_free_space(data, chain, [space], statvfs=lambda p: _Statvfs(free[p]),
                                   device={data: 1, other: 2}.get)
    free[other] = 600 * MIB
    with pytest.raises(errors.SwiftwalError) as caught:
        chain_restore.check_free_space(data, chain, [space],
                                       statvfs=lambda p: _Statvfs(free[p]),
                                       device={data: 1, other: 2}.get)
    assert caught.value.message == (
        f"not enough free space to restore 20260102T000000Z into {other} (tablespace {OID}): "
        "700.0 MiB may be needed (its chain of 2 backups extracted, 350.0 MiB, and the "
        "combined directory), 600.0 MiB free")
    # on one file system, the data directory and the tablespace add up
    with pytest.raises(errors.SwiftwalError, match=f"into {data}: 2.2 GiB may be needed"):
        chain_restore.check_free_space(data, chain, [space],
                                       statvfs=lambda p: _Statvfs(2000 * MIB),
                                       device=lambda p: 1)


def test_each_members_tablespace_is_extracted_beside_its_target_and_linked_from_it(tmp_path):
    chain = _chain_with_tablespace()
    full, incr = chain.members
    # a tablespace the restored backup no longer has is never fetched
    dropped = attrs.evolve(full.tablespaces[0], oid=OID + 1,
                           data_object=f"backups/{full.key}/{OID + 1}.tar.zst")
    full = attrs.evolve(full, tablespaces=(*full.tablespaces, dropped))
    staging, area = tmp_path / "staging", tmp_path / "ts" / ".swiftwal-staging"
    staging.mkdir()
    area.mkdir(parents=True)
    space = TablespaceTarget(incr.tablespaces[0], str(tmp_path / "ts"), True)
    fetched = []

    def unpack(member, tablespace, directory):
        fetched.append((str(member.key), None if tablespace is None else tablespace.oid,
                        directory))
        if tablespace is None:  # the server's tar holds pg_tblspc, empty
            (tmp_path / directory / "pg_tblspc").mkdir()
        return (10 if tablespace is None else 3), None

    inputs = chain_restore._extract_members([full, incr], str(staging), [(space, str(area))],
                                            unpack, 1)
    assert inputs == [(str(staging / str(full.key)), 13), (str(staging / str(incr.key)), 13)]
    assert sorted(fetched, key=str) == sorted(
        [(str(m.key), None, str(staging / str(m.key))) for m in (full, incr)]
        + [(str(m.key), OID, str(area / str(m.key))) for m in (full, incr)], key=str)
    for member in (full, incr):
        links = staging / str(member.key) / "pg_tblspc"
        assert os.listdir(links) == [str(OID)]
        assert os.readlink(links / str(OID)) == str(area / str(member.key))


def test_the_combined_tablespaces_move_into_their_targets_and_are_relinked(tmp_path):
    chain = _chain_with_tablespace()
    target, ts = tmp_path / "target", tmp_path / "ts"
    staging, area = target / ".swiftwal-staging", ts / ".swiftwal-staging"
    combined, combined_ts = staging / "combined", area / "combined"
    for name in ("PG_VERSION", "global/pg_control", "base/1/1259"):
        (combined / name).parent.mkdir(parents=True, exist_ok=True)
        (combined / name).write_text(name)
    (combined / "tablespace_map").write_text(f"{OID} /srv/ts\n")
    (combined / "pg_tblspc").mkdir()
    (combined_ts / "PG_17_202406281" / "5").mkdir(parents=True)
    (combined_ts / "PG_17_202406281" / "5" / "16400").write_text("rows")
    # as pg_combinebackup leaves it: linked to where it wrote the tablespace
    os.symlink(combined_ts, combined / "pg_tblspc" / str(OID))
    space = TablespaceTarget(chain.backup.tablespaces[0], str(ts), True)

    size = chain_restore._move_into_place(str(combined), str(target), str(staging),
                                          [(space, str(area))])
    assert size == len("PG_VERSION") + len("global/pg_control") + len("base/1/1259") + \
        len(f"{OID} /srv/ts\n") + len("rows")
    assert (ts / "PG_17_202406281" / "5" / "16400").read_text() == "rows"
    assert os.readlink(target / "pg_tblspc" / str(OID)) == str(ts)
    assert (target / "tablespace_map").read_text() == f"{OID} {ts}\n"
    assert (target / "global" / "pg_control").is_file()
    assert os.listdir(combined) == [] and os.listdir(combined_ts) == []
