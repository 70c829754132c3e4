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

import hashlib
import os
import time

from swiftwal import events
from swiftwal.cli import EXIT_ABORT_RECOVERY, EXIT_NOT_IN_ARCHIVE
from swiftwal.domain import errors, layout
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
    from swiftwal.adapters.spool import cache_root
    from swiftwal.commands.archive_wal import use_token_cache

    # Any error raised here leaves with failure_status's exit status (swiftwal.cli).
    key = configured_key(ctx.settings)
    remove_stale_temp_files(os.path.dirname(args.path) or ".")
    use_token_cache(ctx.storage, cache_root(ctx.settings.get("CACHE_DIR")))
    found = fetch(ctx.storage, args.wal_name, ctx.settings.compression, key)
    if found is None:
        ctx.log.debug(events.WAL_RESTORE_MISSED, wal_name=args.wal_name)
        return EXIT_NOT_IN_ARCHIVE
    wal_object, data, _ = found
    write_atomically(args.path, data)
    ctx.log.info(events.WAL_RESTORED, wal_name=args.wal_name, bytes=len(data),
                 object=wal_object.object_name, duration_s=round(time.monotonic() - started, 3))
    return 0


def fetch(storage, wal_name: str, preferred_codec: str, key: bytes | None = None, *,
          trust_frame_checksum: bool = False):
    """``(WalObject, original bytes, their SHA-256)`` or None when no
    candidate object exists; ``key`` decrypts encrypted objects.
    ``trust_frame_checksum``: see ``verified_original``."""
    for candidate in layout.wal_candidates(wal_name, preferred_codec):
        try:
            with storage.get(candidate.object_name) as reader:
                stored = reader.read()
                metadata = reader.info.metadata
        except errors.ObjectNotFound:
            continue
        data, digest = verified_original(candidate.object_name, candidate.compression, stored,
                                         metadata, key,
                                         trust_frame_checksum=trust_frame_checksum)
        return candidate, data, digest
    return None


def verified_original(name: str, compression: str, stored: bytes, metadata, key, *,
                      trust_frame_checksum: bool = False) -> tuple[bytes, str]:
    """The original bytes of the WAL object ``name`` read as ``stored`` and
    their SHA-256: its stored-bytes checksum checked, decrypted, decompressed,
    its original checksum checked; ``IntegrityError`` naming the object otherwise.

    ``trust_frame_checksum``: when the stored bytes matched their recorded
    SHA-256 and every zstd frame carried its content's checksum (verified by
    libzstd as it decompressed), the original's SHA-256 is taken as recorded
    instead of computed: the bytes are those the archiver uploaded and they
    decompressed to what its compressor was given.  That hash was a third of
    the prefetch worker's CPU per segment; PostgreSQL also checks every
    record's CRC as it replays.  ``verify`` always computes it."""
    from swiftwal.adapters.compression import decompress_checked
    from swiftwal.adapters.crypto import plain_stored

    expected_stored = metadata.get("stored-sha256")
    if expected_stored and hashlib.sha256(stored).hexdigest() != expected_stored:
        raise errors.IntegrityError(f"{name} does not match its recorded SHA-256 (corrupted)")
    stored = plain_stored(stored, key, name, metadata)
    try:
        data, checksummed = decompress_checked(compression, stored)
    except Exception as exc:  # zlib.error, zstd.ZstdError: the object is damaged
        raise errors.IntegrityError(f"{name} cannot be decompressed "
                                    f"({exc.__class__.__name__})") from None
    expected = metadata.get("sha256")
    if (trust_frame_checksum and checksummed and expected_stored and expected
            and metadata.get("size") == str(len(data))):
        return data, expected
    actual = hashlib.sha256(data).hexdigest()
    if expected and actual != expected:
        raise errors.IntegrityError(f"{name} decompresses to content that does not match "
                                    f"its SHA-256")
    return data, actual


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


def in_targeted_recovery() -> bool:
    return os.path.exists("recovery.signal") and not os.path.exists("standby.signal")


def failure_status(error: errors.SwiftwalError) -> int:
    """The exit status of a restore-wal that failed with ``error``: above 125
    during targeted recovery, whatever the error (the store down, no such
    store, a malformed setting), so that PostgreSQL aborts instead of taking
    it for "not in the archive" and ending recovery early."""
    from swiftwal.cli import exit_status

    if in_targeted_recovery():
        return EXIT_ABORT_RECOVERY
    return getattr(error, "exit_status", None) or exit_status(error)
