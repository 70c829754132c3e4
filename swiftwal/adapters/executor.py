"""Applies prune and cleanup plans to a store, in crash-safe order.

A backup's metadata object goes first (the backup stops being listed), then
its data; WAL goes oldest first, so an interrupted run leaves a catalogue in
which every listed backup is complete and the archive has no hole.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

from swiftwal.domain import layout


def backup_objects(record) -> list[str]:
    if record.legacy:
        return [layout.legacy_backup_label_name(str(record.key)), record.data_object]
    return [layout.backup_metadata_name(record.key), record.data_object]


def delete_backups(storage, records: Iterable, on_deleted: Callable[[str], None]) -> None:
    for record in records:
        for name in backup_objects(record):
            storage.delete([name])
            on_deleted(name)


def delete_wal(storage, wal_files: Sequence, stored_names: Mapping[object, list[str]],
               order_key: Callable, on_deleted: Callable[[str], None], batch: int = 1000) -> None:
    names = [name for wal_file in sorted(wal_files, key=order_key) for name in stored_names[wal_file]]
    for start in range(0, len(names), batch):
        chunk = names[start:start + batch]
        storage.delete(chunk)
        for name in chunk:
            on_deleted(name)
