"""Retention: which backups and WAL files ``prune`` removes, as a plan (data).

The rules, in order:

1. The newest ``keep_backups`` chains are kept, as pgBackRest counts them: a
   chain is a full backup with every incremental built on it, directly or
   not (``chains.root_key``), and chains are ranked by their full backup's key.
   With full backups only, that is the newest ``keep_backups`` backups.  The
   newest backup is always kept (a plan never deletes every backup).
2. With a ``recovery_window`` D, every point in time of the last D days stays
   recoverable along the newest timeline (and along the timeline of every backup
   started inside the window): every backup that started inside the window is
   kept, and so is the newest backup on that timeline's path that ended before
   the window began and whose chain is complete, with every backup on the path
   newer than it.  Without such a backup, every backup on the path is kept.
3. Recovery along the newest timeline stays possible: when no backup the rules
   above keep lies wholly on its path (``recovery.on_path``) with a complete
   chain, the newest backup that does is kept too; when none does, the plan says
   so in ``warnings``.
4. An incremental backup is never kept without its chain: every backup the
   chain of a kept backup holds is kept (so no parent is deleted while a kept
   incremental needs it).  The other backups go.
5. Every segment recovery from a kept backup may read is kept: from the
   backup's start segment onwards, on its own timeline and on every timeline
   whose path holds the whole backup (``BackupRecord.needed_for_pitr``).
6. ``keep_wals`` more segments are kept: the newest of the remaining segments
   that lie before the oldest kept backup's start segment, by position then
   timeline.  With ``keep_wals=0`` every other segment goes.
7. Timeline history files are never deleted; ``.backup`` and ``.partial``
   files follow the decision for their segment.  With no backup at all,
   nothing is deleted.
"""
from __future__ import annotations

import datetime
import heapq
from typing import (Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple,
                    Union)

import attrs

from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.chains import chain_complete, index_by_key, root_key
from swiftwal.domain.errors import InvalidInput, InvalidPolicy
from swiftwal.domain.recovery import on_path
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walnames import (DEFAULT_SEGMENT_SIZE, HistoryFile, Segment, WalFile,
                                      segment_of, segments_per_log, validate_segment_size,
                                      wal_order_key)


def _count(minimum: int):
    def check(instance: object, attribute: attrs.Attribute, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise InvalidPolicy(f"invalid {attribute.name.replace('_', '-')} {value!r}: "
                                f"must be an integer of at least {minimum}")
    return check


def _duration(instance: object, attribute: attrs.Attribute,
              value: Optional[datetime.timedelta]) -> None:
    if value is not None and (not isinstance(value, datetime.timedelta)
                              or value < datetime.timedelta(0)):
        raise InvalidPolicy(f"invalid {attribute.name.replace('_', '-')} {value!r}: "
                            "must be a duration of zero or more")


@attrs.frozen
class PrunePolicy:
    """How much to keep.  ``now`` is passed in: the domain never reads a clock.

    ``keep_newer_than`` is the name ``recovery_window`` had before it kept a window
    recoverable (it kept only the backups started inside it); it means the same now."""

    keep_backups: int = attrs.field(validator=_count(1))
    keep_wals: int = attrs.field(validator=_count(0))
    keep_newer_than: Optional[datetime.timedelta] = attrs.field(default=None,
                                                                validator=_duration)
    now: Optional[datetime.datetime] = None
    recovery_window: Optional[datetime.timedelta] = attrs.field(default=None,
                                                                validator=_duration)

    def __attrs_post_init__(self) -> None:
        if self.keep_newer_than is not None:
            if self.recovery_window is not None and self.recovery_window != self.keep_newer_than:
                raise InvalidPolicy("give recovery-window or its old name keep-newer-than, "
                                    "not both")
            object.__setattr__(self, "recovery_window", self.keep_newer_than)
        if self.recovery_window is not None and self.now is None:
            raise InvalidPolicy("recovery-window needs the current time (now)")
        if self.now is not None and (not isinstance(self.now, datetime.datetime)
                                     or self.now.utcoffset() is None):
            raise InvalidPolicy(f"invalid now {self.now!r}: must be an aware datetime")

    @property
    def window_start(self) -> Optional[datetime.datetime]:
        """The earliest point in time that must stay recoverable (None: no window)."""
        if self.recovery_window is None or self.now is None:
            return None
        return self.now - self.recovery_window


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
    #: What the administrator must hear although nothing is wrong with the plan
    #: (a timeline that no backup can recover, for one).
    warnings: Tuple[str, ...] = ()

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
        lines.extend(f"Warning: {warning}" for warning in self.warnings)
        return lines


def plan_json(plan: PrunePlan, dry_run: bool) -> dict:
    """The plan as ``prune --json`` prints it."""
    def items(decisions: Sequence[Decision]) -> List[dict]:
        return [{"name": str(getattr(d.item, "key", d.item)), "reason": d.reason}
                for d in decisions]

    return {"dry_run": dry_run,
            "backups": {"delete": items(plan.delete_backups), "keep": items(plan.keep_backups)},
            "wal": {"delete": items(plan.delete_wal), "keep": items(plan.keep_wal)},
            "warnings": list(plan.warnings)}


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
    files = sorted(wal_files, key=wal_order_key)
    latest = max([*histories, *(b.timeline for b in ordered),
                  *(f.timeline for f in files if isinstance(f, Segment))], default=1)
    keep_backups, delete_backups, warnings = _split_backups(ordered, policy, histories, latest)
    if not keep_backups:
        keep = tuple(Decision(f, "no backup in the archive: nothing is pruned") for f in files)
        return PrunePlan((), (), (), keep)

    kept = [d.item for d in keep_backups]
    oldest = min(kept, key=lambda b: (b.start_number(), b.key))
    segments = [segment_of(f) for f in files]
    needed_from = _needed_from(kept, {s.timeline for s in segments if s}, histories)
    # Per-file work is kept to arithmetic: a million names must plan in seconds.
    numbers = _numbers(segments, segment_size)
    first_number = {tl: b.start_number() for tl, b in needed_from.items()}
    oldest_number = oldest.start_number()
    extra = _extra_segments(files, numbers, first_number, oldest_number,
                            policy.keep_wals)
    needed_reason = {tl: f"needed to recover from backup {b.key}" for tl, b in needed_from.items()}
    extra_reason = f"one of the {policy.keep_wals} segments kept before backup {oldest.key}"
    before_reason = f"before the start of the oldest kept backup {oldest.key}"
    history_reason = "timeline history files are never deleted"
    keep_wal, delete_wal = [], []
    for wal_file, segment, number in zip(files, segments, numbers):
        if segment is None:
            keep_wal.append(Decision(wal_file, history_reason))
            continue
        follows = "" if wal_file is segment or wal_file == segment else f" (follows {segment})"
        first = first_number.get(segment.timeline)
        if first is not None and number >= first:
            keep_wal.append(Decision(wal_file, needed_reason[segment.timeline] + follows))
        elif segment in extra:
            keep_wal.append(Decision(wal_file, extra_reason + follows))
        elif number < oldest_number:
            delete_wal.append(Decision(wal_file, before_reason + follows))
        else:
            delete_wal.append(Decision(wal_file, f"timeline {segment.timeline} here is not on "
                                                 f"the recovery path of any kept backup"
                                                 f"{follows}"))
    return PrunePlan(tuple(delete_backups), tuple(keep_backups), tuple(delete_wal),
                     tuple(keep_wal), warnings)


def _split_backups(ordered: Sequence[BackupRecord], policy: PrunePolicy,
                   histories: Mapping[int, TimelineHistory], latest: int
                   ) -> Tuple[List[Decision], List[Decision], Tuple[str, ...]]:
    reasons: Dict[int, str] = {}
    count = policy.keep_backups
    roots = sorted({root_key(b) for b in ordered})
    kept_roots = set(roots[max(0, len(roots) - count):])
    for index, backup in enumerate(ordered):
        if root_key(backup) in kept_roots:
            reasons[index] = (f"one of the newest {count} backups" if not backup.chain else
                              f"built on {root_key(backup)}, one of the newest {count} backups")
    if ordered:  # with --from, the newest backup may be built on an older full backup
        reasons.setdefault(len(ordered) - 1, "the newest backup")
    # A backup whose chain is broken cannot be restored: it anchors nothing.
    index = index_by_key(ordered)
    complete = {i for i, b in enumerate(ordered) if not b.chain or chain_complete(b, index)}
    start = policy.window_start
    if start is not None:
        _keep_window(ordered, policy, histories, latest, start, reasons, complete)
    # The newest timeline is the archive's present: a point on it must stay recoverable
    # even when every backup the rules keep was taken before it branched off, or while
    # it did (a backup that straddles its switch point cannot be recovered along it).
    on_latest = [i for i, b in enumerate(ordered)
                 if i in complete and on_path(b, latest, histories)]
    warnings: Tuple[str, ...] = ()
    if not on_latest and ordered:
        warnings = (f"no backup can recover timeline {latest}, the newest: take a backup",)
    elif on_latest and not any(i in reasons for i in on_latest):
        reasons[on_latest[-1]] = (f"the newest backup from which timeline {latest} can be "
                                  f"recovered")
    _keep_chains(ordered, reasons)
    keep, delete = [], []
    for index, backup in enumerate(ordered):
        if index in reasons:
            keep.append(Decision(backup, reasons[index]))
        else:
            reason = (f"older than the newest {policy.keep_backups} backups" if not backup.chain
                      else f"built on {root_key(backup)}, older than the newest "
                           f"{policy.keep_backups} backups")
            if start is not None:
                reason += f" and not needed for the recovery window of {policy.recovery_window}"
            delete.append(Decision(backup, reason))
    return keep, delete, warnings


def _keep_chains(ordered: Sequence[BackupRecord], reasons: Dict[int, str]) -> None:
    """Rule 4: every backup a kept backup's chain holds is kept too."""
    index_of: Dict[object, int] = {}
    for index, backup in enumerate(ordered):
        index_of.setdefault(backup.key, index)
    waiting = sorted(reasons)
    while waiting:
        kept = ordered[waiting.pop()]
        for key in kept.chain:
            index = index_of.get(key)
            if index is not None and index not in reasons:
                reasons[index] = f"the kept incremental backup {kept.key} is built on it"
                waiting.append(index)


def _keep_window(ordered: Sequence[BackupRecord], policy: PrunePolicy,
                 histories: Mapping[int, TimelineHistory], latest: int,
                 start: datetime.datetime, reasons: Dict[int, str],
                 complete: Collection[int]) -> None:
    """Rule 2: mark what keeps every point since ``start`` recoverable."""
    window = policy.recovery_window
    inside = [i for i, b in enumerate(ordered) if b.key.time >= start]
    for index in inside:
        reasons.setdefault(index, f"started inside the recovery window of {window}")
    for timeline in sorted({latest} | {ordered[i].timeline for i in inside}):
        path = [i for i, b in enumerate(ordered) if on_path(b, timeline, histories)]
        # A backup whose end is unknown (0.2.2) cannot prove it ended before the window.
        ended = [i for i in path if ordered[i].finished_at is not None
                 and ordered[i].finished_at <= start and i in complete]
        anchor = ended[-1] if ended else None
        for index in path:
            if anchor is None:
                reasons.setdefault(index, f"no backup on timeline {timeline}'s path ended "
                                          f"before the recovery window of {window}: all kept")
            elif index == anchor:
                reasons.setdefault(index, f"the newest backup on timeline {timeline}'s path "
                                          f"that ended before the recovery window of {window}")
            elif index > anchor:
                reasons.setdefault(index, f"ended inside the recovery window of {window}")


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


def _numbers(segments: Sequence[Optional[Segment]], segment_size: int) -> List[int]:
    """``Segment.number`` of each segment (-1 for None), with its checks, at list speed."""
    per_log = segments_per_log(segment_size)
    return [-1 if s is None else s.log * per_log + s.seg if s.seg < per_log
            else s.number(segment_size) for s in segments]


def _extra_segments(files: Sequence[WalFile], numbers: Sequence[int], first_number: Mapping[int, int], limit: int,
                    keep_wals: int) -> frozenset:
    if keep_wals == 0:
        return frozenset()

    never = limit + 1  # a timeline no kept backup needs: no number reaches it
    # The newest by (position, timeline): the same set as the tail of a full sort.
    newest = heapq.nlargest(keep_wals, (
        (number, f.timeline, f) for f, number in zip(files, numbers)
        if isinstance(f, Segment) and number < limit
        and number < first_number.get(f.timeline, never)))
    return frozenset(c[2] for c in newest)
