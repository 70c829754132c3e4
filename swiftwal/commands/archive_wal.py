"""archive-wal PATH: compress one WAL file and store it create-only.

PostgreSQL may call archive_command again for a file it already archived
(after a crash): identical content succeeds, different content is refused
unless --force.  With ``ENCRYPTION_KEY_FILE`` the compressed bytes are
encrypted before they leave (``swiftwal.adapters.crypto``); the "identical
content" test compares the SHA-256 of the original bytes, since the same
file never encrypts to the same object twice.

PostgreSQL waits for each call before it offers the next segment, so a busy
server's backlog drains one process at a time.  With look-ahead
(``ARCHIVE_LOOKAHEAD``) a call also stores the oldest other segments already
``.ready`` in ``archive_status``, ``PARALLEL`` at a time, and records each
one the store confirmed in a spool outside ``pg_wal`` (``archive_status``
stays PostgreSQL's).  A later call for a recorded segment reads the file,
checks its size and SHA-256 against the record and returns at once.  The
call's own segment still succeeds only once it is stored; a look-ahead that
fails only leaves no record.
"""
from __future__ import annotations

import hashlib
import io
import os
import time

from swiftwal import events
from swiftwal.domain import errors, layout
from swiftwal.commands.guards import ensure_cluster_identity
from swiftwal.domain.walheader import check_segment_header
from swiftwal.domain.walnames import (DEFAULT_SEGMENT_SIZE, PartialSegment, Segment,
                                      parse_wal_filename)


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="archive one WAL file (archive_command '... archive-wal %%p')")
    parser.add_argument("path", help="the WAL file (%%p)")
    parser.add_argument("--force", "-f", action="store_true",
                        help="overwrite a different file already archived under this name")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    started = time.monotonic()
    wal_name = os.path.basename(args.path)
    from swiftwal.adapters.crypto import configured_key

    key = configured_key(ctx.settings)  # a missing key file fails before anything is stored
    data = _read(args.path)
    wal_file = parse_wal_filename(wal_name, _segment_size(wal_name, len(data), ctx))
    digest = hashlib.sha256(data).hexdigest()
    lookahead = setting(ctx, "ARCHIVE_LOOKAHEAD", 8) if isinstance(wal_file, Segment) else 0
    from swiftwal.adapters.spool import cache_root

    root = cache_root(ctx.settings.get("CACHE_DIR"))
    use_token_cache(ctx.storage, root)
    spool = _open_spool(ctx, root) if lookahead and not args.force else None
    stored = None
    if spool is None:
        outcome, stored = _store(ctx, wal_name, data, digest, args.path, args.force, set(), key)
    elif spool.matches(wal_name, len(data), digest):
        outcome = events.WAL_ARCHIVED  # stored ahead by an earlier call
    else:
        with spool.lock():
            if spool.matches(wal_name, len(data), digest):
                outcome = events.WAL_ARCHIVED
            else:
                outcome, stored = _store_with_lookahead(ctx, spool, args.path, wal_name, data,
                                                        digest, lookahead, key)
    if spool is not None:
        spool.forget(wal_name)
    sizes = {"ahead": True} if stored is None else {"stored_bytes": stored}
    ctx.log.info(outcome, wal_name=str(wal_file), bytes=len(data), **sizes,
                 compression=ctx.settings.compression,
                 duration_s=round(time.monotonic() - started, 3))
    return 0


def _store_with_lookahead(ctx, spool, path, wal_name, data, digest, lookahead, key):
    from concurrent.futures import ThreadPoolExecutor

    from swiftwal.adapters.spool import ready_segments

    directory = os.path.dirname(path)
    ahead = ready_segments(os.path.join(directory, "archive_status"), wal_name, lookahead)
    identities: set[str] = set()
    if not ahead:
        return _store(ctx, wal_name, data, digest, path, False, identities, key)
    spool.sweep()
    with ThreadPoolExecutor(max_workers=setting(ctx, "PARALLEL", 4)) as pool:
        own = pool.submit(_store, ctx, wal_name, data, digest, path, False, identities, key)
        for name in ahead:
            pool.submit(_store_ahead, ctx, spool, os.path.join(directory, name), name,
                        identities, key)
        return own.result()


def _store_ahead(ctx, spool, path: str, wal_name: str, identities: set[str], key) -> None:
    """Store another ``.ready`` segment; record it only once the store has it."""
    try:
        data = _read(path)
        digest = hashlib.sha256(data).hexdigest()
        if spool.matches(wal_name, len(data), digest):
            return
        _store(ctx, wal_name, data, digest, path, False, identities, key)
        spool.record(wal_name, len(data), digest,
                     layout.wal_object_name(wal_name, ctx.settings.compression))
    except Exception as error:  # its own call will do it, and report
        ctx.log.debug(events.WAL_ARCHIVED, wal_name=wal_name, ahead="failed",
                      error=error.__class__.__name__)


def _store(ctx, wal_name: str, data: bytes, digest: str, path: str, force: bool,
           identities: set[str], key: bytes | None = None) -> tuple[str, int]:
    """Store one WAL file create-only; ``(event, stored bytes)`` once it is durable."""
    wal_file = parse_wal_filename(wal_name, _segment_size(wal_name, len(data), ctx))
    storage = ctx.storage
    # A .partial is a whole segment file too (the old timeline's last one).
    segment = wal_file.segment if isinstance(wal_file, PartialSegment) else wal_file
    if isinstance(segment, Segment):
        header = check_segment_header(data, segment, len(data), path)
        identity = str(header.system_identifier)
        if identity not in identities:
            ensure_cluster_identity(storage, identity)
            identities.add(identity)
    codec = ctx.settings.compression
    stored = _compress(codec, data)
    extra = {}
    if key is not None:
        from swiftwal.adapters import crypto

        stored = crypto.encrypt_bytes(stored, key)
        extra = crypto.object_metadata(key)
    metadata = {
        "sha256": digest,
        "size": str(len(data)),
        "compression": codec,
        "stored-sha256": hashlib.sha256(stored).hexdigest(),
        **extra,
    }
    name = layout.wal_object_name(wal_name, codec)
    outcome = events.WAL_ARCHIVED
    try:
        storage.put(name, io.BytesIO(stored), metadata=metadata, create_only=True, size=len(stored))
    except errors.AlreadyExists:
        if _same_content(storage, name, codec, digest, key):
            outcome = events.WAL_ALREADY_ARCHIVED
        elif force:
            storage.put(name, io.BytesIO(stored), metadata=metadata, size=len(stored))
            outcome = events.WAL_ARCHIVED
        else:
            raise errors.WalConflict(
                f"a different {wal_name} is already archived in {storage.describe()}",
                hint="two servers may be archiving into one container; "
                     "--force overwrites after you have checked") from None
    return outcome, len(stored)


def _open_spool(ctx, root: str):
    """The look-ahead spool of this store, or None if it cannot be used."""
    from swiftwal.adapters.spool import ArchiveSpool, spool_directory

    try:
        return ArchiveSpool(spool_directory(root, "archive", ctx.storage.describe()))
    except OSError as exc:
        ctx.log.debug(events.CONFIG_WARNING, msg=f"look-ahead off: {exc.strerror}")
        return None


def use_token_cache(storage, root: str) -> None:
    """Share Swift auth tokens between calls (a no-op for other stores)."""
    if hasattr(storage, "token_cache"):
        from swiftwal.adapters.storage.token_cache import TokenCache

        storage.token_cache = TokenCache(os.path.join(root, "tokens"), storage.settings)


def setting(ctx, key: str, default: int) -> int:
    value = ctx.settings.get(key)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise errors.ConfigError(f"{key} must be a whole number, 0 or more, not {value!r}")
    return number


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise errors.UsageError(f"WAL file {path} does not exist") from None
    except IsADirectoryError:
        raise errors.UsageError(f"{path} is a directory, not a WAL file") from None
    except PermissionError:
        raise errors.UsageError(f"WAL file {path} is not readable by this user") from None


def _segment_size(wal_name: str, file_size: int, ctx) -> int:
    """A full segment's size is its cluster's segment size; other files use the setting."""
    if len(wal_name) == 24 and file_size and not file_size & (file_size - 1):
        return file_size
    return ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)


def _compress(codec: str, data: bytes) -> bytes:
    from swiftwal.adapters.compression import compress_bytes

    return compress_bytes(codec, data)


def _same_content(storage, name: str, codec: str, digest: str, key) -> bool:
    info = storage.stat(name)
    recorded = info.metadata.get("sha256")
    if recorded:
        return recorded == digest
    from swiftwal.adapters.compression import decompress_bytes
    from swiftwal.adapters.crypto import plain_stored

    with storage.get(name) as reader:
        stored = plain_stored(reader.read(), key, name, reader.info.metadata)
        return hashlib.sha256(decompress_bytes(codec, stored)).hexdigest() == digest
