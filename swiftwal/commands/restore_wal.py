"""restore-wal NAME DEST: fetch, verify, decompress, write DEST atomically.

Exit status 1 means only "not in the archive": PostgreSQL asks for files
that do not exist as a matter of course.  Any failure to *know* (the store
unreachable, a corrupt object) exits otherwise, and during targeted recovery
(``recovery.signal`` in the working directory, which is the data directory)
with a status above 125, so that PostgreSQL aborts instead of ending recovery
early at the wrong point.  A standby (``standby.signal``) keeps polling.  An encrypted object that
cannot be decrypted (no key, another key, tampered with) is such a failure,
never "not in the archive".

The fast path in front of this command (``swiftwal.commands.restore_async``)
serves segments a worker fetched ahead; what reaches this module is the
plain way: fetch this one file, now, in this process.  A killed call can
leave its hidden temp file (``.NAME.swiftwal-PID``) beside ``%p``; the next
call into that directory removes those of dead processes.
"""
from __future__ import annotations

import os
import time

from swiftwal import events
from swiftwal.domain import errors
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, parse_wal_filename

def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="fetch one WAL file (restore_command '... restore-wal %%f %%p')")
    parser.add_argument("wal_name", help="the WAL file name (%%f)")
    parser.add_argument("path", help="where to write it (%%p)")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    started = time.monotonic()
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    parse_wal_filename(args.wal_name, segment_size)
    from swiftwal.adapters.atomic import remove_stale_temp_files
    from swiftwal.adapters.crypto import configured_key
    from swiftwal.adapters.walstore import fetch_wal

    # Any error raised here ends as swiftwal.adapters.recovery_signals.restore_failure
    # says (the CLI sees to it): above 125 during targeted recovery.
    key = configured_key(ctx.settings)
    remove_stale_temp_files(os.path.dirname(args.path) or ".")
    ctx.share_tokens()
    found = fetch_wal(ctx.storage, args.wal_name, ctx.settings.compression, key)
    if found is None:
        ctx.log.debug(events.WAL_RESTORE_MISSED, wal_name=args.wal_name)
        _remember_on_standby(ctx.settings, args.wal_name)
        return errors.EXIT_NOT_IN_ARCHIVE
    wal_object, data, _ = found
    write_atomically(args.path, data)
    ctx.log.info(events.WAL_RESTORED, wal_name=args.wal_name, bytes=len(data),
                 object=wal_object.object_name, duration_s=round(time.monotonic() - started, 3))
    return 0


def _remember_on_standby(settings, wal_name: str) -> None:
    """A standby asks again in a few seconds: its fast path answers from the
    spool for a while (``swiftwal.commands.restore_async``)."""
    from swiftwal.adapters.recovery_signals import on_standby

    if on_standby() and settings.integer("RESTORE_PREFETCH", 8) > 0:
        from swiftwal.adapters.spool import PrefetchSpool, restore_spool_directory

        try:
            PrefetchSpool(restore_spool_directory(settings)).note_missing(wal_name)
        except OSError:
            pass


def write_atomically(path: str, data: bytes) -> None:
    """``path`` appears whole or not at all: PostgreSQL never sees a partial
    file at ``path``.  Not flushed: PostgreSQL reads it and removes it, and
    flushes itself (``durable_rename``) a restored file it keeps; after a
    crash it asks again."""
    from swiftwal.adapters.atomic import temp_beside
    from swiftwal.adapters.atomic import write_atomically as write

    try:
        write(path, data, temp_beside(path), durable=False)
    except OSError as exc:
        raise errors.SwiftwalError(f"cannot write {path}: {exc.strerror}") from None
