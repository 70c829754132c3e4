"""The tablespaces of a backup, restored: each one's targets checked with the
data directory's before anything is downloaded, each tar checked and safely
extracted into its directory, then ``tablespace_map`` and ``pg_tblspc/OID``
pointed at them before the data directory's ``pg_control`` gets its name
(``unpack_backup``'s last step).  The plan, where each one goes, is the
domain's (``swiftwal.domain.tablespaces``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

from swiftwal.adapters import crypto
from swiftwal.adapters.restore_target import check_restore_target, prepare_restore_target
from swiftwal.adapters.streams import HashingReader
from swiftwal.domain import errors
from swiftwal.domain.tablespaces import (TablespaceTarget, parse_tablespace_map, plan_targets,
                                         render_tablespace_map)

MAP_FILE = "tablespace_map"
LINKS = "pg_tblspc"


def prepare_targets(record, directory: str, mapping: Mapping[int, str],
                    map_all: Optional[str]) -> List[TablespaceTarget]:
    """Where each tablespace goes; refuses (before creating any) a target that
    is not empty, not writable or overlaps another, then creates them all,
    the data directory first."""
    spaces = plan_targets(record.tablespaces, os.path.abspath(directory),
                          {oid: os.path.abspath(path) for oid, path in mapping.items()},
                          os.path.abspath(map_all) if map_all else None)
    check_restore_target(directory)
    for space in spaces:
        check_restore_target(space.directory, f"the target of tablespace {space.tablespace.oid}")
    prepare_restore_target(directory)
    for space in spaces:
        prepare_restore_target(space.directory)
    return spaces


def unpack_tablespaces(storage, record, spaces: Sequence[TablespaceTarget], key,
                       encrypted: bool, progress=None):
    """Each tablespace's object into its directory: (stored bytes, bytes extracted)."""
    stored = extracted = 0
    for space in spaces:
        tablespace = space.tablespace
        size, unpacked = unpack_object(storage, tablespace.data_object, tablespace.stored_size,
                                       tablespace.sha256, record.compression, space.directory,
                                       key, encrypted, progress)
        stored, extracted = stored + size, extracted + unpacked
    return stored, extracted


def unpack_object(storage, name: str, stored_size, sha256, compression: str, directory: str,
                  key, encrypted: bool, progress=None, then=None):
    """One stored tar into ``directory``, every stored byte checked against the
    recorded size and SHA-256 before ``then`` and the commit of the held-back files."""
    from swiftwal.adapters.compression import decompressing_reader
    from swiftwal.adapters.progress import CountingReader
    from swiftwal.adapters.untar import safe_extract

    with storage.get(name) as reader:
        encrypted = crypto.encrypted(name, key, reader.info.metadata) or encrypted
        counted = CountingReader(reader, progress) if progress is not None else reader
        hashing = HashingReader(counted)
        source = crypto.DecryptingReader(hashing, key, name) if encrypted else hashing

        def verify() -> None:
            _drain(source)
            _drain(hashing)
            if stored_size is not None and hashing.size != stored_size:
                raise errors.IntegrityError(f"{name} is {hashing.size} bytes, "
                                            f"expected {stored_size}")
            if sha256 and hashing.sha256 != sha256:
                raise errors.IntegrityError(f"{name} does not match its recorded checksum")
            if then is not None:
                then()

        stats = safe_extract(decompressing_reader(compression, source), directory,
                             before_commit=verify)
    return hashing.size, stats.bytes


def _drain(reader) -> None:
    while reader.read(1 << 20):
        pass


def link_tablespaces(directory: str, spaces: Sequence[TablespaceTarget]) -> None:
    """Point ``tablespace_map`` and ``pg_tblspc/OID`` at where each tablespace
    was restored (PostgreSQL remakes the links from the map when it starts)."""
    if not spaces:
        return
    data_dir = Path(directory)
    map_file = data_dir / MAP_FILE
    if map_file.is_symlink() or (map_file.exists() and not map_file.is_file()):
        raise errors.UnsafeArchive(f"the backup's {MAP_FILE} is not a regular file")
    if map_file.exists():
        recorded = parse_tablespace_map(map_file.read_text(encoding="utf-8",
                                                           errors="surrogateescape"))
        missing = sorted({s.tablespace.oid for s in spaces} - set(recorded))
        if missing:
            raise errors.IntegrityError(f"the backup's {MAP_FILE} has no tablespace {missing[0]}")
        _replace(map_file, render_tablespace_map((s.tablespace.oid, s.directory) for s in spaces))
    make_links(directory, [(s.tablespace.oid, s.directory) for s in spaces])


def make_links(directory: str, links: Sequence[Tuple[int, str]]) -> None:
    """``pg_tblspc/OID`` of the data directory ``directory`` a link to each path;
    ``UnsafeArchive`` if the backup holds one already, or ``pg_tblspc`` is a link."""
    if not links:
        return
    root = Path(directory) / LINKS
    if root.is_symlink():
        raise errors.UnsafeArchive(f"the backup's {LINKS} is a symbolic link")
    root.mkdir(mode=0o700, exist_ok=True)
    for oid, path in links:
        link = root / str(oid)
        if os.path.lexists(link):
            raise errors.UnsafeArchive(f"the backup holds {LINKS}/{oid} already: its "
                                       "tablespace cannot be linked")
        os.symlink(path, link)


def _replace(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".swiftwal-tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def unpack_with_tablespaces(storage, record, directory: str, spaces, key, encrypted: bool):
    """Tablespaces first, the data directory last, relinked before its
    ``pg_control`` gets its name: (stored bytes read, bytes extracted)."""
    from swiftwal.adapters.progress import Progress

    progress = Progress(f"restore {record.key}", record.total_stored_size or None)
    try:
        stored, extracted = unpack_tablespaces(storage, record, spaces, key, encrypted, progress)
        size, unpacked = unpack_object(storage, record.data_object, record.stored_size,
                                       record.sha256, record.compression, directory, key,
                                       encrypted, progress,
                                       then=lambda: link_tablespaces(directory, spaces))
    finally:
        progress.close()
    return stored + size, extracted + unpacked
