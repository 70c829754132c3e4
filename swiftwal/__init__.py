"""swiftwal: PostgreSQL base backups, WAL archiving and point-in-time recovery
into OpenStack Swift or a local directory.

The package root exposes the pure planning API only (no storage client is
imported), so ``from swiftwal import plan_prune`` is cheap.
"""
from __future__ import annotations

from swiftwal.domain.backup import BackupKey, BackupRecord
from swiftwal.domain.cleanup import CleanupPlan, plan_archive_cleanup
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.prune import Decision, PrunePlan, PrunePolicy, plan_prune
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walnames import (DEFAULT_SEGMENT_SIZE, BackupHistoryFile, HistoryFile,
                                      PartialSegment, Segment, parse_wal_filename)

__all__ = [
    "DEFAULT_SEGMENT_SIZE", "BackupHistoryFile", "BackupKey", "BackupRecord", "CleanupPlan",
    "Decision", "HistoryFile", "Lsn", "PartialSegment", "PrunePlan", "PrunePolicy", "Segment",
    "TimelineHistory", "parse_wal_filename", "plan_archive_cleanup", "plan_prune",
]
