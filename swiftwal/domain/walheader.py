"""The long page header at the start of every WAL segment (pure parsing).

Layout (PostgreSQL's XLogLongPageHeaderData, little-endian on the machines
swiftwal runs on): magic u16, info u16, timeline u32, page address u64,
remaining length u32, 4 bytes of padding, system identifier u64, segment
size u32, block size u32.
"""
from __future__ import annotations

import struct

import attrs

from swiftwal.domain.errors import InvalidInput
from swiftwal.domain.walnames import Segment

_LAYOUT = struct.Struct("<HHIQI4xQII")
XLP_LONG_HEADER = 0x0002


@attrs.frozen
class WalHeader:
    magic: int
    timeline: int
    page_address: int
    system_identifier: int
    segment_size: int


def parse_wal_header(head: bytes, name: str) -> WalHeader:
    if len(head) < _LAYOUT.size:
        raise InvalidInput(f"{name} is too short to be a WAL segment ({len(head)} bytes)")
    magic, info, timeline, address, _rem, sysid, seg_size, _block = _LAYOUT.unpack_from(head)
    if not info & XLP_LONG_HEADER:
        raise InvalidInput(f"{name} does not start with a WAL segment header")
    return WalHeader(magic, timeline, address, sysid, seg_size)


def check_segment_header(head: bytes, segment: Segment, file_size: int, name: str) -> WalHeader:
    """The header must describe the segment its file name says it is.

    The first segment of a new timeline may start with pages of an ancestor
    (lower) timeline: at a switch inside a segment, PostgreSQL copies the part
    before the switch point from the parent's segment."""
    header = parse_wal_header(head, name)
    if header.segment_size != file_size:
        raise InvalidInput(f"{name} is {file_size} bytes but its header says {header.segment_size}")
    expected = segment.start_lsn(file_size).value
    if header.timeline > segment.timeline or header.page_address != expected:
        raise InvalidInput(f"{name} holds the WAL of timeline {header.timeline} at "
                           f"{header.page_address >> 32:X}/{header.page_address & 0xFFFFFFFF:X}, "
                           f"not what its name says")
    return header
