"""The ordered, bounded read-ahead used to fetch large-object segments, and how an
upload sizes its segments."""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time

import pytest
from hypothesis import given, settings, strategies as st

from swiftwal.adapters.storage.swift_segments import (SegmentUpload, manifest_items, ordered_map,
                                                     slo_etag)
from swiftwal.domain.errors import StorageError


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


class _MemorySwift:
    """Just enough of a swiftclient connection for ``SegmentUpload``: objects in a dict."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put_object(self, container, name, contents, content_length=None, etag=None,
                   headers=None, query_string=None, response_dict=None):
        data = bytes(contents.read())
        assert len(data) == content_length
        with self._lock:
            self.objects[name] = data
        return hashlib.md5(data).hexdigest()

    def post_object(self, container, name, headers):
        assert name in self.objects


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(1, 64), st.sampled_from([1, 2, 4, 8, 16]),
       st.integers(-80, 40))
def test_segments_grow_within_bounds_and_every_byte_is_in_the_manifest(limit, first, growth,
                                                                        extra):
    swift = _MemorySwift()
    upload = SegmentUpload(connect=lambda: swift, container="c", name="obj", upload="u",
                           segment_size=first, max_segment_size=first * growth, buffers=3,
                           limit=limit, expiry=60)
    sizes = [upload._segment_size(number) for number in range(1, limit * limit + 1)]
    assert sizes == sorted(sizes) and sizes[0] == first and sizes[-1] <= first * growth
    if growth >= 8 and limit >= 2:  # what growing buys: room for far larger objects
        assert sum(sizes) >= 3.75 * first * limit * limit
    data = os.urandom(max(1, sum(sizes) + extra))
    source = io.BytesIO(data)
    take = lambda n: bytearray(source.read(n))  # noqa: E731
    if len(data) > sum(sizes):
        with pytest.raises(StorageError, match="more than"):
            upload.send(take)
        return
    stored = []
    for item in upload.send(take):
        body = swift.objects[item["path"].split("/", 2)[2]]
        stored += json.loads(body) if "/manifest-" in item["path"] else [item]
    pieces = [swift.objects[item["path"].split("/", 2)[2]] for item in stored]
    assert b"".join(pieces) == data
    assert [len(p) for p in pieces[:-1]] == sizes[:len(pieces) - 1]
