"""Restoring an incremental backup: every backup of its chain extracted side by
side, ``pg_combinebackup``, then the result moved into the restore target.

Phases of ``restore_chain``:

1. staging: ``<target>/.swiftwal-staging/``, and one such directory in each
   tablespace's target, each on its target's own file system, so that
   pg_combinebackup may link or clone the members' files and the results reach
   their places by renames, whatever is mounted where;
2. each member's data object extracted into ``staging/<KEY>``, and each of its
   tablespaces (those of the backup restored) into its tablespace's
   ``staging/<KEY>``, linked from ``pg_tblspc/<OID>`` of the member's directory
   as in a data directory, where pg_combinebackup looks for them (``unpack``:
   every byte checked against its recorded size and SHA-256), several at a time;
3. ``pg_combinebackup`` into ``staging/combined``, each tablespace mapped
   (``-T``) into its own staging's ``combined``: ``--link`` from PostgreSQL 18
   (no data copied), else ``--clone`` where every file system shares blocks, else
   ``--copy-file-range`` (copied in the kernel);
4. the results renamed into the targets after one flush to disk, ``pg_tblspc``
   and ``tablespace_map`` pointed at the tablespaces' targets, ``PG_VERSION``
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
from swiftwal.domain.backup import BackupRecord, TablespaceBackup
from swiftwal.domain.chains import Chain
from swiftwal.domain.tablespaces import TablespaceTarget
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


def check_free_space(directory: str, chain: Chain, spaces: Sequence[TablespaceTarget] = (),
                     statvfs=os.statvfs, device=lambda path: os.stat(path).st_dev) -> None:
    """``SwiftwalError`` when a file system of ``directory`` or of a tablespace's
    target has less room than restoring ``chain`` may take there
    (``Chain.restore_space``, summed over the targets it holds)."""
    by_device: dict = {}
    for path, oid in [(directory, None), *((s.directory, s.tablespace.oid) for s in spaces)]:
        try:
            by_device.setdefault(device(path), []).append((path, oid))
        except OSError as exc:
            raise errors.UsageError(f"cannot read the free space of {path}: "
                                    f"{exc.strerror}") from None
    for targets in by_device.values():
        path, oid = targets[0]
        needed = sum(chain.restore_space(each) for _, each in targets)
        try:
            found = statvfs(path)
        except OSError as exc:
            raise errors.UsageError(f"cannot read the free space of {path}: "
                                    f"{exc.strerror}") from None
        free = found.f_bavail * found.f_frsize
        if free < needed:
            where = path if oid is None else f"{path} (tablespace {oid})"
            raise errors.SwiftwalError(
                f"not enough free space to restore {chain.backup.key} into {where}: "
                f"{human_bytes(needed)} may be needed (its chain of {len(chain.members)} "
                f"backups extracted, {human_bytes(needed // 2)}, and the combined directory), "
                f"{human_bytes(free)} free",
                hint="free space, or restore into another file system")


def combine_mode(tool_major: int, *staging: str) -> str:
    """How pg_combinebackup takes the members' unchanged files: by hard link (18), by
    sharing blocks where every file system ``staging`` is on can, else by
    ``copy_file_range(2)``."""
    if tool_major >= LINK_SINCE:
        return "link"
    return "clone" if all(_can_clone(directory) for directory in staging) else "copy-file-range"


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


#: Extracts one member's data object (no tablespace) or one of its tablespaces'
#: objects into an empty directory: (stored bytes read, bytes extracted).
Unpack = Callable[[BackupRecord, Optional[TablespaceBackup], str], Tuple[int, Optional[int]]]


def member_unpacker(storage, key, progress=None) -> Unpack:
    """``unpack`` for ``restore_chain``: each object fetched, checked against its
    recorded size and SHA-256, decrypted with ``key`` if it was encrypted, extracted."""
    from swiftwal.adapters import crypto
    from swiftwal.adapters.tablespace_restore import unpack_object
    from swiftwal.adapters.unpack import unpack_backup

    def unpack(member: BackupRecord, tablespace: Optional[TablespaceBackup], directory: str):
        encrypted = crypto.encrypted(member.data_object, key, crypto.record_metadata(member))
        if tablespace is None:
            return unpack_backup(storage, member, directory, key, encrypted, progress)
        return unpack_object(storage, tablespace.data_object, tablespace.stored_size,
                             tablespace.sha256, member.compression, directory, key, encrypted,
                             progress)
    return unpack


def restore_chain(chain: Chain, target: str, server: postgres.Server, tool_major: int,
                  unpack: Unpack, parallel: int,
                  extracted: Optional[Callable[[BackupRecord, str], None]] = None,
                  spaces: Sequence[TablespaceTarget] = ()) -> Tuple[int, int]:
    """Rebuild ``chain``'s newest backup in the existing empty directory ``target``,
    each of its tablespaces in the existing empty directory ``spaces`` gives it
    (``unpack`` extracts one object; ``extracted(record, directory)``, if given, is
    then called for each member, its tablespaces linked, before they are combined).
    Returns (stored bytes read, bytes in the targets)."""
    staging = os.path.join(target, STAGING)
    areas = [os.path.join(space.directory, STAGING) for space in spaces]
    made = []
    try:
        for directory in (staging, *areas):
            os.mkdir(directory, 0o700)
            made.append(directory)
        inputs = _extract_members(chain.members, staging, list(zip(spaces, areas)), unpack,
                                  parallel)
        for member, (path, _) in zip(chain.members, inputs) if extracted else ():
            extracted(member, path)
        combined = os.path.join(staging, COMBINED)
        final = str(chain.backup.key)
        postgres.combine_backups(server, [path for path, _ in inputs], combined,
                                 combine_mode(tool_major, staging, *areas),
                                 [(os.path.join(area, final), os.path.join(area, COMBINED))
                                  for area in areas])
        size = _move_into_place(combined, target, staging, list(zip(spaces, areas)))
        return sum(stored for _, stored in inputs), size
    finally:
        for directory in made:
            shutil.rmtree(directory, ignore_errors=True)


def _extract_members(members: Sequence[BackupRecord], staging: str,
                     areas: Sequence[Tuple[TablespaceTarget, str]], unpack: Unpack,
                     parallel: int) -> List[Tuple[str, int]]:
    """Each member into ``staging/<KEY>``, each of its tablespaces among ``areas``
    (a target and its staging) into ``<its staging>/<KEY>``, up to ``parallel`` at a
    time: the first failure is raised once every download has stopped.  Returns each
    member's directory and stored bytes."""
    paths, tasks, owners = [], [], []  # owners: the member directory each task counts for
    for member in members:
        path = os.path.join(staging, str(member.key))
        os.mkdir(path, 0o700)
        paths.append(path)
        tasks.append((member, None, path))
        owners.append(path)
        for space, area in areas:
            tablespace = _tablespace_of(member, space.tablespace.oid)
            if tablespace is not None:
                os.mkdir(os.path.join(area, str(member.key)), 0o700)
                tasks.append((member, tablespace, os.path.join(area, str(member.key))))
                owners.append(path)
    # Fetching, decompressing and extracting share the CPU: one download per core at
    # most, and one alone when there is a single object.
    workers = max(1, min(parallel, len(tasks), os.cpu_count() or 1))
    stored = dict.fromkeys(paths, 0)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(unpack, *task) for task in tasks]
        failure = None
        for (member, _, _), future, owner in zip(tasks, futures, owners):
            try:
                stored[owner] += future.result()[0]
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
    from swiftwal.adapters.tablespace_restore import make_links

    for member, path in zip(members, paths):
        make_links(path, [(space.tablespace.oid, os.path.join(area, str(member.key)))
                          for space, area in areas
                          if _tablespace_of(member, space.tablespace.oid) is not None])
    return [(path, stored[path]) for path in paths]


def _tablespace_of(record: BackupRecord, oid: int) -> Optional[TablespaceBackup]:
    return next((t for t in record.tablespaces if t.oid == oid), None)


def _move_into_place(combined: str, target: str, staging: str,
                     areas: Sequence[Tuple[TablespaceTarget, str]] = ()) -> int:
    """Rename the combined directory's entries into ``target``, each tablespace's
    (``areas``: a target and its staging) into its target, relink them;
    ``HELD_BACK`` last, once everything else is on disk.  Returns the bytes of
    their regular files."""
    from swiftwal.adapters.tablespace_restore import LINKS, link_tablespaces
    from swiftwal.adapters.untar import flush_to_disk, fsync_directory

    results = [combined, *(os.path.join(area, COMBINED) for _, area in areas)]
    size = 0
    for root in results:
        for directory, _, files in os.walk(root):
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
    for space, area in areas:
        # pg_combinebackup linked each tablespace to its staging: relinked below
        link = os.path.join(combined, LINKS, str(space.tablespace.oid))
        if os.path.islink(link):
            os.unlink(link)
        _move_entries(os.path.join(area, COMBINED), space.directory)
    _move_entries(combined, target)
    spaces = [space for space, _ in areas]
    link_tablespaces(target, spaces)
    for directory in (target, *(space.directory for space in spaces)):
        flush_to_disk(directory)
    for kept, final in held:
        os.rename(kept, final)
        fsync_directory(os.path.dirname(final))
    return size


def _move_entries(source: str, destination: str) -> None:
    for name in sorted(os.listdir(source)):
        os.rename(os.path.join(source, name), os.path.join(destination, name))
