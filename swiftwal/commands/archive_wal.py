"""archive-wal PATH: compress one WAL file and store it create-only.

PostgreSQL may call archive_command again for a file it already archived
(after a crash): identical content succeeds, different content is refused
unless --force.
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
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment, parse_wal_filename


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="archive one WAL file (archive_command '... archive-wal %%p')")
    parser.add_argument("path", help="the WAL file (%%p)")
    parser.add_argument("--force", "-f", action="store_true",
                        help="overwrite a different file already archived under this name")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    started = time.monotonic()
    wal_name = os.path.basename(args.path)
    data = _read(args.path)
    wal_file = parse_wal_filename(wal_name, _segment_size(wal_name, len(data), ctx))
    storage = ctx.storage
    if isinstance(wal_file, Segment):
        header = check_segment_header(data, wal_file, len(data), args.path)
        ensure_cluster_identity(storage, str(header.system_identifier))
    codec = ctx.settings.compression
    stored = _compress(codec, data)
    digest = hashlib.sha256(data).hexdigest()
    metadata = {
        "sha256": digest,
        "size": str(len(data)),
        "compression": codec,
        "stored-sha256": hashlib.sha256(stored).hexdigest(),
    }
    name = layout.wal_object_name(wal_name, codec)
    outcome = events.WAL_ARCHIVED
    try:
        storage.put(name, io.BytesIO(stored), metadata=metadata, create_only=True, size=len(stored))
    except errors.AlreadyExists:
        if _same_content(storage, name, codec, digest):
            outcome = events.WAL_ALREADY_ARCHIVED
        elif args.force:
            storage.put(name, io.BytesIO(stored), metadata=metadata, size=len(stored))
            outcome = events.WAL_ARCHIVED
        else:
            raise errors.WalConflict(
                f"a different {wal_name} is already archived in {storage.describe()}",
                hint="two servers may be archiving into one container; "
                     "--force overwrites after you have checked") from None
    ctx.log.info(outcome, wal_name=str(wal_file), bytes=len(data), stored_bytes=len(stored),
                 compression=codec, duration_s=round(time.monotonic() - started, 3))
    return 0


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


def _same_content(storage, name: str, codec: str, digest: str) -> bool:
    info = storage.stat(name)
    recorded = info.metadata.get("sha256")
    if recorded:
        return recorded == digest
    from swiftwal.adapters.compression import decompress_bytes

    with storage.get(name) as reader:
        return hashlib.sha256(decompress_bytes(codec, reader.read())).hexdigest() == digest
