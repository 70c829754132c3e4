"""Properties of LSNs and WAL file names."""
from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.domain.errors import InvalidInput, InvalidLsn, InvalidWalName
from swiftwal.domain.lsn import MAX_LSN, Lsn
from swiftwal.domain.walnames import (DEFAULT_SEGMENT_SIZE, BackupHistoryFile, HistoryFile,
                                      PartialSegment, Segment, distance, parse_wal_filename,
                                      segments_per_log, validate_segment_size, wal_order_key)

from .strategies import MIB, lsns, segment_numbers, segment_sizes, segments, sized_wal_files

S16 = DEFAULT_SEGMENT_SIZE


@given(st.integers(0, MAX_LSN))
@example(0)
@example(MAX_LSN)
def test_lsn_text_round_trip(value):
    lsn = Lsn(value)
    assert Lsn.parse(str(lsn)) == lsn
    assert str(lsn) == str(lsn).upper()


@given(st.integers(0, MAX_LSN), st.integers(0, MAX_LSN))
def test_lsn_order_is_numeric_order(a, b):
    assert (Lsn(a) < Lsn(b)) == (a < b)


def test_lsn_parses_lower_case_and_short_groups():
    assert Lsn.parse("16/b374d848") == Lsn(0x16B374D848)
    assert str(Lsn.parse("0/0")) == "0/0"


@pytest.mark.parametrize("text", ["", "16", "16/", "/1", "1/2/3", "G/0", "123456789/0",
                                  "0/123456789", " 0/1", "0/1 ", "-1/0"])
def test_invalid_lsn_is_rejected_naming_it(text):
    with pytest.raises(InvalidLsn) as info:
        Lsn.parse(text)
    assert repr(text) in str(info.value)


@given(sized_wal_files())
@example((S16, Segment(1, 0, 0xFF)))
@example((MIB, PartialSegment(Segment(0xFFFFFFFF, 0xFFFFFFFF, 0xFFF))))
@example((1024 * MIB, BackupHistoryFile(Segment(2, 7, 3), 1024 * MIB - 1)))
@example((S16, HistoryFile(10)))
def test_name_round_trip_for_every_kind_and_size(sized):
    size, wal_file = sized
    name = str(wal_file)
    assert parse_wal_filename(name, size) == wal_file
    assert re.fullmatch(r"[0-9A-F]{8}\.history|[0-9A-F]{24}(\.partial|\.[0-9A-F]{8}\.backup)?",
                        name)


@given(segment_sizes, st.data())
def test_segment_parse_format_round_trip(size, data):
    segment = data.draw(segments(size))
    name = str(segment)
    assert len(name) == 24
    assert Segment.parse(name, size) == segment
    assert name == f"{segment.timeline:08X}{segment.log:08X}{segment.seg:08X}"


@st.composite
def sized_inner_numbers(draw):
    """A segment size and a segment number with both neighbours, often at a log-id edge."""
    size = draw(segment_sizes)
    per_log = segments_per_log(size)
    log = draw(st.integers(0, 0xFFFFFFFE))
    number = draw(st.one_of(segment_numbers(size).filter(lambda n: 0 < n < MAX_LSN // size),
                            st.sampled_from([(log + 1) * per_log - 1, (log + 1) * per_log])))
    return size, number


@given(sized_inner_numbers())
@example((S16, 0xFF))
@example((S16, 0x100))
@example((MIB, 0xFFF))
@example((1024 * MIB, 4))
@example((1024 * MIB, MAX_LSN // (1024 * MIB) - 1))
def test_next_and_previous_are_inverse_across_log_boundaries(sized):
    size, number = sized
    per_log = segments_per_log(size)
    segment = Segment.from_number(3, number, size)
    assert segment.number(size) == number
    assert segment.next(size).previous(size) == segment
    assert segment.previous(size).next(size) == segment
    assert distance(segment, segment.next(size), size) == 1
    if segment.seg == per_log - 1:
        assert segment.next(size) == Segment(3, segment.log + 1, 0)
    if segment.seg == 0:
        assert segment.previous(size) == Segment(3, segment.log - 1, per_log - 1)


def test_log_id_rollover_for_16_mib():
    assert Segment.parse("0000000100000001000000FF").next() == Segment(1, 2, 0)
    assert Segment.parse("000000010000000200000000").previous() == Segment(1, 1, 0xFF)
    with pytest.raises(InvalidInput):
        Segment(1, 0, 0).previous()
    with pytest.raises(InvalidInput):
        Segment(1, 0xFFFFFFFF, 0xFF).next()


@given(segment_sizes, st.data())
def test_lsn_to_segment_agrees_with_reference_formula(size, data):
    lsn = data.draw(lsns(size))
    timeline = data.draw(st.integers(1, 0xFFFFFFFF))
    # PostgreSQL: XLByteToSeg is lsn / size; pg_walfile_name uses XLByteToPrevSeg,
    # (lsn - 1) / size in 64-bit unsigned arithmetic.
    per_log = 0x100000000 // size
    held = lsn.value // size
    prev = ((lsn.value - 1) % 2**64) // size
    assert str(Segment.holding(timeline, lsn, size)) == (
        f"{timeline:08X}{held // per_log:08X}{held % per_log:08X}")
    assert str(Segment.from_lsn(timeline, lsn, size)) == (
        f"{timeline:08X}{prev // per_log:08X}{prev % per_log:08X}")
    segment = Segment.holding(timeline, lsn, size)
    assert segment.start_lsn(size) <= lsn <= segment.end_lsn(size)


@given(segment_sizes, st.data())
def test_segment_order_is_consistent_with_lsn_order_within_a_timeline(size, data):
    a, b = data.draw(lsns(size)), data.draw(lsns(size))
    sa, sb = Segment.holding(5, a, size), Segment.holding(5, b, size)
    if a <= b:
        assert sa <= sb
        assert wal_order_key(sa) <= wal_order_key(sb)
    if sa < sb:
        assert a < b
        assert sa.start_lsn(size) < sb.start_lsn(size)


@given(segment_sizes, st.data())
def test_distance_is_difference_of_positions(size, data):
    a, b = data.draw(segments(size)), data.draw(segments(size))
    assert distance(a, b, size) == -distance(b, a, size)
    assert (b.start_lsn(size).value - a.start_lsn(size).value) == distance(a, b, size) * size


def test_order_key_puts_history_first_and_interleaves_timelines():
    names = ["000000020000000000000005", "00000003.history", "000000010000000000000006",
             "000000010000000000000005.partial", "000000010000000000000005",
             "000000010000000000000005.00000028.backup"]
    ordered = sorted((parse_wal_filename(n) for n in names), key=wal_order_key)
    assert [str(f) for f in ordered] == [
        "00000003.history", "000000010000000000000005", "000000010000000000000005.partial",
        "000000010000000000000005.00000028.backup", "000000020000000000000005",
        "000000010000000000000006"]


@pytest.mark.parametrize("name", [
    "", "00000001000000000000000", "0000000100000000000000001", "00000001000000000000000g",
    "00000001000000000000000a", "000000010000000000000100",  # seg 0x100 too big for 16 MiB
    "000000000000000000000001", "00000000.history", "0000001.history", "0000000A.History",
    "000000010000000000000001.gz", "000000010000000000000001.partial.gz",
    "000000010000000000000001.0000002.backup", "000000010000000000000001.01000000.backup",
    "000000010000000000000001.backup", "backup_label", "00000001000000000000000A.ready",
])
def test_invalid_wal_name_is_rejected_naming_it(name):
    with pytest.raises(InvalidWalName) as info:
        parse_wal_filename(name)
    assert repr(name) in str(info.value)
    assert isinstance(info.value, ValueError)


@given(st.text(max_size=30))
def test_arbitrary_text_parses_or_raises_invalid_wal_name(text):
    try:
        parsed = parse_wal_filename(text)
    except InvalidWalName as exc:
        assert repr(text) in str(exc)
    else:
        assert str(parsed) == text


@given(st.integers(0, 2**31))
@example(MIB)
@example(1024 * MIB)
@example(3 * MIB)
@example(2 * 1024 * MIB)
@example(MIB // 2)
def test_segment_size_is_a_power_of_two_from_1_mib_to_1_gib(size):
    valid = MIB <= size <= 1024 * MIB and size & (size - 1) == 0
    if valid:
        assert validate_segment_size(size) == size
    else:
        with pytest.raises(InvalidInput) as info:
            validate_segment_size(size)
        assert repr(size) in str(info.value)


def test_segment_number_depends_on_segment_size():
    segment = Segment.parse("000000010000000100000003", 1024 * MIB)
    assert segment.number(1024 * MIB) == 4 + 3
    assert segment.start_lsn(1024 * MIB) == Lsn.parse("1/C0000000")
    with pytest.raises(InvalidWalName):
        Segment.parse("000000010000000100000004", 1024 * MIB)
