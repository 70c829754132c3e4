"""Reading the store for ``verify``'s verdicts (``swiftwal.domain.verification``):
each backup's data object (its size; with ``full``, every byte against its
SHA-256) and the WAL recovery from it would read (with ``full``, each WAL
object read back as restore-wal reads it).

``prune`` asks the same of the backups it keeps and deletes before it deletes
the last one that would restore (metadata checks only).
"""
from __future__ import annotations

from swiftwal.domain import errors
from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.verification import BackupReport, wal_check
from swiftwal.domain.walnames import Segment

CHUNK = 1 << 20


def verify_records(storage, records, wal, histories, full: bool,
                   key: bytes | None = None) -> list[BackupReport]:
    """One report per record, the archive already listed (``wal``: what
    ``swiftwal.commands.catalog.load_wal`` returns); ``key`` decrypts encrypted
    objects."""
    segments = {w.wal_file: w for w in wal if isinstance(w.wal_file, Segment)}
    return [verify_one(storage, record, histories, segments, full, key) for record in records]


def verify_one(storage, record: BackupRecord, histories, segments, full: bool,
               key: bytes | None = None) -> BackupReport:
    problems = list(_check_data(storage, record, full, key))
    problems.extend(_check_tablespaces(storage, record, full, key))
    check = wal_check(record, histories, segments)
    problems.extend(check.problems)
    if full:
        for segment in check.segments:
            problems.extend(_check_wal_object(storage, segments[segment], key))
    return BackupReport.of(record, check, problems, full)


def _check_data(storage, record: BackupRecord, full: bool, key: bytes | None = None) -> list[str]:
    name = record.data_object
    try:
        info = storage.stat(name)
    except errors.ObjectNotFound:
        return [f"backup object {name} is missing"]
    if record.stored_size is not None and info.size != record.stored_size:
        return [f"backup object {name} holds {info.size} bytes, {record.stored_size} were stored"]
    if not full:
        return []
    from swiftwal.adapters import crypto
    from swiftwal.adapters.streams import HashingReader

    try:
        with storage.get(name) as reader:
            hashing = HashingReader(reader)
            source = hashing
            if crypto.encrypted(name, key, crypto.record_metadata(record), info.metadata):
                source = crypto.DecryptingReader(hashing, key, name)
            while source.read(CHUNK):
                pass
            while hashing.read(CHUNK):  # past an early end of the encrypted stream
                pass
    except errors.ObjectNotFound:
        return [f"backup object {name} disappeared while being read"]
    except errors.IntegrityError as exc:  # the decryption's verdict names the object
        return [f"backup object {exc.message}"]
    if record.stored_size is not None and hashing.size != record.stored_size:
        return [f"backup object {name}: read {hashing.size} bytes, {record.stored_size} were stored"]
    if record.sha256 is not None and hashing.sha256 != record.sha256:
        return [f"backup object {name} does not match its recorded SHA-256 (corrupted)"]
    return []


def _check_tablespaces(storage, record: BackupRecord, full: bool,
                       key: bytes | None = None) -> list[str]:
    """Each tablespace's object, checked as the data object is."""
    import attrs

    return [problem for tablespace in record.tablespaces
            for problem in _check_data(storage, attrs.evolve(
                record, data_object=tablespace.data_object, stored_size=tablespace.stored_size,
                sha256=tablespace.sha256, tablespaces=()), full, key)]


def _check_wal_object(storage, item, key: bytes | None = None) -> list[str]:
    """Read back the way restore-wal reads (``walstore.verified_original``),
    so that what passes here is what recovery would get."""
    name = item.stored.object_name
    try:
        with storage.get(name) as reader:
            stored = reader.read()
            metadata = reader.info.metadata
    except errors.ObjectNotFound:
        return [f"WAL object {name} disappeared while being read"]
    from swiftwal.adapters.walstore import verified_original

    try:
        data, _ = verified_original(name, item.stored.compression, stored, metadata, key)
    except errors.IntegrityError as exc:  # names the object
        return [f"WAL object {exc.message}"]
    if metadata.get("size") and metadata["size"] != str(len(data)):
        return [f"WAL object {name} decompresses to {len(data)} bytes, not {metadata['size']}"]
    return []
