"""restore-wal NAME DEST: fetch, verify, decompress, write DEST atomically.

Exit status 1 means only "not in the archive": PostgreSQL asks for files
that do not exist as a matter of course.  Any failure to *know* (the store
unreachable, a corrupt object) exits otherwise, and during targeted recovery
(``recovery.signal`` in the working directory, which is the data directory)
with a status above 125, so that PostgreSQL aborts instead of ending recovery
early at the wrong point.  A standby (``standby.signal``) keeps polling.  An encrypted object that
cannot be decrypted (no key, another key, tampered with) is such a failure,
never "not in the archive".

A killed call can leave its hidden temp file (``.NAME.swiftwal-PID``) beside
``%p``; the next call into that directory removes those of dead processes.
"""
from __future__ import annotations

import hashlib
import os
import re
import time

from swiftwal import events
from swiftwal.cli import EXIT_ABORT_RECOVERY, EXIT_NOT_IN_ARCHIVE
from swiftwal.domain import errors, layout
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment, parse_wal_filename

# what write_atomically names its temp file: "." + the file's name + ".swiftwal-" + PID
_TEMP_NAME = re.compile(r"\..+\.swiftwal-([0-9]+)\Z", re.DOTALL)


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="fetch one WAL file (restore_command '... restore-wal %%f %%p')")
    parser.add_argument("wal_name", help="the WAL file name (%%f)")
    parser.add_argument("path", help="where to write it (%%p)")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    started = time.monotonic()
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    wal_file = parse_wal_filename(args.wal_name, segment_size)
    try:
        from swiftwal.adapters.crypto import configured_key

        key = configured_key(ctx.settings)
        remove_stale_temp_files(os.path.dirname(args.path) or ".")
        spool, ahead = _prefetch_plan(ctx, wal_file, segment_size)
        data = spool.take(args.wal_name) if spool is not None else None
        if data is not None:
            write_atomically(args.path, data)
            ctx.log.info(events.WAL_RESTORED, wal_name=args.wal_name, bytes=len(data),
                         prefetched=True, duration_s=round(time.monotonic() - started, 3))
            return 0
        found = _fetch_with_prefetch(ctx, spool, args.wal_name, args.path, ahead, key)
        if found is None:
            ctx.log.debug(events.WAL_RESTORE_MISSED, wal_name=args.wal_name)
            return EXIT_NOT_IN_ARCHIVE
        wal_object, data = found
    except errors.SwiftwalError as error:
        if in_targeted_recovery():
            error.exit_status = EXIT_ABORT_RECOVERY
        raise
    ctx.log.info(events.WAL_RESTORED, wal_name=args.wal_name, bytes=len(data),
                 object=wal_object.object_name, duration_s=round(time.monotonic() - started, 3))
    return 0


def _prefetch_plan(ctx, wal_file, segment_size: int):
    """The prefetch spool (or None) and the names to fetch ahead of ``wal_file``."""
    from swiftwal.adapters.spool import PrefetchSpool, cache_root, spool_directory
    from swiftwal.commands.archive_wal import setting, use_token_cache

    root = cache_root(ctx.settings.get("CACHE_DIR"))
    use_token_cache(ctx.storage, root)
    count = setting(ctx, "RESTORE_PREFETCH", 8) if isinstance(wal_file, Segment) else 0
    if not count:
        return None, []
    try:
        # One spool per store and data directory (the working directory).
        directory = spool_directory(root, "restore", ctx.storage.describe(),
                                    os.path.realpath(os.getcwd()))
    except OSError:
        return None, []
    ahead, segment = [], wal_file
    for _ in range(count):
        try:
            segment = segment.next(segment_size)
        except ValueError:  # the end of WAL addresses
            break
        ahead.append(str(segment))
    return PrefetchSpool(directory), ahead


def _fetch_with_prefetch(ctx, spool, wal_name: str, path: str, ahead: list[str], key):
    """Fetch ``wal_name`` into ``path`` and, in parallel, ``ahead`` into the spool."""
    if spool is None or not ahead:
        found = fetch(ctx.storage, wal_name, ctx.settings.compression, key)
        if found is not None:
            write_atomically(path, found[1])
        return found
    from concurrent.futures import ThreadPoolExecutor

    from swiftwal.commands.archive_wal import setting

    timeline = wal_name[:8]
    wanted = set(ahead)
    spool.sweep(lambda name: name.startswith(timeline) and name not in wanted)
    with ThreadPoolExecutor(max_workers=setting(ctx, "PARALLEL", 4)) as pool:
        own = pool.submit(fetch, ctx.storage, wal_name, ctx.settings.compression, key)
        later = [pool.submit(_prefetch_one, ctx, spool, name, key)
                 for name in ahead if not spool.has(name)]
        try:
            found = own.result()
            if found is not None:
                write_atomically(path, found[1])
        finally:
            if own.exception() is not None or own.result() is None:
                for future in later:  # nothing follows a missing segment
                    future.cancel()
    return found


def _prefetch_one(ctx, spool, wal_name: str, key) -> None:
    try:
        found = fetch(ctx.storage, wal_name, ctx.settings.compression, key)
        if found is not None:
            spool.put(wal_name, found[1], hashlib.sha256(found[1]).hexdigest())
    except Exception as error:  # its own call fetches it again, and reports
        ctx.log.debug(events.WAL_RESTORE_MISSED, wal_name=wal_name, ahead="failed",
                      error=error.__class__.__name__)


def fetch(storage, wal_name: str, preferred_codec: str, key: bytes | None = None):
    """``(WalObject, original bytes)`` or None when no candidate object exists;
    ``key`` decrypts encrypted objects."""
    for candidate in layout.wal_candidates(wal_name, preferred_codec):
        try:
            with storage.get(candidate.object_name) as reader:
                stored = reader.read()
                metadata = reader.info.metadata
        except errors.ObjectNotFound:
            continue
        return candidate, verified_original(candidate.object_name, candidate.compression, stored,
                                            metadata, key)
    return None


def verified_original(name: str, compression: str, stored: bytes, metadata, key) -> bytes:
    """The original bytes of the WAL object ``name`` read as ``stored``: its
    stored-bytes checksum checked, decrypted, decompressed, its original
    checksum checked; ``IntegrityError`` naming the object otherwise."""
    from swiftwal.adapters.compression import decompress_bytes
    from swiftwal.adapters.crypto import plain_stored

    expected = metadata.get("stored-sha256")
    if expected and hashlib.sha256(stored).hexdigest() != expected:
        raise errors.IntegrityError(f"{name} does not match its recorded SHA-256 (corrupted)")
    stored = plain_stored(stored, key, name, metadata)
    try:
        data = decompress_bytes(compression, stored)
    except Exception as exc:  # zlib.error, zstd.ZstdError: the object is damaged
        raise errors.IntegrityError(f"{name} cannot be decompressed "
                                    f"({exc.__class__.__name__})") from None
    expected = metadata.get("sha256")
    if expected and hashlib.sha256(data).hexdigest() != expected:
        raise errors.IntegrityError(f"{name} decompresses to content that does not match "
                                    f"its SHA-256")
    return data


def write_atomically(path: str, data: bytes) -> None:
    """``path`` appears whole or not at all, and survives a crash once this returns:
    PostgreSQL never sees a partial file at ``path``."""
    from swiftwal.adapters.atomic import write_atomically as write

    name = f".{os.path.basename(path)}.swiftwal-{os.getpid()}"  # see _TEMP_NAME
    temp = os.path.join(os.path.dirname(path) or ".", name)
    try:
        write(path, data, temp, sync_directory=True)
    except OSError as exc:
        raise errors.SwiftwalError(f"cannot write {path}: {exc.strerror}") from None


def remove_stale_temp_files(directory: str) -> None:
    """Remove the temp files of ``write_atomically`` left by dead processes.

    Only hidden names are looked at (a cheap test on each name of the listing);
    a live PID's file is kept, even if that PID was reused by another process."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and ".swiftwal-" in n]
    except OSError:
        return
    for name in names:
        match = _TEMP_NAME.match(name)
        if match is not None and not _alive(int(match.group(1))):
            _remove_quietly(os.path.join(directory, name))


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a PID we wrote: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True


def in_targeted_recovery() -> bool:
    return os.path.exists("recovery.signal") and not os.path.exists("standby.signal")


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
