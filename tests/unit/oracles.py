"""Naive oracles shared by the property tests: deliberately simple restatements of
PostgreSQL's rules, written without the domain's helpers."""
from __future__ import annotations


def path_of(history):
    """(timeline, first lsn, end lsn or None) from the oldest ancestor to the timeline."""
    points = [0] + [e.switch_lsn.value for e in history.entries] + [None]
    owners = [e.parent for e in history.entries] + [history.timeline]
    return [(owners[i], points[i], points[i + 1]) for i in range(len(owners))]


def naive_on_path(backup, timeline, histories):
    """Recovery from ``backup`` can follow ``timeline``: its whole range, start to stop,
    lies on one span of the path (an unknown history proves nothing wrong)."""
    if backup.timeline == timeline:
        return True
    if backup.timeline > timeline:
        return False
    if timeline not in histories:
        return True
    for owner, begin, end in path_of(histories[timeline]):
        if owner == backup.timeline:
            return begin <= backup.start_lsn.value and (end is None or (
                backup.start_lsn.value < end and backup.stop_lsn.value <= end))
    return False


def naive_chain_complete(backup, backups):
    """Every backup ``backup`` is built on is there, the first one full, and each one
    built on the one before it."""
    present = {b.key: b for b in backups}
    if any(key not in present for key in backup.chain):
        return False
    members = [present[key] for key in backup.chain] + [backup]
    if members[0].chain:
        return False
    return all(newer.chain == older.chain + (older.key,)
               for older, newer in zip(members, members[1:]))


def naive_root(backup):
    return backup.chain[0] if backup.chain else backup.key
