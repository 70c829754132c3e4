"""restore KEY|latest DIR: download -> verify -> decompress -> safe untar into
an empty or absent directory, checked before anything is downloaded."""
from __future__ import annotations

import time

from swiftwal import events
from swiftwal.adapters.streams import HashingReader
from swiftwal.commands import catalog
from swiftwal.domain import errors


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="unpack a backup into an empty directory")
    parser.add_argument("key", help="backup key (see list-backups) or 'latest'")
    parser.add_argument("directory", help="empty or absent directory to restore into")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    from swiftwal.adapters.restore_target import prepare_restore_target
    from swiftwal.adapters.compression import decompressing_reader
    from swiftwal.adapters.untar import safe_extract

    started = time.monotonic()
    storage = ctx.storage
    record = catalog.find_backup(storage, args.key)
    prepare_restore_target(args.directory)

    with storage.get(record.data_object) as reader:
        hashing = HashingReader(reader)

        def verify() -> None:
            _drain(hashing)
            if record.stored_size is not None and hashing.size != record.stored_size:
                raise errors.IntegrityError(f"{record.data_object} is {hashing.size} bytes, "
                                            f"expected {record.stored_size}")
            if record.sha256 and hashing.sha256 != record.sha256:
                raise errors.IntegrityError(f"{record.data_object} does not match its recorded checksum")

        stats = safe_extract(decompressing_reader(record.compression, hashing), args.directory,
                             before_commit=verify)
    ctx.log.info(events.RESTORE_COMPLETED, backup=str(record.key), directory=args.directory,
                 stored_bytes=hashing.size, bytes=getattr(stats, "bytes", None),
                 duration_s=round(time.monotonic() - started, 3))
    ctx.print(f"Restored backup {record.key} into {args.directory}")
    return 0


def _drain(reader) -> None:
    """Read what the decompressor left (tar padding) so the checksum covers every byte."""
    while reader.read(1 << 20):
        pass
