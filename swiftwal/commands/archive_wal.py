"""archive-wal PATH: compress one WAL file and store it create-only.

PostgreSQL may call archive_command again for a file it already archived
(after a crash): identical content succeeds, different content is refused
unless --force.  How a WAL file is stored, encrypted or not, is
``swiftwal.adapters.walstore``'s.

PostgreSQL waits for each call before it offers the next segment: the
fast path in front of this command (``swiftwal.commands.archive_async``)
hands segments to a worker that stores them ahead.  What reaches this
module is the plain way: store this one file, now, in this process.
"""
from __future__ import annotations

import os
import time

from swiftwal.domain import errors
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, parse_wal_filename


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="archive one WAL file (archive_command '... archive-wal %%p')")
    parser.add_argument("path", help="the WAL file (%%p)")
    parser.add_argument("--force", "-f", action="store_true",
                        help="overwrite a different file already archived under this name")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    started = time.monotonic()
    wal_name = os.path.basename(args.path)
    from swiftwal.adapters.cluster_identity import RememberedIdentities
    from swiftwal.adapters.compression import wal_level
    from swiftwal.adapters.crypto import configured_key
    from swiftwal.adapters.walstore import original_digest, store_wal
    from swiftwal.domain.compression_level import level_for_backlog
    from swiftwal.domain.segment_size import segment_size_of

    key = configured_key(ctx.settings)  # a missing key file fails before anything is stored
    ctx.share_tokens()
    ctx.storage_to_write()
    data = _read(args.path)
    configured = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    wal_file = parse_wal_filename(wal_name, segment_size_of(wal_name, len(data), configured))
    codec = ctx.settings.compression
    level = level_for_backlog(codec, wal_level(codec, ctx.settings.integer("COMPRESSION_LEVEL")),
                              _waiting(args.path))
    outcome, stored = store_wal(ctx.storage, wal_name, data, original_digest(data), codec=codec,
                                level=level, segment_size=configured, path=args.path,
                                force=args.force, key=key,
                                identities=RememberedIdentities.for_store(ctx.settings))
    ctx.log.info(outcome, wal_name=str(wal_file), bytes=len(data), stored_bytes=stored,
                 compression=codec, compression_level=level,
                 duration_s=round(time.monotonic() - started, 3))
    return 0


def _waiting(path: str) -> int:
    """How many segments PostgreSQL has marked ``.ready`` beside ``path`` (0
    when it is not in a ``pg_wal``)."""
    try:
        return sum(entry.endswith(".ready") for entry in
                   os.listdir(os.path.join(os.path.dirname(path) or ".", "archive_status")))
    except OSError:
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
