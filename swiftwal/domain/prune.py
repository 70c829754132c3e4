"""Retention: which backups and WAL files ``prune`` removes, as a plan (data).

The rules, in order:

1. The newest ``keep_backups`` backups are kept (at least one: a plan never
   deletes every backup), and with ``keep_newer_than`` also every backup that
   started less than that long before ``now``.  The other backups go.
2. Every segment recovery from a kept backup may read is kept: from the
   backup's start segment onwards, on its own timeline and on every timeline
   whose path passes through the backup's start (``BackupRecord.needed_for_pitr``).
3. ``keep_wals`` more segments are kept: the newest of the remaining segments
   that lie before the oldest kept backup's start segment, by position then
   timeline.  With ``keep_wals=0`` every other segment goes.
4. Timeline history files are never deleted; ``.backup`` and ``.partial``
   files follow the decision for their segment.  With no backup at all,
   nothing is deleted.
"""
from __future__ import annotations

import datetime
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import attrs

from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.errors import InvalidInput, InvalidPolicy
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walnames import (DEFAULT_SEGMENT_SIZE, HistoryFile, Segment, WalFile,
                                      segment_of, validate_segment_size, wal_order_key)


def _count(minimum: int):
    def check(instance: object, attribute: attrs.Attribute, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise InvalidPolicy(f"invalid {attribute.name.replace('_', '-')} {value!r}: "
                                f"must be an integer of at least {minimum}")
    return check


@attrs.frozen
class PrunePolicy:
    """How much to keep.  ``now`` is passed in: the domain never reads a clock."""

    keep_backups: int = attrs.field(validator=_count(1))
    keep_wals: int = attrs.field(validator=_count(0))
    keep_newer_than: Optional[datetime.timedelta] = None
    now: Optional[datetime.datetime] = None

    def __attrs_post_init__(self) -> None:
        if self.keep_newer_than is not None:
            if (not isinstance(self.keep_newer_than, datetime.timedelta)
                    or self.keep_newer_than < datetime.timedelta(0)):
                raise InvalidPolicy(f"invalid keep-newer-than {self.keep_newer_than!r}: "
                                    "must be a duration of zero or more")
            if self.now is None:
                raise InvalidPolicy("keep-newer-than needs the current time (now)")
        if self.now is not None and (not isinstance(self.now, datetime.datetime)
                                     or self.now.utcoffset() is None):
            raise InvalidPolicy(f"invalid now {self.now!r}: must be an aware datetime")


Item = Union[BackupRecord, WalFile]


@attrs.frozen
class Decision:
    """One backup or WAL file and why it is kept or deleted."""

    item: Item
    reason: str


@attrs.frozen
class PrunePlan:
    delete_backups: Tuple[Decision, ...]
    keep_backups: Tuple[Decision, ...]
    delete_wal: Tuple[Decision, ...]
    keep_wal: Tuple[Decision, ...]

    @property
    def backups_to_delete(self) -> Tuple[BackupRecord, ...]:
        return tuple(d.item for d in self.delete_backups)

    @property
    def wal_to_delete(self) -> Tuple[WalFile, ...]:
        return tuple(d.item for d in self.delete_wal)

    def report_lines(self, verbose: bool = False) -> List[str]:
        """The report ``prune`` prints (as swiftwal 0.2.2 did); ``verbose`` adds every item."""
        lines = [
            *_summary("Removing", "backups,  ", self.delete_backups, _all, verbose),
            *_summary("Keeping", "backups,  ", self.keep_backups, _all, verbose),
            "",
            *_summary("Removing", "WAL files,", self.delete_wal, _wal_range_items, verbose),
            *_summary("Keeping", "WAL files,", self.keep_wal, _wal_range_items, verbose),
        ]
        return lines


def _all(decisions: Sequence[Decision]) -> Sequence[Decision]:
    return decisions


def _wal_range_items(decisions: Sequence[Decision]) -> Sequence[Decision]:
    # A range of history file names says little; show segments when there are any.
    files = [d for d in decisions if not isinstance(d.item, HistoryFile)]
    return files or decisions


def _name(item: Item) -> str:
    return str(item.key) if isinstance(item, BackupRecord) else str(item)


def _summary(verb: str, noun: str, decisions: Sequence[Decision], range_items,
             verbose: bool) -> List[str]:
    ends = range_items(decisions)
    if ends:
        first, last = _name(ends[0].item), _name(ends[-1].item)
        line = f"{verb:<8} {len(decisions):4d} {noun} {first} -> {last}"
    else:
        line = f"{verb:<8} {len(decisions):4d} {noun.rstrip(', ')}"
    lines = [line]
    if verbose:
        lines.extend(f"    {_name(d.item)}: {d.reason}" for d in decisions)
    return lines


def plan_prune(backups: Iterable[BackupRecord], wal_files: Iterable[WalFile],
               policy: PrunePolicy, histories: Mapping[int, TimelineHistory] = {},
               segment_size: int = DEFAULT_SEGMENT_SIZE) -> PrunePlan:
    """Decide what ``prune`` deletes; see the module docstring for the rules."""
    validate_segment_size(segment_size)
    ordered = sorted(backups, key=lambda b: (b.key, b.data_object))
    for backup in ordered:
        if backup.segment_size != segment_size:
            raise InvalidInput(f"backup {backup.key} has {backup.segment_size}-byte segments, "
                               f"the archive {segment_size}-byte ones")
    keep_backups, delete_backups = _split_backups(ordered, policy)
    files = sorted(wal_files, key=wal_order_key)
    if not keep_backups:
        keep = tuple(Decision(f, "no backup in the archive: nothing is pruned") for f in files)
        return PrunePlan((), (), (), keep)

    kept = [d.item for d in keep_backups]
    oldest = min(kept, key=lambda b: (b.start_number(), b.key))
    needed_from = _needed_from(kept, {s.timeline for s in map(segment_of, files) if s}, histories)
    extra = _extra_segments(files, needed_from, oldest, policy.keep_wals, segment_size)
    keep_wal, delete_wal = [], []
    for wal_file in files:
        segment = segment_of(wal_file)
        if segment is None:
            keep_wal.append(Decision(wal_file, "timeline history files are never deleted"))
            continue
        follows = "" if wal_file == segment else f" (follows {segment})"
        number = segment.number(segment_size)
        first = needed_from.get(segment.timeline)
        if first is not None and number >= first.start_number():
            keep_wal.append(Decision(wal_file, f"needed to recover from backup {first.key}"
                                               f"{follows}"))
        elif segment in extra:
            keep_wal.append(Decision(wal_file, f"one of the {policy.keep_wals} segments kept "
                                               f"before backup {oldest.key}{follows}"))
        elif number < oldest.start_number():
            delete_wal.append(Decision(wal_file, f"before the start of the oldest kept backup "
                                                 f"{oldest.key}{follows}"))
        else:
            delete_wal.append(Decision(wal_file, f"timeline {segment.timeline} here is not on "
                                                 f"the recovery path of any kept backup"
                                                 f"{follows}"))
    return PrunePlan(tuple(delete_backups), tuple(keep_backups), tuple(delete_wal),
                     tuple(keep_wal))


def _split_backups(ordered: Sequence[BackupRecord], policy: PrunePolicy
                   ) -> Tuple[List[Decision], List[Decision]]:
    newest = set(range(max(0, len(ordered) - policy.keep_backups), len(ordered)))
    cutoff = None
    if policy.keep_newer_than is not None and policy.now is not None:
        cutoff = policy.now - policy.keep_newer_than
    keep, delete = [], []
    for index, backup in enumerate(ordered):
        recent = cutoff is not None and backup.key.time >= cutoff
        if index in newest:
            keep.append(Decision(backup, f"one of the newest {policy.keep_backups} backups"))
        elif recent:
            keep.append(Decision(backup, f"newer than {policy.keep_newer_than}"))
        else:
            reason = f"older than the newest {policy.keep_backups} backups"
            if cutoff is not None:
                reason += f" and than {policy.keep_newer_than}"
            delete.append(Decision(backup, reason))
    return keep, delete


def _needed_from(kept: Sequence[BackupRecord], timelines: Iterable[int],
                 histories: Mapping[int, TimelineHistory]) -> Dict[int, BackupRecord]:
    """Per timeline, the kept backup with the earliest start whose recovery may read it.

    A segment is needed iff some kept backup needs it; ``needed_for_pitr``
    depends on the segment only through its timeline and its position (from
    the start segment on), so the earliest such start per timeline decides.
    """
    result: Dict[int, BackupRecord] = {}
    for timeline in timelines:
        users = [b for b in kept
                 if b.needed_for_pitr(b.start_segment.on_timeline(timeline), histories)]
        if users:
            result[timeline] = min(users, key=lambda b: (b.start_number(), b.key))
    return result


def _extra_segments(files: Sequence[WalFile], needed_from: Mapping[int, BackupRecord],
                    oldest: BackupRecord, keep_wals: int, segment_size: int) -> frozenset:
    if keep_wals == 0:
        return frozenset()
    limit = oldest.start_number()

    def needed(segment: Segment, number: int) -> bool:
        first = needed_from.get(segment.timeline)
        return first is not None and number >= first.start_number()

    candidates = sorted(
        (number, f.timeline, f) for f, number in
        ((f, f.number(segment_size)) for f in files if isinstance(f, Segment))
        if number < limit and not needed(f, number))
    return frozenset(c[2] for c in candidates[-keep_wals:])
