"""The ordered, bounded read-ahead used to fetch large-object segments."""
from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from swiftwal.adapters.storage.swift_segments import manifest_items, ordered_map, slo_etag


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(), max_size=40), st.integers(1, 6),
       st.lists(st.floats(0, 0.002), min_size=1, max_size=5))
def test_results_come_in_input_order_with_bounded_read_ahead(items, ahead, delays):
    lock = threading.Lock()
    started = []
    consumed = []

    def work(item):
        with lock:
            started.append(item)
            # Never more than ``ahead`` items beyond those already handed out.
            assert len(started) <= len(consumed) + ahead + 1
        time.sleep(delays[len(started) % len(delays)])
        return item * 2

    for result in ordered_map(work, items, ahead):
        consumed.append(result)
    assert consumed == [item * 2 for item in items]


@given(st.integers(0, 20), st.integers(1, 4))
def test_the_first_failure_in_order_is_raised_and_later_items_stop(fail_at, ahead):
    done = []

    def work(item):
        if item >= fail_at:
            raise ValueError(item)
        done.append(item)
        return item

    results = []
    with pytest.raises(ValueError) as info:
        for result in ordered_map(work, range(fail_at + 30), ahead):
            results.append(result)
    assert info.value.args == (fail_at,) and results == list(range(fail_at))
    assert len(done) == fail_at  # nothing past the failure ran to completion


def test_closing_early_draws_no_more_items():
    drawn = []

    def items():
        for i in range(1000):
            drawn.append(i)
            yield i

    iterator = ordered_map(lambda x: x, items(), 3)
    assert [next(iterator) for _ in range(5)] == list(range(5))
    iterator.close()
    assert len(drawn) <= 5 + 3


@given(st.lists(st.lists(st.integers(0, 99), max_size=4), max_size=5))
def test_sub_manifests_expand_in_place(groups):
    manifests = {f"/c/m{i}": [{"name": f"/c/s{v}", "hash": "h"} for v in group]
                 for i, group in enumerate(groups)}
    top = [{"name": name, "sub_slo": True} for name in manifests]
    flat = [item["name"] for item in manifest_items(manifests.__getitem__, top)]
    assert flat == [f"/c/s{v}" for group in groups for v in group]


def test_slo_etag_is_the_md5_of_the_concatenated_segment_etags():
    import hashlib

    assert slo_etag(["ab", "cd"]) == hashlib.md5(b"abcd").hexdigest()
