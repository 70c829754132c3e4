"""The one check ``prune`` makes beyond its plan: it must not leave only backups
that would not restore while deleting one that would.

The verdicts are ``verify``'s (``swiftwal.domain.verification.BackupReport``,
metadata checks); reading the store for them is the caller's part.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.errors import InvariantViolated
from swiftwal.domain.verification import BackupReport


def losing_the_last_good_backup(kept: Sequence[BackupRecord], doomed: Sequence[BackupRecord],
                                reports: Iterable[BackupReport]) -> Optional[InvariantViolated]:
    """The error to refuse with when no ``kept`` backup verifies but a
    ``doomed`` one does; None when the plan may go ahead.  ``reports``: one
    per backup of ``kept`` and ``doomed``."""
    by_key = {r.key: r for r in reports}
    if any(by_key[str(b.key)].ok for b in kept):
        return None
    good = [b for b in doomed if by_key[str(b.key)].ok]
    if not good:
        return None
    return InvariantViolated(
        f"prune would delete {good[-1].key}, the last backup that verifies; the backups it "
        f"keeps would not restore ({', '.join(str(b.key) for b in kept)})",
        hint="see 'swiftwal verify --all'; --force deletes anyway")
