"""A backup's ``backup_manifest`` as an object of its own beside the data object
(``backups/<KEY>/backup_manifest.zst``): what an incremental backup is based on
(``pg_basebackup --incremental`` reads it from a file) and what ``pg_verifybackup``
checks a restored directory against.

It is the last member of pg_basebackup's tar: ``ManifestSpool`` takes it from the
stream as it goes by, into a private temporary file, since a manifest lists every
file of the cluster and memory must not grow with it.  It is stored compressed, and
encrypted with ``ENCRYPTION_KEY_FILE``, as the data object is: it names every
relation file and its checksum.
"""
from __future__ import annotations

import os
import tempfile
import zlib
from typing import BinaryIO, Optional

from swiftwal.adapters import crypto
from swiftwal.adapters.compression import (CHUNK, WAL_GZIP_LEVEL, WAL_ZSTD_LEVEL, check_codec,
                                           decompressing_reader, load_zstandard)
from swiftwal.adapters.streams import HashingReader
from swiftwal.domain import errors
from swiftwal.domain.backup import BackupRecord

_GZIP_WBITS = 31


class ManifestSpool:
    """Where the ``backup_manifest`` member goes while pg_basebackup streams."""

    def __init__(self) -> None:
        self.file = tempfile.TemporaryFile()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.size += len(chunk)

    def close(self) -> None:
        self.file.close()


class _CompressingReader:
    """The compressed bytes of ``raw``, read by read (bounded memory)."""

    def __init__(self, codec: str, raw: BinaryIO) -> None:
        if check_codec(codec) == "gzip":
            self._compressor = zlib.compressobj(WAL_GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
        else:
            self._compressor = load_zstandard().ZstdCompressor(
                level=WAL_ZSTD_LEVEL, write_checksum=True).compressobj()
        self._raw = raw
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = CHUNK if size is None or size < 0 else size
        while len(self._pending) < want and not self._done:
            chunk = self._raw.read(CHUNK)
            if chunk:
                self._pending += self._compressor.compress(chunk)
            else:
                self._pending += self._compressor.flush()
                self._done = True
        taken, self._pending = self._pending[:want], self._pending[want:]
        return taken


def store_manifest(storage, name: str, spool: ManifestSpool, codec: str,
                   secret: Optional[bytes], backup: str):
    """Store the spooled manifest under ``name`` (create-only); the store's info."""
    spool.file.seek(0)
    stream = _CompressingReader(codec, spool.file)
    metadata = {"backup": backup, "compression": codec, "size": str(spool.size)}
    if secret is not None:
        stream = crypto.EncryptingReader(stream, secret)
        metadata.update(crypto.object_metadata(secret))
    stored = storage.put(name, stream, metadata=metadata, create_only=True)
    if stored.sha256 is None:
        raise errors.InvariantViolated(f"{storage.describe()} returned no SHA-256 for {name}")
    return stored


def fetch_manifest(storage, record: BackupRecord, key: Optional[bytes], path: str) -> None:
    """Write ``record``'s manifest, as pg_basebackup wrote it, to the new file
    ``path`` (mode 0600), once its stored bytes match their recorded size and
    SHA-256.  ``BrokenChain`` names the backup when it is missing or does not
    match; ``ConfigError`` when it is encrypted and ``key`` is not its key."""
    name = record.manifest_object
    if name is None:
        raise errors.BrokenChain(f"backup {record.key} has no stored manifest")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        try:
            with storage.get(name) as reader:
                hashing = HashingReader(reader)
                source = hashing
                if crypto.encrypted(name, key, crypto.record_metadata(record),
                                    reader.info.metadata):
                    source = crypto.DecryptingReader(hashing, key, name)
                plain = decompressing_reader(record.compression, source)
                for chunk in iter(lambda: plain.read(CHUNK), b""):
                    out.write(chunk)
                while hashing.read(CHUNK):  # what the decompressor left, for the checksum
                    pass
        except errors.ObjectNotFound:
            raise errors.BrokenChain(f"the manifest of backup {record.key} ({name}) is "
                                     "missing") from None
        except errors.IntegrityError as exc:
            raise errors.BrokenChain(f"the manifest of backup {record.key} is corrupted: "
                                     f"{exc.message}") from None
        if (record.manifest_size is not None and hashing.size != record.manifest_size) or (
                record.manifest_sha256 is not None and hashing.sha256 != record.manifest_sha256):
            raise errors.BrokenChain(f"the manifest of backup {record.key} ({name}) does not "
                                     "match its recorded size and SHA-256 (corrupted)")
        out.flush()
        os.fsync(out.fileno())
