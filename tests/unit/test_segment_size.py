"""The segment size read from what a cluster wrote (``domain.segment_size``)."""
from __future__ import annotations

import pytest
from hypothesis import assume, given, strategies as st

from swiftwal.domain.backup import BackupLabel
from swiftwal.domain.errors import IntegrityError
from swiftwal.domain.segment_size import infer_segment_size, segment_size_of
from swiftwal.domain.walnames import Segment, segments_per_log

from .strategies import lsns, segment_sizes, timelines


@given(segment_sizes, st.data(), timelines)
def test_the_size_inferred_from_a_label_names_its_start_file_as_the_cluster_did(
        size, data, timeline):
    lsn = data.draw(lsns(size))
    start = Segment.from_lsn(timeline, lsn, size)
    inferred = infer_segment_size(BackupLabel(lsn, start, timeline))
    assert Segment.from_lsn(timeline, lsn, inferred) == start
    assert inferred <= size  # the smallest that agrees: the label cannot tell smaller ones apart


@given(segment_sizes, st.data(), timelines)
def test_the_cluster_size_is_inferred_unless_the_start_file_begins_a_log_id(
        size, data, timeline):
    """Within a log id the file number counts segments of the cluster's size:
    only the first file of a log id reads the same with smaller sizes."""
    lsn = data.draw(lsns(size))
    start = Segment.from_lsn(timeline, lsn, size)
    assume(start.number(size) % segments_per_log(size))
    assert infer_segment_size(BackupLabel(lsn, start, timeline)) == size


def test_a_label_no_size_explains_is_refused():
    start = Segment.parse("000000010000000000000009")
    label = BackupLabel(Segment.parse("000000010000000000000001").start_lsn(), start, 1)
    with pytest.raises(IntegrityError, match="does not match"):
        infer_segment_size(label)


@given(st.integers(20, 30), st.integers(1, 1 << 31))
def test_a_whole_segment_tells_its_size_and_anything_else_takes_the_setting(shift, size):
    segment = "000000010000000000000003"
    configured = 1 << shift
    power_of_two = not size & (size - 1)
    assert segment_size_of(segment, size, configured) == (size if power_of_two else configured)
    for other in (segment + ".partial", "00000002.history",
                  "000000010000000000000003.00000028.backup"):
        assert segment_size_of(other, size, configured) == configured
    assert segment_size_of(segment, 0, configured) == configured
