"""Backup chains: an incremental backup (``pg_basebackup --incremental``) holds only
the blocks changed since its parent, so restoring it needs every backup it is built
on, down to a full one.  Which backups a chain holds, whether all of them are there,
the WAL it needs, the parent a new incremental gets, and the chains as ``info``
counts them.  Pure: the caller reads the store.

A chain is listed oldest first: the full backup, then each incremental in turn, the
backup itself last.  Each incremental records its whole chain (``BackupRecord.chain``),
so a missing middle member is seen without its record.
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import attrs

from swiftwal.domain import errors
from swiftwal.domain.backup import FULL, BackupKey, BackupRecord
from swiftwal.domain.walnames import Segment

#: The first PostgreSQL major version with incremental backups (and ``summarize_wal``).
INCREMENTAL_SINCE = 17


@attrs.frozen
class Chain:
    """The backups restoring ``backup`` needs, as far as the catalogue has them."""

    backup: BackupRecord
    #: The members found, oldest first, ``backup`` last.
    members: Tuple[BackupRecord, ...]
    #: Recorded members that are not in the catalogue, oldest first.
    missing: Tuple[BackupKey, ...]
    #: What is wrong with the members found, one sentence each.
    problems: Tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing and not self.problems

    @property
    def keys(self) -> Tuple[BackupKey, ...]:
        """Every member's key, those missing included, oldest first."""
        return (*self.backup.chain, self.backup.key)

    @property
    def stored_size(self) -> int:
        """The bytes stored for every member, tablespaces included."""
        return sum(m.total_stored_size or 0 for m in self.members)

    @property
    def raw_size(self) -> int:
        return sum(m.total_raw_size or 0 for m in self.members)

    def restore_space(self, oid: Optional[int] = None) -> int:
        """The most disk space restoring the chain takes in the data directory
        (``oid`` None) or in the directory of tablespace ``oid``: that part of every
        member extracted (the size of its tar) and the combined result, which holds
        no byte that is not in some member."""
        return 2 * sum(part_raw_size(m, oid) for m in self.members)

    def wal_start(self) -> Segment:
        """The first segment recovery from the chain reads: its newest member's start
        (the older members' WAL is already in the newer members' blocks)."""
        return chain_wal_start(self.members or (self.backup,))

    def broken_reason(self) -> Optional[str]:
        """Why the chain cannot be restored, in one sentence; None when it can."""
        if self.missing:
            shown = ", ".join(str(k) for k in self.missing)
            return (f"backup {self.backup.key} is incremental and its chain is broken: "
                    f"{shown} {'is' if len(self.missing) == 1 else 'are'} missing")
        if self.problems:
            return (f"backup {self.backup.key} is incremental and its chain is broken: "
                    f"{self.problems[0]}")
        return None


def part_raw_size(record: BackupRecord, oid: Optional[int] = None) -> int:
    """The size of ``record``'s tar of its data directory (``oid`` None) or of its
    tablespace ``oid`` (0 when it has none)."""
    if oid is None:
        return record.raw_size or 0
    return sum(t.raw_size or 0 for t in record.tablespaces if t.oid == oid)


def root_key(record: BackupRecord) -> BackupKey:
    """The key of the full backup ``record``'s chain starts from (its own for a full one)."""
    return record.chain[0] if record.chain else record.key


def chain_of(record: BackupRecord, backups: Iterable[BackupRecord]) -> Chain:
    """``record``'s chain among ``backups`` (any order; ``record`` need not be one), or
    among the values of a mapping of backups by key (``by_key``: no index built again)."""
    by_key = backups if isinstance(backups, Mapping) else _by_key(backups)
    members: List[BackupRecord] = []
    missing: List[BackupKey] = []
    for key in record.chain:
        found = by_key.get(key)
        if found is None:
            missing.append(key)
        else:
            members.append(found)
    members.append(record)
    problems = [] if missing else _inconsistencies(members)
    return Chain(record, tuple(members), tuple(missing), tuple(problems))


def _by_key(backups: Iterable[BackupRecord]) -> Dict[BackupKey, BackupRecord]:
    by_key: Dict[BackupKey, BackupRecord] = {}
    for backup in backups:
        by_key.setdefault(backup.key, backup)
    return by_key


def _inconsistencies(members: Sequence[BackupRecord]) -> List[str]:
    """What makes members that are all there still not one chain."""
    problems = []
    first = members[0]
    if first.backup_type != FULL:
        problems.append(f"{first.key}, its first member, is not a full backup")
    for older, newer in zip(members, members[1:]):
        if newer.chain != (*older.chain, older.key):
            problems.append(f"{newer.key} and its parent {older.key} disagree on their chain")
        if (older.system_identifier and newer.system_identifier
                and older.system_identifier != newer.system_identifier):
            problems.append(f"{newer.key} and its parent {older.key} are backups of "
                            "different clusters")
        if older.segment_size != newer.segment_size:
            problems.append(f"{newer.key} and its parent {older.key} have different WAL "
                            "segment sizes")
    return problems


def chain_complete(record: BackupRecord, backups: Iterable[BackupRecord]) -> bool:
    """Whether every backup restoring ``record`` needs is in ``backups``, as one chain."""
    return chain_of(record, backups).complete


def chain_wal_start(members: Sequence[BackupRecord]) -> Segment:
    """The WAL a chain needs starts at its newest member's start segment."""
    if not members:
        raise errors.InvalidInput("a chain has at least one backup")
    return max(members, key=lambda m: m.key).start_segment


def index_by_key(backups: Iterable[BackupRecord]) -> Dict[BackupKey, BackupRecord]:
    """The backups by key (the first of two with one key), for ``chain_of``."""
    return _by_key(backups)


def restorable(backups: Sequence[BackupRecord]) -> List[BackupRecord]:
    """The backups whose chain is complete (every full backup), in the order given."""
    index = _by_key(backups)
    return [b for b in backups if not b.chain or chain_of(b, index).complete]


def require_complete(record: BackupRecord, backups: Iterable[BackupRecord]) -> Chain:
    """``record``'s chain, or ``BrokenChain`` naming what is missing or wrong."""
    chain = chain_of(record, backups)
    reason = chain.broken_reason()
    if reason is not None:
        raise errors.BrokenChain(reason, hint="restore an older backup (see 'swiftwal "
                                              "verify --all'), or take a full backup")
    return chain


# -- the parent of a new incremental backup ---------------------------------------------------

def choose_parent(backups: Sequence[BackupRecord], timeline: int, system_identifier: str,
                  from_key: Optional[BackupKey] = None) -> BackupRecord:
    """The backup a new incremental of the cluster ``system_identifier``, now on
    ``timeline``, is based on: ``from_key``'s, else the newest backup of that cluster on
    that timeline whose manifest is stored.  Its chain must be complete (the store's
    objects are the caller's to check).  Raises ``BackupNotFound``, ``InvariantViolated``
    (another timeline or cluster, no manifest) or ``BrokenChain``."""
    if from_key is not None:
        parent = next((b for b in backups if b.key == from_key), None)
        if parent is None:
            raise errors.BackupNotFound(f"backup {from_key} (--from) is not in the store",
                                        hint="see 'swiftwal list-backups'")
        if parent.system_identifier != system_identifier:
            raise errors.InvariantViolated(
                f"backup {from_key} is of another cluster (system identifier "
                f"{parent.system_identifier or 'unknown'}, the server's is {system_identifier})",
                hint="an incremental backup is based on a backup of the same cluster")
        if parent.timeline != timeline:
            raise errors.InvariantViolated(
                f"backup {from_key} is on timeline {parent.timeline}, the server on "
                f"timeline {timeline}",
                hint="base it on a backup of the current timeline, or take a full backup")
        if parent.manifest_object is None:
            raise errors.InvariantViolated(
                f"backup {from_key} has no stored manifest (taken by an earlier swiftwal "
                "or from PostgreSQL 12): it cannot be the parent of an incremental backup",
                hint="take a full backup to base incremental ones on")
    else:
        ours = [b for b in backups if b.system_identifier == system_identifier
                and b.timeline == timeline]
        candidates = [b for b in ours if b.manifest_object is not None]
        if not candidates:
            without = (f": its backups there have no stored manifest (taken by an earlier "
                       f"swiftwal or from PostgreSQL 12)" if ours else "")
            raise errors.BackupNotFound(
                f"no full backup of this cluster on timeline {timeline} to base an "
                f"incremental backup on{without}",
                hint="take a full backup first (or use --incremental=auto)")
        parent = max(candidates, key=lambda b: b.key)
    chain = chain_of(parent, backups)
    if not chain.complete:
        raise errors.BrokenChain(f"cannot base an incremental backup on {parent.key}: "
                                 f"{chain.broken_reason()}",
                                 hint="take a full backup (or use --incremental=auto)")
    return parent


# -- the chains as info counts them -----------------------------------------------------------

@attrs.frozen
class ChainGroup:
    """A full backup and every incremental built on it, directly or not (``root``
    may be missing from the catalogue: then ``full`` is None)."""

    root: BackupKey
    full: Optional[BackupRecord]
    members: Tuple[BackupRecord, ...]  # the full one first when present, oldest first

    @property
    def stored_size(self) -> int:
        return sum(m.total_stored_size or 0 for m in self.members)

    def to_json_dict(self, backups: Sequence[BackupRecord]) -> dict:
        return {"full": str(self.root), "backups": [str(m.key) for m in self.members],
                "incremental": sum(1 for m in self.members if m.incremental),
                "stored_bytes": self.stored_size,
                "complete": self.full is not None
                and all(chain_complete(m, backups) for m in self.members)}


def chain_groups(backups: Sequence[BackupRecord]) -> Tuple[ChainGroup, ...]:
    """The backups grouped by the full backup their chain starts from, oldest first."""
    grouped: Dict[BackupKey, List[BackupRecord]] = {}
    for backup in sorted(backups, key=lambda b: b.key):
        grouped.setdefault(root_key(backup), []).append(backup)
    by_key = _by_key(backups)
    return tuple(ChainGroup(root, by_key.get(root) if root in by_key
                            and not by_key[root].chain else None, tuple(members))
                 for root, members in sorted(grouped.items()))
