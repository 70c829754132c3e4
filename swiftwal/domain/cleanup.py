"""``archive-cleanup``: what PostgreSQL's ``pg_archivecleanup`` would remove.

Given the oldest file still needed (``%r``, a segment name, or a ``.backup``
or ``.partial`` name standing for its segment), every segment and partial
segment whose name without the timeline sorts before it is removed.  The
timeline is ignored, as pg_archivecleanup does, so that no segment of a
parent timeline goes too early.  History and ``.backup`` files are kept.
"""
from __future__ import annotations

from typing import Iterable, Tuple

import attrs

from swiftwal.domain.errors import InvalidWalName
from swiftwal.domain.walnames import (DEFAULT_SEGMENT_SIZE, PartialSegment, Segment, WalFile,
                                      parse_wal_filename, segment_of, wal_order_key)


@attrs.frozen
class CleanupPlan:
    restart: Segment
    delete: Tuple[WalFile, ...]
    keep: Tuple[WalFile, ...]


def plan_archive_cleanup(wal_files: Iterable[WalFile], restart_name: str,
                         segment_size: int = DEFAULT_SEGMENT_SIZE) -> CleanupPlan:
    restart_file = parse_wal_filename(restart_name, segment_size)
    restart = segment_of(restart_file)
    if restart is None:
        raise InvalidWalName(f"invalid restart file name {restart_name!r}: expected a segment, "
                             ".partial or .backup file name")
    delete, keep = [], []
    for wal_file in sorted(wal_files, key=wal_order_key):
        old = (isinstance(wal_file, (Segment, PartialSegment))
               and (segment_of(wal_file).log, segment_of(wal_file).seg)
               < (restart.log, restart.seg))
        (delete if old else keep).append(wal_file)
    return CleanupPlan(restart, tuple(delete), tuple(keep))
