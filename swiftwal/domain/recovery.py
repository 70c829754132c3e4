"""Recovery to a target: which backup can reach it and the settings PostgreSQL 12+
reads (``postgresql.auto.conf`` lines and a signal file).  Pure: the caller lists
the store and writes the files."""
from __future__ import annotations

import datetime
import re
from typing import Mapping, Optional, Sequence, Tuple

import attrs

from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.errors import InvalidInput, UsageError
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.timeline import TimelineHistory

TARGET_KINDS = ("time", "name", "lsn", "xid")
TARGET_ACTIONS = ("pause", "promote", "shutdown")
#: Every setting this module writes; stale copies of them are dropped first, since
#: PostgreSQL refuses to start with two recovery targets.
MANAGED_SETTINGS = ("restore_command", "recovery_target", "recovery_target_time",
                    "recovery_target_name", "recovery_target_lsn", "recovery_target_xid",
                    "recovery_target_action", "recovery_target_timeline",
                    "recovery_target_inclusive")

_TIMELINE_RE = re.compile(r"latest|current|[1-9][0-9]{0,9}")
_XID_RE = re.compile(r"[0-9]{1,20}")


def parse_target_time(text: str) -> datetime.datetime:
    """An ISO 8601 time with its zone (``2026-11-29T06:54:16+01:00``, ``...Z``)."""
    stripped = text.strip() if isinstance(text, str) else ""
    if stripped.endswith(("Z", "z")):
        stripped = stripped[:-1] + "+00:00"
    try:
        moment = datetime.datetime.fromisoformat(stripped)
    except ValueError:
        raise InvalidInput(f"invalid target time {text!r}",
                           hint="use ISO 8601 with a zone, like 2026-11-29T06:54:16+00:00") from None
    if moment.utcoffset() is None:
        raise InvalidInput(f"target time {text!r} has no time zone",
                           hint="add one: Z or +HH:MM; the server's zone would be a guess")
    return moment


@attrs.frozen
class RecoveryTarget:
    """Where recovery stops: ``kind`` is one of ``TARGET_KINDS`` or None (end of archive)."""

    kind: Optional[str] = None
    value: object = None
    action: Optional[str] = None
    timeline: Optional[str] = None
    standby: bool = False

    @classmethod
    def build(cls, time: Optional[str] = None, name: Optional[str] = None,
              lsn: Optional[str] = None, xid: Optional[str] = None,
              action: Optional[str] = None, timeline: Optional[str] = None,
              standby: bool = False) -> RecoveryTarget:
        given = [(kind, value) for kind, value in zip(TARGET_KINDS, (time, name, lsn, xid))
                 if value is not None]
        if len(given) > 1:
            raise UsageError("give at most one of --target-time, --target-name, --target-lsn, "
                             "--target-xid")
        kind, raw = given[0] if given else (None, None)
        if standby and kind is not None:
            raise UsageError("--standby follows the archive and takes no recovery target")
        if action is not None and kind is None:
            raise UsageError("--target-action needs a target (--target-time, -name, -lsn or -xid)")
        if action is not None and action not in TARGET_ACTIONS:
            raise UsageError(f"--target-action must be one of {', '.join(TARGET_ACTIONS)}")
        if timeline is not None and not _TIMELINE_RE.fullmatch(timeline):
            raise UsageError(f"invalid --target-timeline {timeline!r}",
                             hint="latest, current or a timeline number")
        value: object = raw
        if kind == "time":
            value = parse_target_time(raw)
        elif kind == "lsn":
            value = Lsn.parse(raw)
        elif kind == "xid" and not _XID_RE.fullmatch(raw):
            raise InvalidInput(f"invalid transaction id {raw!r}")
        elif kind == "name" and not 0 < len(raw) < 64:
            raise InvalidInput(f"invalid restore point name {raw!r}: 1 to 63 characters")
        return cls(kind, value, action, timeline, standby)

    def settings(self, restore_command: str) -> Tuple[Tuple[str, str], ...]:
        """The ``postgresql.auto.conf`` settings, in order."""
        lines = [("restore_command", restore_command)]
        if self.kind == "time":
            lines.append(("recovery_target_time", self.value.isoformat(sep=" ")))
        elif self.kind is not None:
            lines.append((f"recovery_target_{self.kind}", str(self.value)))
        if self.action is not None:
            lines.append(("recovery_target_action", self.action))
        if self.timeline is not None:
            lines.append(("recovery_target_timeline", self.timeline))
        return tuple(lines)

    @property
    def signal_file(self) -> str:
        return "standby.signal" if self.standby else "recovery.signal"

    def describe(self) -> str:
        if self.kind is None:
            return "the end of the archive"
        return f"{self.kind} {self.value}"


def target_timeline(target: RecoveryTarget, backups: Sequence[BackupRecord],
                    histories: Mapping[int, TimelineHistory]) -> Optional[int]:
    """The timeline recovery will follow, or None when it is the backup's own ('current')."""
    if target.timeline == "current":
        return None
    if target.timeline is not None and target.timeline != "latest":
        return int(target.timeline)
    known = set(histories) | {b.timeline for b in backups}
    return max(known) if known else None


def on_path(record: BackupRecord, timeline: Optional[int],
            histories: Mapping[int, TimelineHistory]) -> bool:
    """Whether recovery from ``record`` can follow ``timeline`` (``BackupRecord.on_path_of``)."""
    if timeline is None or record.timeline == timeline:
        return True
    if record.timeline > timeline:
        return False
    history = histories.get(timeline)
    # Without the history nothing proves the path wrong: PostgreSQL will tell.
    return history is None or record.on_path_of(history)


def reaches(record: BackupRecord, target: RecoveryTarget) -> Optional[bool]:
    """Whether the backup was consistent before the target: True, False, or None when
    the record cannot tell (names and xids; a 0.2.2 backup without its end)."""
    if target.kind == "time":
        return None if record.finished_at is None else record.finished_at <= target.value
    if target.kind == "lsn":
        return None if record.stop_lsn is None else record.stop_lsn <= target.value
    return None


def choose_backup(backups: Sequence[BackupRecord], target: RecoveryTarget,
                  histories: Mapping[int, TimelineHistory]) -> BackupRecord:
    """The newest backup (``backups`` oldest first) that can recover to ``target``
    along the target timeline."""
    timeline = target_timeline(target, backups, histories)
    candidates = [b for b in backups if on_path(b, timeline, histories)]
    if not candidates:
        raise InvalidInput(f"no backup lies on the path of timeline {timeline}",
                           hint="give --target-timeline or a backup key")
    if target.kind not in ("time", "lsn"):
        return candidates[-1]
    usable = [b for b in candidates if reaches(b, target)]
    if not usable:
        ends = [_end(b, target.kind) for b in candidates if reaches(b, target) is not None]
        earliest = f"; the earliest backup ended at {min(ends)}" if ends else ""
        raise InvalidInput(f"no backup ended before the target {target.describe()}{earliest}",
                           hint="recovery can only stop after the end of a backup")
    return usable[-1]


def check_reachable(record: BackupRecord, target: RecoveryTarget,
                    histories: Mapping[int, TimelineHistory]) -> None:
    """Refuse a target before the end of the chosen backup, or along a timeline that
    does not hold the whole backup."""
    if reaches(record, target) is False:
        raise InvalidInput(f"backup {record.key} ended at {_end(record, target.kind)}, "
                           f"after the target {target.describe()}",
                           hint="choose an older backup or 'latest'")
    timeline = target_timeline(target, [record], histories)
    if on_path(record, timeline, histories):
        return
    followable = [t for t in sorted(histories, reverse=True)
                  if on_path(record, t, histories)] or [record.timeline]
    raise InvalidInput(f"backup {record.key} cannot be recovered along timeline {timeline}: "
                       f"{_off_path_reason(record, timeline, histories.get(timeline))}",
                       hint=f"choose an older backup or 'latest', or give --target-timeline "
                            f"{followable[0]}")


def _off_path_reason(record: BackupRecord, timeline: int,
                     history: Optional[TimelineHistory]) -> str:
    if history is None:  # on_path trusts a missing history unless the backup is younger
        return f"the backup is on timeline {record.timeline}, which came after it"
    for span in history.spans():
        if span.timeline != record.timeline:
            continue
        if span.end is not None and span.end <= record.start_lsn:
            return (f"it left timeline {record.timeline} at {span.end}, before the backup "
                    f"started at {record.start_lsn}")
        if record.start_lsn < span.begin:
            return (f"timeline {record.timeline} begins on it at {span.begin}, after the "
                    f"backup started at {record.start_lsn}")
        return (f"it left timeline {record.timeline} at {span.end} while the backup ran "
                f"({record.start_lsn} to {record.stop_lsn})")
    return f"timeline {record.timeline} is not one of its ancestors"


def _end(record: BackupRecord, kind: str) -> object:
    return record.finished_at if kind == "time" else record.stop_lsn


def conf_quote(value: str) -> str:
    """A postgresql.conf string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def rewrite_auto_conf(existing: str, settings: Sequence[Tuple[str, str]]) -> str:
    """``existing`` without stale recovery settings, then ``settings``."""
    managed = set(MANAGED_SETTINGS)
    kept = [line for line in existing.splitlines(True)
            if line.split("=", 1)[0].strip().lower() not in managed]
    if kept and not kept[-1].endswith("\n"):
        kept[-1] += "\n"
    added = "".join(f"{name} = {conf_quote(value)}\n" for name, value in settings)
    return "".join(kept) + "# recovery settings written by swiftwal restore\n" + added


_STOP_RE = re.compile(r"STOP WAL LOCATION: (\S+) \(file ([0-9A-F]{24})\)")
_STOP_TIME_RE = re.compile(r"STOP TIME: (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+)")


def backup_history_end(text: str) -> Tuple[Optional[Lsn], Optional[str],
                                          Optional[datetime.datetime]]:
    """Stop position, stop segment name and time from a ``.backup`` history file.  The time is written in the
    server's log_timezone by abbreviation; only UTC/GMT and numeric offsets are certain,
    any other zone gives None rather than a guess."""
    stop = _STOP_RE.search(text)
    lsn = Lsn.parse(stop.group(1)) if stop else None
    segment = stop.group(2) if stop else None
    moment = None
    found = _STOP_TIME_RE.search(text)
    if found:
        zone = found.group(2)
        offset = None
        if zone in ("UTC", "GMT", "Z"):
            offset = datetime.timedelta(0)
        elif re.fullmatch(r"[+-]\d\d(:?\d\d)?", zone):
            sign = -1 if zone[0] == "-" else 1
            digits = zone[1:].replace(":", "")
            offset = sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        if offset is not None:
            moment = datetime.datetime.strptime(found.group(1), "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=datetime.timezone(offset))
    return lsn, segment, moment
