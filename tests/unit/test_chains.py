"""Backup chains in the domain: a chain's members, whether it is complete, the WAL
it needs, the parent of a new incremental, and retention that counts chains, each
checked against a naive oracle."""
from __future__ import annotations

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.domain import errors
from swiftwal.domain.backup import BackupKey, BackupRecord, TablespaceBackup
from swiftwal.domain.chains import (chain_complete, chain_groups, chain_of, chain_wal_start,
                                    choose_parent, require_complete, restorable, root_key)
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.prune import PrunePolicy, plan_prune
from swiftwal.domain.walnames import Segment

from .oracles import naive_chain_complete, naive_on_path, naive_root
from .strategies import MIB, chained_archives, incremental_on, plain_backup
from .test_prune import naive_latest_timeline, naive_needed_positions, policies, position

SIZE = 16 * MIB


def _backup(key: str, start: str, timeline: int = 1) -> BackupRecord:
    return attrs.evolve(plain_backup(BackupKey.parse(key), timeline, Lsn.parse(start), SIZE),
                        manifest_object=f"backups/{key}/backup_manifest.zst")


@st.composite
def chained_archives_and_policies(draw):
    archive = draw(chained_archives())
    return archive, draw(policies(archive.now))


# --- the naive oracle of retention with chains ---------------------------------------------

def naive_kept(archive, policy):
    """What rules 1 to 4 keep, restated: the newest N chains by their full backup's key
    and the newest backup; the recovery window and the newest timeline as before, where
    only a complete chain can anchor; then every member of a kept backup's chain."""
    backups = sorted(archive.backups, key=lambda b: b.key)
    present = {b.key: b for b in backups}
    complete = [b for b in backups if naive_chain_complete(b, backups)]
    roots = sorted({naive_root(b) for b in backups})
    kept = {b.key for b in backups if naive_root(b) in roots[max(0, len(roots) - policy.keep_backups):]}
    if backups:
        kept.add(backups[-1].key)
    latest = naive_latest_timeline(archive)
    histories = archive.known_histories
    if policy.recovery_window is not None:
        start = policy.now - policy.recovery_window
        inside = [b for b in backups if b.key.time >= start]
        kept |= {b.key for b in inside}
        for timeline in {latest} | {b.timeline for b in inside}:
            path = [b for b in backups if naive_on_path(b, timeline, histories)]
            anchors = [n for n, b in enumerate(path) if b.finished_at <= start and b in complete]
            kept |= {b.key for b in path[anchors[-1] if anchors else 0:]}
    on_latest = [b for b in complete if naive_on_path(b, latest, histories)]
    if on_latest and not any(b.key in kept for b in on_latest):
        kept.add(on_latest[-1].key)
    while True:
        more = {k for key in kept for k in present[key].chain if k in present} - kept
        if not more:
            return {present[key] for key in kept}
        kept |= more


def _plan(archive, policy, backups=None, wal_files=None):
    return plan_prune(archive.backups if backups is None else backups,
                      archive.wal_files if wal_files is None else wal_files, policy,
                      archive.known_histories, archive.segment_size)


# --- properties of retention with chains ------------------------------------------------------

@given(chained_archives_and_policies())
def test_prune_keeps_what_the_naive_oracle_keeps(case):
    archive, policy = case
    plan = _plan(archive, policy)
    assert {d.item for d in plan.keep_backups} == naive_kept(archive, policy)
    assert {d.item for d in plan.keep_backups} | set(plan.backups_to_delete) == set(archive.backups)


@given(chained_archives_and_policies())
def test_prune_never_orphans_a_kept_incremental(case):
    archive, policy = case
    plan = _plan(archive, policy)
    kept = {d.item.key for d in plan.keep_backups}
    present = {b.key for b in archive.backups}
    for decision in plan.keep_backups:
        assert {k for k in decision.item.chain if k in present} <= kept, decision


@given(chained_archives_and_policies())
def test_prune_deletes_only_what_no_kept_chain_needs(case):
    archive, policy = case
    plan = _plan(archive, policy)
    kept = [d.item for d in plan.keep_backups]
    needed = {k for b in kept for k in (*b.chain, b.key)}
    roots = sorted({root_key(b) for b in archive.backups})
    newest_roots = set(roots[max(0, len(roots) - policy.keep_backups):])
    for doomed in plan.backups_to_delete:
        assert doomed.key not in needed
        assert root_key(doomed) not in newest_roots
    if archive.backups:
        assert max(archive.backups, key=lambda b: b.key) in kept


@given(chained_archives_and_policies())
def test_prune_with_chains_is_idempotent(case):
    archive, policy = case
    plan = _plan(archive, policy)
    left = [b for b in archive.backups if b not in plan.backups_to_delete]
    left_wal = [f for f in archive.wal_files if f not in plan.wal_to_delete]
    again = _plan(archive, policy, left, left_wal)
    assert again.delete_backups == () and again.delete_wal == ()
    assert again.keep_backups == plan.keep_backups


@given(chained_archives_and_policies())
def test_prune_never_deletes_wal_a_kept_member_of_a_chain_needs(case):
    archive, policy = case
    plan = _plan(archive, policy)
    needed = naive_needed_positions(archive, naive_kept(archive, policy))
    for decision in plan.delete_wal:
        assert position(decision.item, archive.segment_size) not in needed, decision


# --- properties of the chain itself ------------------------------------------------------------

@given(chained_archives())
def test_a_chain_is_complete_exactly_when_the_naive_oracle_says_so(archive):
    for backup in archive.backups:
        chain = chain_of(backup, archive.backups)
        assert chain.complete == naive_chain_complete(backup, archive.backups)
        assert chain_complete(backup, archive.backups) == chain.complete
        assert chain.keys == (*backup.chain, backup.key)
        assert [m.key for m in chain.members] == [k for k in chain.keys
                                                  if k not in chain.missing]
        assert chain.members[-1] == backup and (chain.broken_reason() is None) == chain.complete
    assert restorable(archive.backups) == [b for b in archive.backups
                                           if naive_chain_complete(b, archive.backups)]


@given(chained_archives())
def test_a_chain_needs_wal_from_the_start_of_its_newest_member(archive):
    for backup in archive.backups:
        chain = chain_of(backup, archive.backups)
        assert chain.wal_start() == backup.start_segment
        assert chain_wal_start(list(reversed(chain.members))) == backup.start_segment


@given(chained_archives())
def test_chain_groups_hold_every_backup_once_under_its_full_backup(archive):
    groups = chain_groups(archive.backups)
    members = [m for g in groups for m in g.members]
    assert sorted(members, key=lambda b: b.key) == sorted(archive.backups, key=lambda b: b.key)
    for group in groups:
        assert all(root_key(m) == group.root for m in group.members)
        assert group.stored_size == sum(m.total_stored_size or 0 for m in group.members)
        if group.full is not None:
            assert group.members[0] == group.full and not group.full.chain


def _with_tablespaces(record, sizes):
    """``record`` with a tablespace of each OID in ``sizes``, of that raw size (and
    a stored size of half of it)."""
    return attrs.evolve(record, tablespaces=tuple(
        TablespaceBackup(oid=oid, location=f"/ts/{oid}", data_object=f"backups/{record.key}/"
                         f"{oid}.tar.zst", raw_size=size, stored_size=size // 2)
        for oid, size in sorted(sizes.items())))


@given(st.lists(st.dictionaries(st.sampled_from([16384, 16385, 16390]),
                                st.integers(0, 1 << 40), max_size=3),
                min_size=1, max_size=4),
       st.lists(st.integers(0, 1 << 40), min_size=4, max_size=4))
def test_restoring_a_chain_takes_twice_each_part_in_its_own_directory_and_the_sizes_count_all(
        tablespaces, data_sizes):
    members, parent = [], None
    for number, sizes in enumerate(tablespaces):
        record = _backup(f"2026010{number + 1}T000000Z", f"0/{number + 2}000028")
        record = _with_tablespaces(attrs.evolve(record, raw_size=data_sizes[number]), sizes)
        members.append(record if parent is None else incremental_on(record, parent))
        parent = members[-1]
    chain = chain_of(members[-1], members)
    oids = {oid for sizes in tablespaces for oid in sizes}
    assert chain.restore_space() == 2 * sum(data_sizes[:len(members)])
    for oid in oids:
        assert chain.restore_space(oid) == 2 * sum(sizes.get(oid, 0) for sizes in tablespaces)
    # every byte of every member is somewhere: the data directory or one tablespace
    assert chain.restore_space() + sum(chain.restore_space(oid) for oid in oids) == \
        2 * chain.raw_size
    assert chain.stored_size == sum(m.total_stored_size for m in members)
    (group,) = chain_groups(members)
    assert group.stored_size == chain.stored_size


# --- examples ------------------------------------------------------------------------------------

def _chain():
    full = _backup("20260101T000000Z", "0/2000028")
    first = incremental_on(_backup("20260102T000000Z", "0/4000028"), full)
    second = incremental_on(_backup("20260103T000000Z", "0/6000028"), first)
    return full, first, second


def test_the_issue_example_keep_one_keeps_the_second_full_and_its_incremental():
    full1, incr1, _ = _chain()
    full2 = _backup("20260104T000000Z", "0/8000028")
    incr2 = incremental_on(_backup("20260105T000000Z", "0/A000028"), full2)
    wal = [Segment.from_number(1, n, SIZE) for n in range(2, 12)]
    plan = plan_prune([full1, incr1, full2, incr2], wal, PrunePolicy(keep_backups=1, keep_wals=0))
    assert [b.key for b in plan.backups_to_delete] == [full1.key, incr1.key]
    assert [d.item.key for d in plan.keep_backups] == [full2.key, incr2.key]
    assert {str(f) for f in plan.wal_to_delete} == {str(Segment.from_number(1, n, SIZE))
                                                    for n in range(2, 8)}
    assert "built on 20260101T000000Z, older than the newest 1 backups" in \
        dict((str(d.item.key), d.reason) for d in plan.delete_backups)[str(incr1.key)]


def test_keeping_one_chain_keeps_every_member_of_the_newest():
    full, first, second = _chain()
    plan = plan_prune([full, first, second], [], PrunePolicy(keep_backups=1, keep_wals=0))
    assert plan.backups_to_delete == ()
    reasons = {str(d.item.key): d.reason for d in plan.keep_backups}
    assert reasons == {str(full.key): "one of the newest 1 backups",
                       str(first.key): "built on 20260101T000000Z, one of the newest 1 backups",
                       str(second.key): "built on 20260101T000000Z, one of the newest 1 backups"}


def test_the_newest_backup_keeps_its_chain_even_on_an_older_full_backup():
    """``backup --incremental --from`` may build the newest backup on an older full one."""
    full1 = _backup("20260101T000000Z", "0/2000028")
    full2 = _backup("20260102T000000Z", "0/4000028")
    newest = incremental_on(_backup("20260103T000000Z", "0/6000028"), full1)
    plan = plan_prune([full1, full2, newest], [], PrunePolicy(keep_backups=1, keep_wals=0))
    reasons = {str(d.item.key): d.reason for d in plan.keep_backups}
    assert reasons == {str(full1.key): "the kept incremental backup 20260103T000000Z is built on it",
                       str(full2.key): "one of the newest 1 backups",
                       str(newest.key): "the newest backup"}


def test_a_broken_chain_is_named_and_refused():
    full, first, second = _chain()
    chain = chain_of(second, [full, second])
    assert not chain.complete and chain.missing == (first.key,)
    assert chain.broken_reason() == ("backup 20260103T000000Z is incremental and its chain is "
                                     "broken: 20260102T000000Z is missing")
    with pytest.raises(errors.BrokenChain) as caught:
        require_complete(second, [full, second])
    assert caught.value.exit_status == 9 and caught.value.code == "broken-chain"
    assert require_complete(second, [full, first, second]).members == (full, first, second)


def test_members_that_disagree_are_no_chain():
    full, first, second = _chain()
    other = attrs.evolve(first, chain=(), parent=None, backup_type="full")
    chain = chain_of(second, [full, other, second])
    assert not chain.complete
    assert chain.problems == (
        "20260102T000000Z and its parent 20260101T000000Z disagree on their chain",
        "20260103T000000Z and its parent 20260102T000000Z disagree on their chain")


def test_the_parent_is_the_newest_backup_of_the_cluster_on_the_timeline():
    full, first, second = _chain()
    other_timeline = _backup("20260104T000000Z", "0/8000028", timeline=2)
    backups = [full, first, second, other_timeline]
    system = full.system_identifier
    assert choose_parent(backups, 1, system) == second
    assert choose_parent(backups, 1, system, from_key=first.key) == first
    assert choose_parent(backups, 2, system) == other_timeline


@pytest.mark.parametrize("case, kind, message", [
    ("empty", errors.BackupNotFound,
     "no full backup of this cluster on timeline 1 to base an incremental backup on"),
    ("other cluster", errors.BackupNotFound,
     "no full backup of this cluster on timeline 1 to base an incremental backup on"),
    ("no manifests", errors.BackupNotFound,
     "no full backup of this cluster on timeline 1 to base an incremental backup on: its "
     "backups there have no stored manifest (taken by an earlier swiftwal or from PostgreSQL 12)"),
    ("from missing", errors.BackupNotFound, "backup 20990101T000000Z (--from) is not in the store"),
    ("from other timeline", errors.InvariantViolated,
     "backup 20260104T000000Z is on timeline 2, the server on timeline 1"),
    ("from other cluster", errors.InvariantViolated,
     "backup 20260101T000000Z is of another cluster (system identifier 7300000000000000001, "
     "the server's is 42)"),
    ("no manifest", errors.InvariantViolated, "backup 20260101T000000Z has no stored manifest"),
    ("broken", errors.BrokenChain, "cannot base an incremental backup on 20260103T000000Z: "
                                   "backup 20260103T000000Z is incremental and its chain is "
                                   "broken: 20260102T000000Z is missing"),
])
def test_each_refusal_to_choose_a_parent_says_why(case, kind, message):
    full, first, second = _chain()
    system, timeline, from_key, backups = full.system_identifier, 1, None, [full, first, second]
    if case == "empty":
        backups = []
    elif case == "other cluster":
        system = "42"
    elif case == "no manifests":
        backups = [attrs.evolve(full, manifest_object=None)]
    elif case == "from missing":
        from_key = BackupKey.parse("20990101T000000Z")
    elif case == "from other timeline":
        backups.append(_backup("20260104T000000Z", "0/8000028", timeline=2))
        from_key = backups[-1].key
    elif case == "from other cluster":
        system, from_key = "42", full.key
    elif case == "no manifest":
        backups, from_key = [attrs.evolve(full, manifest_object=None)], full.key
    elif case == "broken":
        backups = [full, second]
    with pytest.raises(kind) as caught:
        choose_parent(backups, timeline, system, from_key)
    assert caught.value.message.startswith(message)
