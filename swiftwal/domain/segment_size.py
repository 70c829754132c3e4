"""The WAL segment size a cluster uses, as what it wrote shows it: a backup's
``backup_label`` (its start LSN and the file it names for it) or the size of a
whole segment file.  ``WAL_SEGMENT_SIZE`` is for files that do not tell."""
from __future__ import annotations

from typing import TYPE_CHECKING

from swiftwal.domain import errors
from swiftwal.domain.walnames import MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE, Segment

if TYPE_CHECKING:  # archive-wal's worker imports this module: domain.backup is not needed there
    from swiftwal.domain.backup import BackupLabel


def infer_segment_size(label: BackupLabel) -> int:
    """The cluster's WAL segment size is the one that maps the start LSN to
    the start file named in backup_label."""
    for shift in range(MIN_SEGMENT_SIZE.bit_length() - 1, MAX_SEGMENT_SIZE.bit_length()):
        size = 1 << shift
        if Segment.from_lsn(label.timeline, label.start_lsn, size) == label.start_segment:
            return size
    raise errors.IntegrityError(f"backup_label start {label.start_lsn} does not match {label.start_segment}")


def segment_size_of(wal_name: str, file_size: int, configured: int) -> int:
    """A full segment's size is its cluster's segment size; other files use
    the setting (``configured``)."""
    if len(wal_name) == 24 and file_size and not file_size & (file_size - 1):
        return file_size
    return configured
