"""The WAL page header check archive-wal makes before storing a segment."""
from __future__ import annotations

import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.domain.errors import InvalidInput
from swiftwal.domain.walheader import XLP_LONG_HEADER, check_segment_header
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment
from tests.unit.strategies import segments

SIZE = DEFAULT_SEGMENT_SIZE


def header(timeline: int, address: int, size: int = SIZE) -> bytes:
    return struct.pack("<HHIQI4xQII", 0xD110, XLP_LONG_HEADER, timeline, address % (1 << 64),
                       0, 42, size, 8192)


@example(Segment.parse("000000020000000000000003"), 1)
@given(segments(SIZE), st.integers(0, 1000))
def test_a_segment_may_start_with_pages_of_its_own_or_an_ancestor_timeline(segment, back):
    # at a timeline switch inside a segment, PostgreSQL copies the parent's pages before it
    written = max(1, segment.timeline - back)
    head = header(written, segment.start_lsn(SIZE).value)
    assert check_segment_header(head, segment, SIZE, "f").timeline == written


@given(segments(SIZE), st.integers(1, 1000))
def test_a_later_timeline_or_another_position_is_refused(segment, offset):
    start = segment.start_lsn(SIZE).value
    if segment.timeline + offset <= 0xFFFFFFFF:
        with pytest.raises(InvalidInput, match="not what its name says"):
            check_segment_header(header(segment.timeline + offset, start), segment, SIZE, "f")
    with pytest.raises(InvalidInput, match="not what its name says"):
        check_segment_header(header(segment.timeline, start + offset * SIZE), segment, SIZE, "f")
