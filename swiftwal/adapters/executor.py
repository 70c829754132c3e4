"""Applies prune and cleanup plans to a store, in crash-safe order.

A backup's metadata object goes first (the backup stops being listed), then
its data; WAL goes oldest first, so an interrupted run leaves a catalogue in
which every listed backup is complete and the archive has no hole.
"""
from __future__ import annotations

import datetime
import os
from typing import Callable, Iterable, Iterator, Mapping, Optional, Sequence

import attrs

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
# Finding them needs the adapter's own layout, so this is the one place
# outside the adapters that knows it (read-only listing, then deletes).


@attrs.frozen
class Leftover:
    """Something stored under ``backups/<key>/``: ``kind`` is ``object`` (a
    listed object), ``segment`` (Swift) or ``temp`` (local directory)."""

    key: str
    name: str
    kind: str
    last_modified: Optional[datetime.datetime]


def find_backup_leftovers(storage) -> list[Leftover]:
    """Everything stored under ``backups/``, listed or not, with its key."""
    found = [Leftover(_key_of(info.name), info.name, "object", info.last_modified)
             for info in storage.list(layout.BACKUP_PREFIX)]
    found.extend(_hidden(storage))
    return [item for item in found if item.key]


def delete_leftovers(storage, leftovers: Iterable[Leftover], on_deleted: Callable[[str], None]) -> None:
    """Listed objects through the port (their segments go with them), then the rest."""
    items = list(leftovers)
    for item in items:
        if item.kind == "object":
            storage.delete([item.name])
            on_deleted(item.name)
    for item in items:
        if item.kind == "segment":
            with storage._translating(f"delete {item.name}"):
                try:
                    storage._conn().delete_object(storage.container, item.name)
                except Exception as exc:
                    if getattr(exc, "http_status", None) != 404:
                        raise
            on_deleted(item.name)
        elif item.kind == "temp":
            try:
                os.unlink(item.name)
            except FileNotFoundError:
                pass
            on_deleted(item.name)
    if _is_local(storage):
        for key in {item.key for item in items}:
            try:
                os.rmdir(os.path.join(storage.root, *layout.BACKUP_PREFIX.split("/")[:-1], key))
            except OSError:
                pass  # not empty or already gone


def _key_of(name: str) -> str:
    """``<key>`` of ``backups/<key>/...`` (empty for anything else)."""
    if not name.startswith(layout.BACKUP_PREFIX):
        return ""
    key, sep, _rest = name[len(layout.BACKUP_PREFIX):].partition("/")
    return key if sep else ""


def _is_local(storage) -> bool:
    from swiftwal.adapters.storage.local import LocalStorage

    return isinstance(storage, LocalStorage)


def _hidden(storage) -> Iterator[Leftover]:
    if _is_local(storage):
        yield from _local_temp_files(storage.root)
        return
    from swiftwal.adapters.storage.swift import SwiftStorage
    from swiftwal.adapters.storage.swift_wire import SEGMENTS, info_from_listing

    if not isinstance(storage, SwiftStorage):
        return
    prefix = SEGMENTS + layout.BACKUP_PREFIX
    with storage._translating(f"list {prefix}"):
        try:
            _, items = storage._conn().get_container(storage.container, prefix=prefix,
                                                     full_listing=True)
        except Exception as exc:
            if getattr(exc, "http_status", None) != 404:
                raise
            items = []
    for item in items:
        info = info_from_listing(item)
        yield Leftover(_key_of(info.name[len(SEGMENTS):]), info.name, "segment", info.last_modified)


def _local_temp_files(root: str) -> Iterator[Leftover]:
    from swiftwal.adapters.storage.port import RESERVED_COMPONENT_PREFIX

    top = os.path.join(root, *layout.BACKUP_PREFIX.split("/")[:-1])
    for directory, _dirs, files in os.walk(top):
        relative = os.path.relpath(directory, top)
        key = relative.split(os.sep)[0] if relative != "." else ""
        for name in files:
            if name.startswith(RESERVED_COMPONENT_PREFIX):
                path = os.path.join(directory, name)
                try:
                    moment = datetime.datetime.fromtimestamp(os.lstat(path).st_mtime, datetime.timezone.utc)
                except FileNotFoundError:
                    continue
                yield Leftover(key, path, "temp", moment)
