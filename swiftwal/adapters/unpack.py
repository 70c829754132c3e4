"""One backup's data object into a directory: downloaded, checked, decrypted,
decompressed and safely extracted in one pass (``restore``, and each member of an
incremental backup's chain)."""
from __future__ import annotations

from swiftwal.adapters import crypto
from swiftwal.adapters.streams import HashingReader
from swiftwal.domain import errors


def unpack_backup(storage, record, directory: str, key, encrypted: bool, progress=None):
    """Extract ``record``'s data object into the existing empty ``directory``:
    (stored bytes read, bytes extracted).  Every stored byte is checked against
    the recorded size and SHA-256 before ``PG_VERSION`` and ``pg_control`` get
    their names (``safe_extract``'s ``before_commit``).  ``progress``: a
    ``Progress`` shared with other downloads (else one of its own)."""
    from swiftwal.adapters.compression import decompressing_reader
    from swiftwal.adapters.progress import CountingReader, Progress
    from swiftwal.adapters.untar import safe_extract

    shared = progress is not None
    if not shared:
        progress = Progress(f"restore {record.key}", record.stored_size or None)
    with storage.get(record.data_object) as reader:
        encrypted = crypto.encrypted(record.data_object, key, reader.info.metadata) or encrypted
        hashing = HashingReader(CountingReader(reader, progress))
        # every chunk is authenticated, the final one included, before the commit
        source = crypto.DecryptingReader(hashing, key, record.data_object) if encrypted else hashing

        def verify() -> None:
            _drain(source)
            _drain(hashing)
            if record.stored_size is not None and hashing.size != record.stored_size:
                raise errors.IntegrityError(f"{record.data_object} is {hashing.size} bytes, "
                                            f"expected {record.stored_size}")
            if record.sha256 and hashing.sha256 != record.sha256:
                raise errors.IntegrityError(f"{record.data_object} does not match its recorded checksum")

        try:
            stats = safe_extract(decompressing_reader(record.compression, source), directory,
                                 before_commit=verify)
        finally:
            if not shared:
                progress.close()
    return hashing.size, getattr(stats, "bytes", None)


def _drain(reader) -> None:
    """Read what the decompressor left (tar padding) so the checksum covers every byte."""
    while reader.read(1 << 20):
        pass
