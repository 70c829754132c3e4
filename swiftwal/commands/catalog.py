"""Reading what a container holds: backups (current and 0.2.2 layout), WAL
files and timeline histories, as domain values for the planners."""
from __future__ import annotations

import json
from typing import Iterable

import attrs

from swiftwal.domain import errors, layout
from swiftwal.domain.backup import BackupKey, BackupRecord, legacy_backup_record
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walnames import HistoryFile, Segment, WalFile, parse_wal_filename


@attrs.frozen
class StoredWal:
    wal_file: WalFile
    stored: layout.WalObject
    size: int
    last_modified: object = None


def load_backups(storage) -> list[BackupRecord]:
    """Complete backups, oldest first.  A backup without its metadata object
    (current layout) is an interrupted one and is not listed."""
    records: dict[str, BackupRecord] = {}
    legacy: dict[str, tuple[str, int]] = {}
    for info in storage.list(layout.BACKUP_PREFIX):
        key = layout.parse_backup_metadata_name(info.name)
        if key is not None:
            with storage.get(info.name) as reader:
                records[key] = _parse_record(info.name, reader.read())
    for info in storage.list(layout.LEGACY_BACKUP_PREFIX):
        legacy_key = layout.parse_legacy_backup_name(info.name)
        if legacy_key is not None:
            legacy[legacy_key] = (info.name, info.size)
    for key, (name, size) in legacy.items():
        if key not in records:
            record = legacy_backup_record(key, name, size, _legacy_label(storage, key, name))
            records[key] = _legacy_complete(storage, record)
    return sorted(records.values(), key=lambda record: record.key)


def _legacy_complete(storage, record: BackupRecord) -> BackupRecord:
    """0.2.2 kept no sizes nor end: a Dynamic Large Object manifest is listed as 0 bytes
    (its HEAD gives the whole size), and the end is in the ``.backup`` file PostgreSQL
    archived, under either layout's name."""
    from swiftwal.adapters.compression import decompress_bytes
    from swiftwal.domain.recovery import backup_history_end

    try:
        size = storage.stat(record.data_object).size
    except errors.ObjectNotFound:
        size = None
    offset = record.start_lsn.value % record.segment_size
    history_name = f"{record.start_segment}.{offset:08X}.backup"
    stop_lsn = stop_name = finished = None
    for candidate in layout.wal_candidates(history_name, "gzip"):
        try:
            with storage.get(candidate.object_name) as reader:
                data = decompress_bytes(candidate.compression, reader.read())
            text = data.decode("utf-8", "replace")
        except errors.ObjectNotFound:
            continue
        stop_lsn, stop_name, finished = backup_history_end(text)
        break
    stop_segment = None
    if stop_name is not None:
        stop_segment = Segment.parse(stop_name, record.segment_size)
    return attrs.evolve(record, stored_size=size, stop_lsn=stop_lsn, stop_segment=stop_segment,
                        finished_at=finished)


def _parse_record(name: str, payload: bytes) -> BackupRecord:
    try:
        return BackupRecord.from_json_dict(json.loads(payload))
    except (ValueError, KeyError, TypeError) as exc:
        raise errors.IntegrityError(f"backup metadata {name} is unreadable ({exc})") from None


def _legacy_label(storage, key: str, data_name: str) -> str:
    """0.2.2 wrote backup_label_<KEY>.txt, or left it to be read from the tarball's head."""
    try:
        with storage.get(layout.legacy_backup_label_name(key)) as reader:
            return reader.read().decode("utf-8", "replace")
    except errors.ObjectNotFound:
        pass
    import tarfile

    with storage.get(data_name) as reader:
        with tarfile.open(fileobj=reader, mode="r|gz") as archive:
            for member in archive:
                if member.name.lstrip("./") == "backup_label":
                    return archive.extractfile(member).read().decode("utf-8", "replace")
    raise errors.IntegrityError(f"{data_name} has no backup_label")


def find_backup(storage, key_text: str) -> BackupRecord:
    backups = load_backups(storage)
    if key_text == "latest":
        if not backups:
            raise errors.BackupNotFound(f"there is no backup in {storage.describe()}")
        return backups[-1]
    return find_backup_in(backups, key_text, storage)


def find_backup_in(backups: Iterable[BackupRecord], key_text: str, storage) -> BackupRecord:
    key = BackupKey.parse(key_text)
    for record in backups:
        if record.key == key:
            return record
    raise errors.BackupNotFound(f"backup {key_text} is not in {storage.describe()}",
                                hint="see 'swiftwal list-backups'")


def load_wal(storage, segment_size: int) -> list[StoredWal]:
    """Every WAL object, parsed; objects with other names under the WAL
    prefixes are not ours to judge and are left out."""
    found = []
    for prefix in (layout.WAL_PREFIX, layout.LEGACY_WAL_PREFIX):
        for info in storage.list(prefix):
            stored = layout.parse_wal_object(info.name)
            if stored is None:
                continue
            try:
                wal_file = parse_wal_filename(stored.wal_name, segment_size)
            except errors.InvalidWalName:
                continue
            found.append(StoredWal(wal_file, stored, info.size, info.last_modified))
    return found


def object_names_by_wal(wal: Iterable[StoredWal]) -> dict[WalFile, list[str]]:
    """A WAL file may be stored more than once (another codec, the 0.2.2 name)."""
    names: dict[WalFile, list[str]] = {}
    for item in wal:
        names.setdefault(item.wal_file, []).append(item.stored.object_name)
    return names


def load_histories(storage, wal: Iterable[StoredWal],
                   key: bytes | None = None) -> dict[int, TimelineHistory]:
    """The timeline history files of the archive, decrypted with ``key`` where
    they are encrypted (their metadata names the key, so a wrong one says so)."""
    from swiftwal.adapters import crypto
    from swiftwal.adapters.compression import decompress_bytes

    histories = {}
    for item in wal:
        if isinstance(item.wal_file, HistoryFile) and item.wal_file.timeline not in histories:
            name = item.stored.object_name
            with storage.get(name) as reader:
                data = crypto.plain_stored(reader.read(), key, name, reader.info.metadata)
            text = decompress_bytes(item.stored.compression, data).decode("utf-8", "replace")
            histories[item.wal_file.timeline] = TimelineHistory.parse(item.wal_file.timeline, text)
    return histories
