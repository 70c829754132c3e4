"""Which leftovers of interrupted backups prune removes: only keys without
metadata, and only once the key and every write under it are old enough."""
from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from swiftwal.adapters.executor import Leftover
from swiftwal.domain.leftovers import plan_leftovers
from swiftwal.domain.backup import BackupKey

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
DAY = datetime.timedelta(days=1)

ages = st.integers(0, 3 * 24 * 3600).map(lambda s: datetime.timedelta(seconds=s))


@st.composite
def directories(draw):
    """A backup directory: its key's age and the ages of what was written under it."""
    key_age = draw(ages)
    key = str(BackupKey.from_datetime(NOW - key_age))
    writes = draw(st.lists(st.one_of(st.none(), ages.map(lambda a: min(a, key_age))), max_size=4))
    kinds = draw(st.lists(st.sampled_from(["object", "segment", "temp"]), min_size=len(writes),
                          max_size=len(writes)))
    return key, [Leftover(key, f"backups/{key}/{i}", kind, None if age is None else NOW - age)
                 for i, (age, kind) in enumerate(zip(writes, kinds))]


@given(st.lists(directories(), max_size=6, unique_by=lambda d: d[0]), st.data())
def test_only_old_incomplete_backups_are_removed(dirs, data):
    complete = {key for key, _ in dirs if data.draw(st.booleans())}
    leftovers = [item for _, items in dirs for item in items]
    stale, young = plan_leftovers(leftovers, complete, NOW, DAY)
    for key, items in stale.items():
        assert key not in complete
        assert BackupKey.parse(key).time <= NOW - DAY
        assert all(i.last_modified is None or i.last_modified <= NOW - DAY for i in items)
    for key, items in dirs:
        if key in complete or not items:
            assert key not in stale and key not in young
        else:
            assert (key in stale) != (key in young)
            assert key not in stale or sorted(i.name for i in stale[key]) == sorted(i.name for i in items)


def test_a_directory_that_is_not_a_backup_key_is_left_alone():
    odd = [Leftover("not-a-key", "backups/not-a-key/x", "object", NOW - 10 * DAY)]
    assert plan_leftovers(odd, set(), NOW, DAY) == ({}, [])


def test_a_recent_write_under_an_old_key_keeps_it():
    key = str(BackupKey.from_datetime(NOW - 5 * DAY))
    items = [Leftover(key, "a", "segment", NOW - 5 * DAY), Leftover(key, "b", "segment", NOW - datetime.timedelta(minutes=1))]
    assert plan_leftovers(items, set(), NOW, DAY) == ({}, [key])


@given(st.lists(directories(), max_size=6, unique_by=lambda d: d[0]), st.data(), ages)
def test_stale_and_young_partition_the_incomplete_backups(dirs, data, min_age):
    complete = {key for key, _ in dirs if data.draw(st.booleans())}
    leftovers = [item for _, items in dirs for item in items]
    stale, young = plan_leftovers(leftovers, complete, NOW, min_age)
    incomplete = {key for key, items in dirs if items and key not in complete}
    assert set(stale) | set(young) == incomplete
    assert not set(stale) & set(young) and len(young) == len(set(young))
    assert sorted(i.name for items in stale.values() for i in items) == sorted(
        i.name for i in leftovers if i.key in stale)


@given(st.lists(directories(), max_size=6, unique_by=lambda d: d[0]), ages)
def test_nothing_younger_than_min_age_is_stale(dirs, min_age):
    leftovers = [item for _, items in dirs for item in items]
    stale, young = plan_leftovers(leftovers, set(), NOW, min_age)
    limit = NOW - min_age
    for key in stale:
        assert BackupKey.parse(key).time <= limit
        assert all(i.last_modified is None or i.last_modified <= limit for i in stale[key])
    for key in young:
        times = [BackupKey.parse(key).time] + [i.last_modified for i in leftovers
                                                if i.key == key and i.last_modified is not None]
        assert max(times) > limit


@given(st.lists(directories(), max_size=6, unique_by=lambda d: d[0]), ages, ages)
def test_waiting_longer_never_removes_more(dirs, shorter, longer):
    shorter, longer = sorted((shorter, longer))
    leftovers = [item for _, items in dirs for item in items]
    assert set(plan_leftovers(leftovers, set(), NOW, longer)[0]) <= set(
        plan_leftovers(leftovers, set(), NOW, shorter)[0])
