"""Backups: their keys, their ``backup_label`` and the record swiftwal keeps of each."""
from __future__ import annotations

import datetime
import re
from typing import Any, Mapping, Optional, Tuple

import attrs

from swiftwal.domain.errors import InvalidBackupKey, InvalidInput
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walnames import (DEFAULT_SEGMENT_SIZE, Segment,
                                      validate_segment_size)

_KEY_RE = re.compile(r"(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})?Z")
UTC = datetime.timezone.utc


def _check_moment(instance: BackupKey, attribute: object, value: datetime.datetime) -> None:
    if (not isinstance(value, datetime.datetime) or value.utcoffset() != datetime.timedelta(0)
            or value.microsecond):
        raise InvalidBackupKey(f"backup key time {value!r} must be an aware utc datetime "
                               "without fractions of a second")


@attrs.frozen(order=True)
class BackupKey:
    """The UTC start time of a backup in ISO 8601 basic form: ``20130828T1810Z`` (the
    minute form of swiftwal 0.2.2) or ``20130828T181005Z``.  Both forms order by time;
    at the same time the minute form sorts first."""

    time: datetime.datetime = attrs.field(validator=_check_moment)
    with_seconds: bool = True

    def __attrs_post_init__(self) -> None:
        if not self.with_seconds and self.time.second:
            raise InvalidBackupKey(f"backup key time {self.time} has seconds but is in "
                                   "minute form")

    @classmethod
    def parse(cls, text: str) -> BackupKey:
        match = _KEY_RE.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidBackupKey(f"invalid backup key {text!r}: expected a UTC time like "
                                   "20130828T1810Z or 20130828T181005Z")
        year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
        try:
            moment = datetime.datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            raise InvalidBackupKey(f"invalid backup key {text!r}: {exc}") from None
        return cls(moment, match.group(6) is not None)

    @classmethod
    def from_datetime(cls, moment: datetime.datetime) -> BackupKey:
        """The key (seconds form) of a backup started at ``moment``, an aware datetime."""
        if not isinstance(moment, datetime.datetime) or moment.utcoffset() is None:
            raise InvalidBackupKey(f"backup time {moment!r} must be an aware datetime")
        return cls(moment.astimezone(UTC).replace(microsecond=0), True)

    def __str__(self) -> str:
        t = self.time
        seconds = f"{t.second:02d}" if self.with_seconds else ""
        return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{seconds}Z"


@attrs.frozen
class BackupLabel:
    """What swiftwal uses of a ``backup_label`` file."""

    start_lsn: Lsn
    start_segment: Segment
    timeline: int
    checkpoint_lsn: Optional[Lsn] = None
    backup_method: Optional[str] = None
    backup_from: Optional[str] = None
    start_time: Optional[str] = None
    label: Optional[str] = None


_START_RE = re.compile(r"(\S+) \(file ([0-9A-F]{24})\)")


def parse_backup_label(text: str, segment_size: int = DEFAULT_SEGMENT_SIZE) -> BackupLabel:
    """Parse the ``backup_label`` PostgreSQL writes (9.1 to 18); unknown lines are ignored."""
    if not isinstance(text, str):
        raise InvalidInput(f"backup label is not text: {text!r}")
    fields = {}
    for line in text.split("\n"):
        name, sep, value = line.partition(": ")
        if sep and name not in fields:
            fields[name] = value.rstrip("\r")
    start = fields.get("START WAL LOCATION")
    match = _START_RE.fullmatch(start) if start is not None else None
    if match is None:
        raise InvalidInput(f"invalid backup label: no valid START WAL LOCATION line in {text!r}")
    start_lsn = Lsn.parse(match.group(1))
    start_segment = Segment.parse(match.group(2), segment_size)
    if Segment.holding(start_segment.timeline, start_lsn, segment_size) != start_segment:
        raise InvalidInput(f"invalid backup label: {start_lsn} is not in {start_segment}",
                           hint="is the wal segment size right?")
    timeline = start_segment.timeline
    if "START TIMELINE" in fields:  # PostgreSQL 11 and later
        try:
            timeline = int(fields["START TIMELINE"])
        except ValueError:
            raise InvalidInput(f"invalid backup label: START TIMELINE "
                               f"{fields['START TIMELINE']!r} is not a number") from None
        if timeline != start_segment.timeline:
            raise InvalidInput(f"invalid backup label: START TIMELINE {timeline} does not match "
                               f"{start_segment}")
    checkpoint = fields.get("CHECKPOINT LOCATION")
    return BackupLabel(start_lsn, start_segment, timeline,
                       Lsn.parse(checkpoint) if checkpoint is not None else None,
                       fields.get("BACKUP METHOD"), fields.get("BACKUP FROM"),
                       fields.get("START TIME"), fields.get("LABEL"))


def _optional(kind: type):
    return attrs.validators.optional(attrs.validators.instance_of(kind))


def _size(instance: object, attribute: attrs.Attribute, value: Optional[int]) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 0):
        raise InvalidInput(f"{attribute.name} {value!r} is not a size in bytes")


def _aware(instance: object, attribute: attrs.Attribute, value: Optional[datetime.datetime]
           ) -> None:
    if value is not None and (not isinstance(value, datetime.datetime)
                              or value.utcoffset() is None):
        raise InvalidInput(f"{attribute.name} {value!r} is not an aware datetime")


_SHA256_RE = re.compile(r"[0-9a-f]{64}")


def _hex_digest(instance: object, attribute: attrs.Attribute, value: Optional[str]) -> None:
    if value is not None and (not isinstance(value, str) or not _SHA256_RE.fullmatch(value)):
        raise InvalidInput(f"sha256 {value!r} is not 64 lower-case hex digits")


#: The format of a full backup's record.  An old reader (it ignores keys it does
#: not know) takes any format-1 record for a full backup it may restore and prune
#: alone; an incremental one is not that, so it is written as format 2, which those
#: readers refuse ("unsupported backup record format") instead of pruning the full
#: backup it needs or restoring it as if it were whole.
#: A backup of a cluster with tablespaces is format 2 as well: a format-1 reader
#: would restore its data directory alone, whose ``tablespace_map`` then points
#: PostgreSQL at the original tablespaces' directories.
RECORD_FORMAT = 1
INCREMENTAL_RECORD_FORMAT = 2
READABLE_FORMATS = (RECORD_FORMAT, INCREMENTAL_RECORD_FORMAT)

FULL = "full"
INCREMENTAL = "incremental"
BACKUP_TYPES = (FULL, INCREMENTAL)


def _backup_type(value: object) -> None:
    if value not in BACKUP_TYPES:
        raise InvalidInput(f"backup type {value!r} is not one of {', '.join(BACKUP_TYPES)}")


def _keys(instance: object, attribute: attrs.Attribute, value: Tuple[BackupKey, ...]) -> None:
    if not isinstance(value, tuple) or not all(isinstance(k, BackupKey) for k in value):
        raise InvalidInput(f"{attribute.name} {value!r} is not a tuple of backup keys")


def _absolute(instance: object, attribute: attrs.Attribute, value: str) -> None:
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        raise InvalidInput(f"tablespace location {value!r} is not an absolute path")


def _oid(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 1 << 32:
        raise InvalidInput(f"tablespace oid {value!r} is not an object id")


@attrs.frozen
class TablespaceBackup:
    """One tablespace of a backup: its OID, the directory it was in, and the
    object holding its tar (compressed and encrypted as the data object)."""

    oid: int = attrs.field(validator=_oid)
    location: str = attrs.field(validator=_absolute)
    data_object: str = attrs.field(validator=attrs.validators.instance_of(str))
    raw_size: Optional[int] = attrs.field(default=None, validator=_size)
    stored_size: Optional[int] = attrs.field(default=None, validator=_size)
    sha256: Optional[str] = attrs.field(default=None, validator=_hex_digest)

    def to_json_dict(self) -> dict:
        return {"oid": self.oid, "location": self.location, "data_object": self.data_object,
                "raw_size": self.raw_size, "stored_size": self.stored_size,
                "sha256": self.sha256}

    @classmethod
    def from_json_dict(cls, data: Any) -> "TablespaceBackup":
        if not isinstance(data, Mapping):
            raise InvalidInput(f"backup record tablespace is not an object: {data!r}")
        reader = _Reader(data)
        return cls(oid=reader.get("oid", int), location=reader.get("location", str),
                   data_object=reader.get("data_object", str),
                   raw_size=reader.optional("raw_size", int),
                   stored_size=reader.optional("stored_size", int),
                   sha256=reader.optional("sha256", str))


def _tablespaces(instance: object, attribute: attrs.Attribute,
                 value: Tuple[TablespaceBackup, ...]) -> None:
    if not isinstance(value, tuple) or not all(isinstance(t, TablespaceBackup) for t in value):
        raise InvalidInput(f"tablespaces {value!r} is not a tuple of tablespaces")
    oids = [t.oid for t in value]
    if len(set(oids)) != len(oids):
        raise InvalidInput(f"tablespaces {oids} name one oid twice")


BACKUP_FROM = ("primary", "standby")


def _backup_from(value: object) -> None:
    if value is not None and value not in BACKUP_FROM:
        raise InvalidInput(f"backup_from {value!r} is not one of {', '.join(BACKUP_FROM)}")


@attrs.frozen
class BackupRecord:
    """Everything swiftwal knows about one stored backup.

    ``stop_lsn``/``stop_segment`` are None for backups written by swiftwal 0.2.2
    (``legacy``), which kept only the backup label.
    """

    key: BackupKey = attrs.field(validator=attrs.validators.instance_of(BackupKey))
    label: str = attrs.field(validator=attrs.validators.instance_of(str))
    start_lsn: Lsn = attrs.field(validator=attrs.validators.instance_of(Lsn))
    stop_lsn: Optional[Lsn] = attrs.field(validator=_optional(Lsn))
    timeline: int = attrs.field(validator=attrs.validators.instance_of(int))
    start_segment: Segment = attrs.field(validator=attrs.validators.instance_of(Segment))
    stop_segment: Optional[Segment] = attrs.field(validator=_optional(Segment))
    pg_version: Optional[str] = attrs.field(validator=_optional(str))
    system_identifier: Optional[str] = attrs.field(validator=_optional(str))
    segment_size: int = attrs.field(validator=lambda i, a, v: validate_segment_size(v))
    raw_size: Optional[int] = attrs.field(validator=_size)
    stored_size: Optional[int] = attrs.field(validator=_size)
    data_object: str = attrs.field(validator=attrs.validators.instance_of(str))
    compression: str = attrs.field(validator=attrs.validators.instance_of(str))
    sha256: Optional[str] = attrs.field(validator=_hex_digest)
    wal_included: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    finished_at: Optional[datetime.datetime] = attrs.field(validator=_aware)
    legacy: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    #: Client-side encryption of the data object (an algorithm name such as
    #: ``aes-256-gcm``, and the key's public id), None when stored in clear.
    encryption: Optional[str] = attrs.field(default=None, validator=_optional(str))
    encryption_key_id: Optional[str] = attrs.field(default=None, validator=_optional(str))
    #: ``full``, or ``incremental`` (``pg_basebackup --incremental``): only the blocks
    #: changed since ``parent``; restoring it needs every backup of ``chain``.
    backup_type: str = attrs.field(default=FULL, validator=lambda i, a, v: _backup_type(v))
    parent: Optional[BackupKey] = attrs.field(default=None, validator=_optional(BackupKey))
    #: The backups an incremental is built on, oldest (the full one) first, ending with
    #: ``parent``; empty for a full backup.
    chain: Tuple[BackupKey, ...] = attrs.field(default=(), converter=tuple, validator=_keys)
    #: The ``backup_manifest`` (PostgreSQL 13 and later), stored beside the data
    #: object, compressed and encrypted as it is: its name, stored size and SHA-256.
    manifest_object: Optional[str] = attrs.field(default=None, validator=_optional(str))
    manifest_size: Optional[int] = attrs.field(default=None, validator=_size)
    manifest_sha256: Optional[str] = attrs.field(default=None, validator=_hex_digest)
    #: The cluster's tablespaces besides ``pg_default`` and ``pg_global``, each in an
    #: object of its own; the data object holds the data directory.
    tablespaces: Tuple[TablespaceBackup, ...] = attrs.field(default=(), converter=tuple,
                                                           validator=_tablespaces)
    #: ``primary`` or ``standby`` (backup_label's BACKUP FROM): where it was taken,
    #: None when not recorded.
    backup_from: Optional[str] = attrs.field(default=None, validator=lambda i, a, v: _backup_from(v))

    def __attrs_post_init__(self) -> None:
        if self.backup_type == FULL:
            if self.parent is not None or self.chain:
                raise InvalidInput(f"full backup {self.key} has a parent")
            return
        if self.parent is None or not self.chain or self.chain[-1] != self.parent:
            raise InvalidInput(f"incremental backup {self.key} must name its parent last "
                               "in its chain")
        if list(self.chain) != sorted(set(self.chain)) or not self.parent < self.key:
            raise InvalidInput(f"incremental backup {self.key}: its chain must be older "
                               "backups, oldest first")

    @property
    def incremental(self) -> bool:
        return self.backup_type == INCREMENTAL

    @property
    def record_format(self) -> int:
        return INCREMENTAL_RECORD_FORMAT if self.incremental or self.tablespaces \
            else RECORD_FORMAT

    def stored_objects(self) -> Tuple[Tuple[str, Optional[int], Optional[str]], ...]:
        """Every object holding the backup's data (the data object first, then
        each tablespace's): name, stored size and SHA-256 as recorded."""
        return ((self.data_object, self.stored_size, self.sha256),
                *((t.data_object, t.stored_size, t.sha256) for t in self.tablespaces))

    @property
    def total_stored_size(self) -> Optional[int]:
        """The bytes stored for the backup's data, tablespaces included."""
        if self.stored_size is None:
            return None
        return self.stored_size + sum(t.stored_size or 0 for t in self.tablespaces)

    @property
    def total_raw_size(self) -> Optional[int]:
        if self.raw_size is None:
            return None
        return self.raw_size + sum(t.raw_size or 0 for t in self.tablespaces)

    def consistency_range(self) -> Tuple[Segment, Optional[Segment]]:
        """The WAL that makes the backup consistent: start to stop segment (None: unknown)."""
        return self.start_segment, self.stop_segment

    def start_number(self) -> int:
        return self.start_segment.number(self.segment_size)

    def on_path_of(self, history: TimelineHistory) -> bool:
        """Whether recovery from this backup can follow the timeline of ``history``: the
        whole backup, start to stop, lies on that path.  A backup that a timeline left
        while it ran never becomes consistent there (PostgreSQL stops with "online
        backup was canceled").  A 0.2.2 backup's end is unknown: its start decides."""
        stop = self.stop_lsn if self.stop_lsn is not None else self.start_lsn
        return history.holds_range(self.start_lsn, stop, self.timeline)

    def needed_for_pitr(self, segment: Segment,
                        histories: Mapping[int, TimelineHistory]) -> bool:
        """Whether recovery from this backup to some point may read ``segment``.

        That is every segment from the start segment onwards on the backup's
        own timeline and on every timeline whose path holds the whole backup
        (``on_path_of``).  A timeline whose history file is missing might
        descend from this one (children have larger ids), so it is kept.
        """
        if segment.number(self.segment_size) < self.start_number():
            return False
        if segment.timeline == self.timeline:
            return True
        if segment.timeline < self.timeline:
            return False
        history = histories.get(segment.timeline)
        if history is None:
            return True
        return self.on_path_of(history)

    def to_json_dict(self) -> dict:
        """A JSON-ready dict in the stable record format (see ``from_json_dict``)."""
        def text(value: Any) -> Optional[str]:
            return None if value is None else str(value)
        return {
            "format": self.record_format,
            "key": str(self.key),
            "label": self.label,
            "start_lsn": str(self.start_lsn),
            "stop_lsn": text(self.stop_lsn),
            "timeline": self.timeline,
            "start_segment": str(self.start_segment),
            "stop_segment": text(self.stop_segment),
            "pg_version": self.pg_version,
            "system_identifier": self.system_identifier,
            "segment_size": self.segment_size,
            "raw_size": self.raw_size,
            "stored_size": self.stored_size,
            "data_object": self.data_object,
            "compression": self.compression,
            "sha256": self.sha256,
            "wal_included": self.wal_included,
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
            "legacy": self.legacy,
            "encryption": self.encryption,
            "encryption_key_id": self.encryption_key_id,
            "type": self.backup_type,
            "parent": text(self.parent),
            "chain": [str(key) for key in self.chain],
            "manifest_object": self.manifest_object,
            "manifest_size": self.manifest_size,
            "manifest_sha256": self.manifest_sha256,
            "tablespaces": [t.to_json_dict() for t in self.tablespaces],
            "backup_from": self.backup_from,
        }

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> BackupRecord:
        """Build a record from ``to_json_dict`` output; unknown keys are ignored so that
        later versions may add fields, but a newer ``format`` is refused.  Format 2
        is that of an incremental backup or one with tablespaces (see ``RECORD_FORMAT``)."""
        if not isinstance(data, Mapping):
            raise InvalidInput(f"backup record is not an object: {data!r}")
        reader = _Reader(data)
        version = data.get("format", RECORD_FORMAT)
        if version not in READABLE_FORMATS or isinstance(version, bool):
            raise InvalidInput(f"unsupported backup record format {version!r}",
                               hint="written by a newer swiftwal?")
        backup_type = reader.optional("type", str) or FULL
        tablespaces = tuple(TablespaceBackup.from_json_dict(t)
                            for t in reader.optional("tablespaces", list) or ())
        if (version == INCREMENTAL_RECORD_FORMAT) != (backup_type == INCREMENTAL
                                                      or bool(tablespaces)):
            raise InvalidInput(f"backup record of format {version} cannot be of type "
                               f"{backup_type!r}" + (" with tablespaces" if tablespaces else ""))
        segment_size = reader.get("segment_size", int)
        validate_segment_size(segment_size)
        key = reader.get("key", str)
        try:
            return cls(
                key=BackupKey.parse(key),
                label=reader.get("label", str),
                start_lsn=Lsn.parse(reader.get("start_lsn", str)),
                stop_lsn=reader.optional("stop_lsn", str, Lsn.parse),
                timeline=reader.get("timeline", int),
                start_segment=Segment.parse(reader.get("start_segment", str), segment_size),
                stop_segment=reader.optional(
                    "stop_segment", str, lambda s: Segment.parse(s, segment_size)),
                pg_version=reader.optional("pg_version", str),
                system_identifier=reader.optional("system_identifier", str),
                segment_size=segment_size,
                raw_size=reader.optional("raw_size", int),
                stored_size=reader.optional("stored_size", int),
                data_object=reader.get("data_object", str),
                compression=reader.get("compression", str),
                sha256=reader.optional("sha256", str),
                wal_included=reader.get("wal_included", bool),
                finished_at=reader.optional("finished_at", str, _parse_time),
                legacy=bool(reader.optional("legacy", bool) or False),
                encryption=reader.optional("encryption", str),
                encryption_key_id=reader.optional("encryption_key_id", str),
                backup_type=backup_type,
                parent=reader.optional("parent", str, BackupKey.parse),
                chain=tuple(BackupKey.parse(_text_item("chain", k))
                            for k in reader.optional("chain", list) or ()),
                manifest_object=reader.optional("manifest_object", str),
                manifest_size=reader.optional("manifest_size", int),
                manifest_sha256=reader.optional("manifest_sha256", str),
                tablespaces=tablespaces,
                backup_from=reader.optional("backup_from", str),
            )
        except InvalidInput as exc:
            raise type(exc)(f"invalid backup record {key}: {exc.message}", exc.hint) from None


def _text_item(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"backup record field {name!r} holds {value!r}, not a backup key")
    return value


def _parse_time(text: str) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z")
                                                 else text)
    except ValueError:
        raise InvalidInput(f"invalid time {text!r}: expected ISO 8601") from None
    if moment.utcoffset() is None:
        raise InvalidInput(f"invalid time {text!r}: no utc offset")
    return moment


class _Reader:
    """Typed access to a JSON object, naming the field in every error."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data

    def get(self, name: str, kind: type) -> Any:
        if name not in self.data:
            raise InvalidInput(f"backup record has no {name!r}")
        return self._check(name, self.data[name], kind)

    def optional(self, name: str, kind: type, convert: Any = None) -> Any:
        value = self.data.get(name)
        if value is None:
            return None
        value = self._check(name, value, kind)
        return convert(value) if convert is not None else value

    @staticmethod
    def _check(name: str, value: Any, kind: type) -> Any:
        # bool is an int in Python, but not in a JSON schema
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise InvalidInput(f"backup record field {name!r} is not a {kind.__name__}: "
                               f"{value!r}")
        return value


def legacy_backup_record(key: Any, data_object: str, stored_size: Optional[int],
                         label_text: str, segment_size: int = DEFAULT_SEGMENT_SIZE
                         ) -> BackupRecord:
    """The record of a backup written by swiftwal 0.2.2, which kept only its
    ``backup_label``: no stop position, sizes or checksum, gzip-compressed."""
    backup_key = key if isinstance(key, BackupKey) else BackupKey.parse(key)
    label = parse_backup_label(label_text, segment_size)
    return BackupRecord(
        key=backup_key, label=label.label or "", start_lsn=label.start_lsn, stop_lsn=None,
        timeline=label.timeline, start_segment=label.start_segment, stop_segment=None,
        pg_version=None, system_identifier=None, segment_size=segment_size, raw_size=None,
        stored_size=stored_size, data_object=data_object, compression="gzip", sha256=None,
        wal_included=False, finished_at=None, legacy=True)
