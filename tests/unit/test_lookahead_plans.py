"""The workers' plans: what to store ahead of archive_command and what to
fetch ahead of restore_command."""
from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.domain.lookahead import fetch_plan, push_plan, push_room, wanted_after
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment
from tests.unit.strategies import segments

names = st.builds(lambda s: str(s), segments())
name_sets = st.frozensets(names, max_size=12)


@given(ready=st.lists(names, max_size=30), in_flight=name_sets, done=name_sets,
       room=st.integers(-3, 12))
def test_push_plan_takes_the_oldest_ready_segments_not_yet_in_hand(ready, in_flight, done, room):
    plan = push_plan(ready, in_flight=in_flight, done=done, room=room)
    candidates = sorted(set(ready) - in_flight - done)
    assert plan == candidates[:max(room, 0)]
    assert len(plan) == len(set(plan)) <= max(room, 0)
    assert not set(plan) & (in_flight | done)


@given(parallel=st.integers(1, 16), lookahead=st.integers(0, 64),
       in_flight=st.integers(0, 20), requested=st.integers(0, 20), waiting=st.integers(0, 64))
@example(parallel=4, lookahead=8, in_flight=0, requested=0, waiting=0)
def test_push_room_leaves_slots_and_bounds_what_waits_unasked(parallel, lookahead, in_flight,
                                                              requested, waiting):
    requested = min(requested, in_flight)
    room = push_room(parallel=parallel, lookahead=lookahead, in_flight=in_flight,
                     requested_in_flight=requested, waiting=waiting)
    assert room >= 0
    assert in_flight + room <= max(parallel, in_flight)  # never more uploads than slots
    # stored ahead and not asked for, once these are done: at most the look-ahead
    assert room == 0 or waiting + (in_flight - requested) + room <= lookahead
    if waiting == 0 and in_flight == 0:
        assert room == min(parallel, lookahead)


@given(asked=segments(), count=st.integers(0, 20))
@example(asked=Segment(1, 0xFFFFFFFF, 0xFF), count=3)
def test_wanted_after_follows_on_the_same_timeline_in_order(asked, count):
    wanted = wanted_after(asked, DEFAULT_SEGMENT_SIZE, count)
    assert len(wanted) <= count
    assert all(w.timeline == asked.timeline for w in wanted)
    chain = [asked, *wanted]
    assert all(b == a.next(DEFAULT_SEGMENT_SIZE) for a, b in zip(chain, chain[1:]))


@given(asked=segments(), count=st.integers(0, 16), data=st.data(), room=st.integers(0, 8))
def test_fetch_plan_never_goes_past_a_missing_segment_nor_fetches_twice(asked, count, data, room):
    wanted = [str(s) for s in wanted_after(asked, DEFAULT_SEGMENT_SIZE, count)]
    pick = st.sampled_from(wanted) if wanted else st.just(str(asked))
    in_flight = data.draw(st.frozensets(pick, max_size=4))
    done = data.draw(st.frozensets(pick, max_size=4))
    missing = data.draw(st.frozensets(pick, max_size=2) if wanted else st.just(frozenset()))
    plan = fetch_plan(wanted, in_flight=in_flight, done=done, missing=missing, room=room)
    assert len(plan) == len(set(plan)) <= room
    assert not set(plan) & (in_flight | done | missing)
    positions = [wanted.index(n) for n in plan]
    assert positions == sorted(positions)  # recovery's order
    if missing:
        first_missing = min(wanted.index(n) for n in missing)
        assert all(p < first_missing for p in positions)
    # nothing skipped that could have been taken
    if plan:
        skipped = wanted[:positions[-1]]
        assert all(n in plan or n in in_flight or n in done for n in skipped)
