"""archive-wal PATH: compress one WAL file and store it create-only.

PostgreSQL may call archive_command again for a file it already archived
(after a crash): identical content succeeds, different content is refused
unless --force.  With ``ENCRYPTION_KEY_FILE`` the compressed bytes are
encrypted before they leave (``swiftwal.adapters.crypto``); the "identical
content" test compares the SHA-256 of the original bytes, since the same
file never encrypts to the same object twice.

PostgreSQL waits for each call before it offers the next segment: the
fast path in front of this command (``swiftwal.commands.archive_async``)
hands segments to a worker that stores them ahead.  What reaches this
module is the plain way: store this one file, now, in this process.
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
    from swiftwal.adapters.spool import cache_root

    key = configured_key(ctx.settings)  # a missing key file fails before anything is stored
    ctx.storage_to_write()
    data = _read(args.path)
    wal_file = parse_wal_filename(wal_name, _segment_size(wal_name, len(data), ctx))
    digest = hashlib.sha256(data).hexdigest()
    use_token_cache(ctx.storage, cache_root(ctx.settings.get("CACHE_DIR")))
    outcome, stored = store(ctx, wal_name, data, digest, args.path, args.force, set(), key)
    ctx.log.info(outcome, wal_name=str(wal_file), bytes=len(data), stored_bytes=stored,
                 compression=ctx.settings.compression,
                 duration_s=round(time.monotonic() - started, 3))
    return 0


def store(ctx, wal_name: str, data: bytes, digest: str, path: str, force: bool,
           identities: set[str], key: bytes | None = None,
           compressed: bytes | None = None) -> tuple[str, int]:
    """Store one WAL file create-only; ``(event, stored bytes)`` once it is
    durable.  ``compressed``: ``data`` already compressed with the setting."""
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
    stored = _compress(codec, data) if compressed is None else compressed
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


def use_token_cache(storage, root: str) -> None:
    """Share Swift auth tokens between calls (a no-op for other stores)."""
    if hasattr(storage, "token_cache"):
        from swiftwal.adapters.storage.token_cache import TokenCache

        storage.token_cache = TokenCache(os.path.join(root, "tokens"), storage.settings)


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
