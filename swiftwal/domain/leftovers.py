"""What ``prune`` removes of interrupted backups: the objects under ``backups/<KEY>/``
of a key without ``backup.json``, once no backup can still be writing there.

A running backup writes under its key until it stores its metadata last, so
only the age of the key and of every write under it tells an interrupted
backup from one in progress.  The caller lists the store and gives the time.
"""
from __future__ import annotations

import datetime
from typing import Collection, Dict, Iterable, List, Tuple

from swiftwal.domain import errors
from swiftwal.domain.backup import BackupKey


def plan_leftovers(leftovers: Iterable, complete_keys: Collection[str],
                   now: datetime.datetime, min_age: datetime.timedelta
                   ) -> Tuple[Dict[str, List], List[str]]:
    """``(stale, young)``: leftovers by key of backups without metadata, split
    by whether the key and every write under it are older than ``min_age``.
    Each leftover has a ``key`` and a ``last_modified`` (None: unknown), as
    ``swiftwal.adapters.executor.Leftover``.  Directories whose name is not a
    backup key are not ours and are left alone."""
    by_key: Dict[str, List] = {}
    for item in leftovers:
        if item.key not in complete_keys:
            by_key.setdefault(item.key, []).append(item)
    stale, young = {}, []
    limit = now - min_age
    for key, items in by_key.items():
        try:
            started = BackupKey.parse(key).time
        except errors.InvalidInput:
            continue
        times = [started] + [i.last_modified for i in items if i.last_modified is not None]
        if max(times) <= limit:
            stale[key] = items
        else:
            young.append(key)
    return stale, young
