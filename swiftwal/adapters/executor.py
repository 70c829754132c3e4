"""Applies prune and cleanup plans to a store, in crash-safe order.

A backup's metadata object goes first (the backup stops being listed), then
its data; backups go newest first, so that an incremental backup is gone
before the backups its chain holds; WAL goes oldest first.  An interrupted run
leaves a catalogue in which every listed backup is complete, every chain whole
and the archive without a hole.
"""
from __future__ import annotations

import datetime
from typing import Callable, Iterable, Mapping, Optional, Sequence

import attrs

from swiftwal.domain import layout


def backup_objects(record) -> list[str]:
    if record.legacy:
        return [layout.legacy_backup_label_name(str(record.key)), record.data_object]
    return [layout.backup_metadata_name(record.key), record.data_object,
            *(tablespace.data_object for tablespace in record.tablespaces),
            *([record.manifest_object] if record.manifest_object else [])]


def delete_backups(storage, records: Iterable, on_deleted: Callable[[str], None]) -> None:
    for record in sorted(records, key=lambda r: r.key, reverse=True):
        for name in backup_objects(record):
            storage.delete([name])
            on_deleted(name)
        if record.legacy:  # 0.2.2's Dynamic Large Object: its manifest does not own them
            segments = [info.name for info in storage.list(f"...seg/{record.data_object}/")]
            storage.delete(segments)
            for name in segments:
                on_deleted(name)


def delete_wal(storage, wal_files: Sequence, stored_names: Mapping[object, list[str]],
               order_key: Callable, on_deleted: Callable[[str], None], batch: int = 1000) -> None:
    names = [name for wal_file in sorted(wal_files, key=order_key) for name in stored_names[wal_file]]
    for start in range(0, len(names), batch):
        chunk = names[start:start + batch]
        storage.delete(chunk)
        for name in chunk:
            on_deleted(name)


# -- leftovers of interrupted backups -------------------------------------------------------
#
# A killed backup leaves what the port never lists: the Swift adapter's
# large-object segments without a manifest, the local adapter's temp files.
# The port hands them out as parts (``list_parts``), each with the name it
# was stored under, from which the backup's key follows.


@attrs.frozen
class Leftover:
    """Something stored under ``backups/<key>/``: ``kind`` is ``object`` (a
    listed object) or the kind of a store's hidden ``part`` (``segment`` for
    Swift, ``temp`` or ``metadata`` for a local directory)."""

    key: str
    name: str
    kind: str
    last_modified: Optional[datetime.datetime]
    #: The store's ``Part``, for anything but a listed object.
    part: object = None


def find_backup_leftovers(storage) -> list[Leftover]:
    """Everything stored under ``backups/``, listed or not, with its key."""
    found = [Leftover(_key_of(info.name), info.name, "object", info.last_modified)
             for info in storage.list(layout.BACKUP_PREFIX)]
    found.extend(Leftover(_key_of(part.under), part.name, part.kind, part.last_modified, part)
                 for part in storage.list_parts(layout.BACKUP_PREFIX))
    return [item for item in found if item.key]


def delete_leftovers(storage, leftovers: Iterable[Leftover], on_deleted: Callable[[str], None]) -> None:
    """Listed objects through the port (their segments go with them), then the
    rest, then whatever the store kept for each key's name (a directory)."""
    items = list(leftovers)
    for item in items:
        if item.kind == "object":
            storage.delete([item.name])
            on_deleted(item.name)
    for item in items:
        if item.kind != "object":
            storage.delete_parts([item.part])
            on_deleted(item.name)
    for key in {item.key for item in items}:
        storage.tidy(f"{layout.BACKUP_PREFIX}{key}/")


def _key_of(name: str) -> str:
    """``<key>`` of ``backups/<key>/...`` (empty for anything else)."""
    if not name.startswith(layout.BACKUP_PREFIX):
        return ""
    key, sep, _rest = name[len(layout.BACKUP_PREFIX):].partition("/")
    return key if sep else ""
