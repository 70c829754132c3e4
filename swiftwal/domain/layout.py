"""Where things live in a container: the object layout, both the current one
and the one swiftwal 0.2.2 wrote (read for compatibility).

Current layout (readable with the ``swift`` client)::

    wal/<NAME>.zst | wal/<NAME>.gz        one WAL file (segment, .history, .backup, .partial)
    backups/<KEY>/base.tar.zst | .tar.gz  the pg_basebackup tar stream, compressed
    backups/<KEY>/backup_manifest.zst     its backup_manifest (PostgreSQL 13+), compressed
                  | backup_manifest.gz    alike: what an incremental backup is based on
    backups/<KEY>/<OID>.tar.zst | .tar.gz each tablespace's tar, compressed
    backups/<KEY>/backup.json             the backup's metadata; written last: a backup
                                          exists only once this object does
    swiftwal.json                         the system identifier of the one cluster
                                          allowed to write here
    .segments/...                         large-object segments (owned by their manifest)

0.2.2 layout (read, listed, restored from and pruned; never written)::

    wal_<NAME>.gz, pg_basebackup_<KEY>.tgz, backup_label_<KEY>.txt

The two never share a prefix, so each tool's listings ignore the other's objects.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:  # the archive-wal path needs names only, not the backup model
    from swiftwal.domain.backup import BackupKey

IDENTITY_OBJECT = "swiftwal.json"
WAL_PREFIX = "wal/"
BACKUP_PREFIX = "backups/"
BACKUP_METADATA = "backup.json"
BACKUP_MANIFEST = "backup_manifest"
LEGACY_WAL_PREFIX = "wal_"
LEGACY_BACKUP_PREFIX = "pg_basebackup_"
LEGACY_LABEL_PREFIX = "backup_label_"

CODEC_SUFFIXES = {"zstd": ".zst", "gzip": ".gz"}
_SUFFIX_CODECS = {suffix: codec for codec, suffix in CODEC_SUFFIXES.items()}


@attrs.frozen
class WalObject:
    """A stored WAL file: its PostgreSQL name and how it was stored."""

    wal_name: str
    object_name: str
    compression: str
    legacy: bool = False


def wal_object_name(wal_name: str, compression: str) -> str:
    return f"{WAL_PREFIX}{wal_name}{CODEC_SUFFIXES[compression]}"


def wal_candidates(wal_name: str, preferred: str) -> tuple[WalObject, ...]:
    """The names under which ``wal_name`` may be stored, most likely first."""
    codecs = [preferred] + [c for c in CODEC_SUFFIXES if c != preferred]
    current = tuple(WalObject(wal_name, wal_object_name(wal_name, c), c) for c in codecs)
    return current + (WalObject(wal_name, f"{LEGACY_WAL_PREFIX}{wal_name}.gz", "gzip", True),)


def parse_wal_object(object_name: str) -> WalObject | None:
    """The WAL object behind a listed name, or None for any other object."""
    if object_name.startswith(WAL_PREFIX):
        stem = object_name[len(WAL_PREFIX):]
        for suffix, codec in _SUFFIX_CODECS.items():
            if stem.endswith(suffix) and "/" not in stem:
                return WalObject(stem[: -len(suffix)], object_name, codec)
        return None
    if object_name.startswith(LEGACY_WAL_PREFIX) and object_name.endswith(".gz"):
        return WalObject(object_name[len(LEGACY_WAL_PREFIX):-3], object_name, "gzip", True)
    return None


def backup_data_name(key: BackupKey, compression: str) -> str:
    return f"{BACKUP_PREFIX}{key}/base.tar{CODEC_SUFFIXES[compression]}"


def backup_manifest_name(key: BackupKey, compression: str) -> str:
    return f"{BACKUP_PREFIX}{key}/{BACKUP_MANIFEST}{CODEC_SUFFIXES[compression]}"


def backup_tablespace_name(key: BackupKey, oid: int, compression: str) -> str:
    """The object holding tablespace ``oid``'s tar (pg_basebackup's ``OID.tar``)."""
    return f"{BACKUP_PREFIX}{key}/{oid}.tar{CODEC_SUFFIXES[compression]}"


def backup_metadata_name(key: BackupKey) -> str:
    return f"{BACKUP_PREFIX}{key}/{BACKUP_METADATA}"


def backup_prefix(key: BackupKey) -> str:
    return f"{BACKUP_PREFIX}{key}/"


def parse_backup_metadata_name(object_name: str) -> str | None:
    """The key text of a current-layout metadata object name, else None."""
    if object_name.startswith(BACKUP_PREFIX) and object_name.endswith("/" + BACKUP_METADATA):
        key = object_name[len(BACKUP_PREFIX):-len(BACKUP_METADATA) - 1]
        return key if "/" not in key else None
    return None


def legacy_backup_data_name(key: str) -> str:
    return f"{LEGACY_BACKUP_PREFIX}{key}.tgz"


def legacy_backup_label_name(key: str) -> str:
    return f"{LEGACY_LABEL_PREFIX}{key}.txt"


def parse_legacy_backup_name(object_name: str) -> str | None:
    if object_name.startswith(LEGACY_BACKUP_PREFIX) and object_name.endswith(".tgz"):
        return object_name[len(LEGACY_BACKUP_PREFIX):-4]
    return None
