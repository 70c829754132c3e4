"""Reading the store for ``verify``'s verdicts (``swiftwal.domain.verification``):
each backup's data object (its size; with ``full``, every byte against its
SHA-256) and the WAL recovery from it would read (with ``full``, each WAL
object read back as restore-wal reads it).

An incremental backup verifies only with its whole chain: every backup it is
built on must be in the catalogue and pass the same checks, each named in the
problem it has.  Each backup's objects are read once per call, however many
chains hold it.

``prune`` asks the same of the backups it keeps and deletes before it deletes
the last one that would restore (metadata checks only).
"""
from __future__ import annotations

from swiftwal.domain import errors
from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.chains import chain_of
from swiftwal.domain.verification import BackupReport, wal_check
from swiftwal.domain.walnames import Segment

CHUNK = 1 << 20


def verify_records(storage, records, wal, histories, full: bool,
                   key: bytes | None = None, catalogue=None) -> list[BackupReport]:
    """One report per record, the archive already listed (``wal``: what
    ``swiftwal.commands.catalog.load_wal`` returns); ``key`` decrypts encrypted
    objects; ``catalogue``: every backup of the store, where incremental ones
    find their chain (default: ``records``)."""
    segments = {w.wal_file: w for w in wal if isinstance(w.wal_file, Segment)}
    records = list(records)
    catalogue = records if catalogue is None else list(catalogue)
    checked: dict = {}
    return [verify_one(storage, record, histories, segments, full, key, catalogue, checked)
            for record in records]


def verify_one(storage, record: BackupRecord, histories, segments, full: bool,
               key: bytes | None = None, catalogue=(), checked=None) -> BackupReport:
    checked = {} if checked is None else checked
    problems = []
    if record.incremental:
        chain = chain_of(record, catalogue)
        problems.extend(f"backup {k} of its chain is missing" for k in chain.missing)
        problems.extend(chain.problems)
        problems.extend(_members_problems(storage, chain.members[:-1], full, key, checked))
    problems.extend(_objects_problems(storage, record, full, key, checked))
    check = wal_check(record, histories, segments)
    problems.extend(check.problems)
    if full:
        for segment in check.segments:
            problems.extend(_check_wal_object(storage, segments[segment], key))
    return BackupReport.of(record, check, problems, full)


def chain_objects_problems(storage, members, key: bytes | None = None) -> list[str]:
    """What is wrong with the objects of the backups ``members`` (a chain), each
    problem naming its backup: metadata checks, as ``verify`` without --full."""
    return _members_problems(storage, members, False, key, {})


def _members_problems(storage, members, full: bool, key: bytes | None, checked) -> list[str]:
    return [f"{member.key} ({member.backup_type}) of its chain: {problem}"
            for member in members
            for problem in _objects_problems(storage, member, full, key, checked)]


def _objects_problems(storage, record: BackupRecord, full: bool, key: bytes | None,
                      checked) -> list[str]:
    if record.key not in checked:
        checked[record.key] = _check_data(storage, record, full, key) + _check_tablespaces(
            storage, record, full, key) + _check_manifest(
            storage, record, full, key)
    return checked[record.key]


def _check_manifest(storage, record: BackupRecord, full: bool,
                    key: bytes | None = None) -> list[str]:
    if record.manifest_object is None:
        return []
    return _check_object(storage, record, record.manifest_object, record.manifest_size,
                         record.manifest_sha256, "manifest object", full, key)


def _check_data(storage, record: BackupRecord, full: bool, key: bytes | None = None) -> list[str]:
    return _check_object(storage, record, record.data_object, record.stored_size, record.sha256,
                         "backup object", full, key)


def _check_object(storage, record: BackupRecord, name: str, stored_size, sha256, what: str,
                  full: bool, key: bytes | None) -> list[str]:
    try:
        info = storage.stat(name)
    except errors.ObjectNotFound:
        return [f"{what} {name} is missing"]
    if stored_size is not None and info.size != stored_size:
        return [f"{what} {name} holds {info.size} bytes, {stored_size} were stored"]
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
        return [f"{what} {name} disappeared while being read"]
    except errors.IntegrityError as exc:  # the decryption's verdict names the object
        return [f"{what} {exc.message}"]
    if stored_size is not None and hashing.size != stored_size:
        return [f"{what} {name}: read {hashing.size} bytes, {stored_size} were stored"]
    if sha256 is not None and hashing.sha256 != sha256:
        return [f"{what} {name} does not match its recorded SHA-256 (corrupted)"]
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
