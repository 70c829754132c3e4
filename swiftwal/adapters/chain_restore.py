"""Restoring an incremental backup: every backup of its chain extracted side by
side, ``pg_combinebackup``, then the result moved into the restore target.

Phases of ``restore_chain``:

1. staging: ``<target>/.swiftwal-staging/``, on the target's own file system, so
   that pg_combinebackup may link or clone the members' files and the result
   reaches its place by renames, whatever is mounted where;
2. each member's data object extracted into ``staging/<KEY>`` (``unpack_backup``:
   every byte checked against its recorded size and SHA-256), several at a time;
3. ``pg_combinebackup`` into ``staging/combined``: ``--link`` from PostgreSQL 18
   (no data copied), else ``--clone`` where the file system shares blocks, else
   ``--copy-file-range`` (copied in the kernel);
4. the result renamed into the target after one flush to disk, ``PG_VERSION``
   and ``global/pg_control`` last, so that an interrupted restore leaves a
   directory PostgreSQL refuses to start;
5. staging removed, whatever happened.

``check_combine_tool`` and ``check_free_space`` are the checks made before
anything is downloaded.
"""
from __future__ import annotations

import fcntl
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, List, Optional, Sequence, Tuple

from swiftwal.adapters import postgres
from swiftwal.domain import errors
from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.chains import Chain
from swiftwal.adapters.progress import human_bytes

STAGING = ".swiftwal-staging"
COMBINED = "combined"
#: Renamed into place last, in this order (as ``untar.HELD_BACK``).
HELD_BACK = ("global/pg_control", "PG_VERSION")
#: The first version of pg_combinebackup with ``--link``.
LINK_SINCE = 18
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)


def backup_major(record: BackupRecord) -> Optional[int]:
    """The PostgreSQL major version a backup was taken from (``PG_VERSION``)."""
    version = (record.pg_version or "").split(".")[0]
    return int(version) if version.isdigit() else None


def check_combine_tool(server: postgres.Server, record: BackupRecord) -> int:
    """The major version of the ``pg_combinebackup`` found, which must be the
    backup's own (``pg_control`` changes between versions): ``ConfigError``
    otherwise."""
    major = backup_major(record)
    where = f"in {server.bin_dir}" if server.bin_dir else "on PATH"
    try:
        found = postgres.combinebackup_major(server)
    except errors.ConfigError:
        raise errors.ConfigError(f"pg_combinebackup (PostgreSQL {major or 17} or later) is "
                                 f"needed to restore incremental backup {record.key}, and there "
                                 f"is none {where}",
                                 hint="install the PostgreSQL client tools or set PG_BIN_DIR")
    if major is not None and found != major:
        raise errors.ConfigError(f"backup {record.key} is of PostgreSQL {major}: restoring it "
                                 f"needs pg_combinebackup {major}, and the one {where} is of "
                                 f"PostgreSQL {found}",
                                 hint=f"set PG_BIN_DIR to PostgreSQL {major}'s bin directory")
    return found


def check_free_space(directory: str, chain: Chain, statvfs=os.statvfs) -> None:
    """``SwiftwalError`` when the file system of ``directory`` has less room than
    restoring ``chain`` may take (``Chain.restore_space``)."""
    needed = chain.restore_space()
    try:
        found = statvfs(directory)
    except OSError as exc:
        raise errors.UsageError(f"cannot read the free space of {directory}: "
                                f"{exc.strerror}") from None
    free = found.f_bavail * found.f_frsize
    if free < needed:
        raise errors.SwiftwalError(
            f"not enough free space to restore {chain.backup.key} into {directory}: "
            f"{human_bytes(needed)} may be needed (its chain of {len(chain.members)} backups "
            f"extracted, {human_bytes(chain.raw_size)}, and the combined directory), "
            f"{human_bytes(free)} free",
            hint="free space, or restore into another file system")


def combine_mode(tool_major: int, staging: str) -> str:
    """How pg_combinebackup takes the members' unchanged files: by hard link (18), by
    sharing blocks where the file system can, else by ``copy_file_range(2)``."""
    if tool_major >= LINK_SINCE:
        return "link"
    return "clone" if _can_clone(staging) else "copy-file-range"


def _can_clone(directory: str) -> bool:
    source = os.path.join(directory, ".clone-probe-source")
    target = os.path.join(directory, ".clone-probe-target")
    try:
        with open(source, "wb") as handle:
            handle.write(b"\0" * 4096)
        with open(source, "rb") as src, open(target, "wb") as dst:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
        return True
    except OSError:
        return False
    finally:
        for path in (source, target):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


Unpack = Callable[[BackupRecord, str], Tuple[int, Optional[int]]]


def restore_chain(chain: Chain, target: str, server: postgres.Server, tool_major: int,
                  unpack: Unpack, parallel: int,
                  extracted: Optional[Callable[[BackupRecord, str], None]] = None
                  ) -> Tuple[int, int]:
    """Rebuild ``chain``'s newest backup in the existing empty directory ``target``
    (``unpack(record, directory)`` extracts one member and returns its stored and
    extracted bytes; ``extracted(record, directory)``, if given, is then called for
    each member before they are combined).  Returns (stored bytes read, bytes in the
    target)."""
    staging = os.path.join(target, STAGING)
    os.mkdir(staging, 0o700)
    try:
        inputs = _extract_members(chain.members, staging, unpack, parallel)
        for member, (path, _) in zip(chain.members, inputs) if extracted else ():
            extracted(member, path)
        combined = os.path.join(staging, COMBINED)
        postgres.combine_backups(server, [path for path, _ in inputs], combined,
                                 combine_mode(tool_major, staging))
        size = _move_into_place(combined, target, staging)
        return sum(stored for _, stored in inputs), size
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _extract_members(members: Sequence[BackupRecord], staging: str, unpack: Unpack,
                     parallel: int) -> List[Tuple[str, int]]:
    """Each member into ``staging/<KEY>``, up to ``parallel`` at a time: the first
    failure is raised once every download has stopped."""
    paths = []
    for member in members:
        path = os.path.join(staging, str(member.key))
        os.mkdir(path, 0o700)
        paths.append(path)
    # Fetching, decompressing and extracting share the CPU: one download per core at
    # most, and one alone when there is a single member.
    workers = max(1, min(parallel, len(members), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(unpack, member, path) for member, path in zip(members, paths)]
        results, failure = [], None
        for member, future in zip(members, futures):
            try:
                results.append(future.result()[0])
            except errors.IntegrityError as exc:
                failure = failure or errors.BrokenChain(
                    f"backup {members[-1].key} cannot be restored: {member.key} "
                    f"({member.backup_type}) of its chain is corrupted: {exc.message}",
                    hint="see 'swiftwal verify --full'")
            except BaseException as exc:  # raised below, once the others have stopped
                failure = failure or exc
            if failure is not None:
                for other in futures:
                    other.cancel()
    if failure is not None:
        raise failure
    return list(zip(paths, results))


def _move_into_place(combined: str, target: str, staging: str) -> int:
    """Rename the combined directory's entries into ``target``; ``HELD_BACK`` last,
    once everything else is on disk.  Returns the bytes of its regular files."""
    from swiftwal.adapters.untar import flush_to_disk, fsync_directory

    size = 0
    for directory, _, files in os.walk(combined):
        for name in files:
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not os.path.islink(path):
                size += os.lstat(path).st_size
    held = []
    for name in HELD_BACK:
        source = os.path.join(combined, name)
        if not os.path.isfile(source):
            raise errors.IntegrityError(f"pg_combinebackup wrote no {name}")
        kept = os.path.join(staging, name.replace("/", "_") + ".held")
        os.rename(source, kept)
        held.append((kept, os.path.join(target, name)))
    for name in sorted(os.listdir(combined)):
        os.rename(os.path.join(combined, name), os.path.join(target, name))
    flush_to_disk(target)
    for kept, final in held:
        os.rename(kept, final)
        fsync_directory(os.path.dirname(final))
    return size
