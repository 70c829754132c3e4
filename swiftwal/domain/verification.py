"""Whether a backup can be restored: the WAL recovery from it reads (``plan_wal_check``)
and the verdict on one backup (``BackupReport``).

The store is read elsewhere (``swiftwal.adapters.verification``); what it found
comes here as problems, and the report says what ``verify`` prints.
"""
from __future__ import annotations

from typing import Collection, Mapping, Optional

import attrs

from swiftwal.domain import errors
from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walchain import wal_chain
from swiftwal.domain.walnames import Segment


@attrs.frozen
class WalCheck:
    """What recovery from one backup would read, and what is wrong with it."""

    timeline: int
    segments: tuple[Segment, ...]
    problems: tuple[str, ...]


def plan_wal_check(record: BackupRecord, histories: Mapping[int, TimelineHistory],
                   available: Collection[Segment]) -> WalCheck:
    """The segments recovery from ``record`` reads to the end of the archive
    along the latest timeline (``walchain``), and each gap as a sentence."""
    chain = wal_chain(record, histories, available)
    problems = []
    if chain.unfinished_from is not None:
        problems.append(f"WAL needed to make the backup consistent is missing from "
                        f"{chain.unfinished_from} (the backup ends in {record.stop_segment})")
    for gap in chain.gaps:
        missing = (str(gap.first) if gap.count == 1
                   else f"{gap.first}..{gap.last} ({gap.count} segments)")
        resume = gap.last.number(record.segment_size) + 1  # a gap has archived WAL after it
        after = next(s for s in chain.segments if s.number(record.segment_size) == resume)
        problems.append(f"gap in the archive on timeline {chain.timeline}: {missing} missing; "
                        f"recovery stops there, {after} and later are never read")
    return WalCheck(chain.timeline, chain.segments, tuple(problems))


def wal_check(record: BackupRecord, histories: Mapping[int, TimelineHistory],
              available: Collection[Segment]) -> WalCheck:
    """``plan_wal_check``, where timelines that cannot be followed (a history
    file that does not parse or contradicts another) are the problem found,
    not a failure of the whole check: the other backups are still judged."""
    try:
        return plan_wal_check(record, histories, available)
    except errors.InvalidInput as exc:
        return WalCheck(record.timeline, (), (f"cannot follow the timelines: {exc.message}",))


@attrs.frozen
class BackupReport:
    key: str
    problems: tuple[str, ...]
    timeline: Optional[int]
    first_segment: Optional[str]
    last_segment: Optional[str]
    segment_count: int
    full: bool
    backup_type: str = "full"
    #: The backups an incremental one is built on, oldest first (empty: a full backup).
    chain: tuple[str, ...] = ()

    @classmethod
    def of(cls, record: BackupRecord, check: WalCheck, problems: Collection[str],
           full: bool) -> BackupReport:
        """The report on ``record``: ``problems`` are all that was found, the
        WAL check's and its chain's among them."""
        return cls(str(record.key), tuple(problems), check.timeline,
                   str(check.segments[0]) if check.segments else None,
                   str(check.segments[-1]) if check.segments else None,
                   len(check.segments), full, record.backup_type,
                   tuple(str(k) for k in record.chain))

    def with_problems(self, *problems: str) -> BackupReport:
        return attrs.evolve(self, problems=self.problems + problems)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json_dict(self) -> dict:
        return {"key": self.key, "ok": self.ok, "problems": list(self.problems),
                "timeline": self.timeline, "first_segment": self.first_segment,
                "last_segment": self.last_segment, "segments": self.segment_count,
                "checked": "full" if self.full else "metadata", "type": self.backup_type,
                "chain": list(self.chain)}

    def lines(self) -> list[str]:
        wal = (f"WAL {self.first_segment}..{self.last_segment} ({self.segment_count} segments, "
               f"timeline {self.timeline})" if self.segment_count else "no WAL")
        chain = (f"incremental on {self.chain[-1]}, a chain of {len(self.chain) + 1}; "
                 if self.chain else "")
        head = f"{self.key}: {'ok' if self.ok else 'FAILED'} ({chain}{'full' if self.full else 'metadata'} check, {wal})"
        return [head] + [f"  - {problem}" for problem in self.problems]
