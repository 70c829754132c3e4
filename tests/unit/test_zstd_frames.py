"""ZstdFrameEnds: zstandard reads each frame header, the block headers are
followed to each frame's end; a stream is complete only between frames."""
from __future__ import annotations

import io
import struct

import pytest
import zstandard

from swiftwal.adapters.compression import ZstdFrameEnds, decompressing_reader
from swiftwal.domain.errors import IntegrityError

SKIPPABLE = struct.pack("<II", 0x184D2A5E, 5) + b"notes"
WITH_CHECKSUM = zstandard.ZstdCompressor(write_checksum=True).compress(b"wal " * 5000)
PLAIN = zstandard.ZstdCompressor(write_checksum=False, write_content_size=False).compress(
    bytes(300_000) + b"tail")
EMPTY = zstandard.ZstdCompressor(write_checksum=True).compress(b"")
STREAM = SKIPPABLE + WITH_CHECKSUM + EMPTY + PLAIN + SKIPPABLE


def walk(data: bytes, piece: int) -> None:
    frames = ZstdFrameEnds(zstandard)
    for start in range(0, len(data), piece):
        frames.feed(data[start:start + piece])
    frames.finish()


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 1 << 20])
def test_a_whole_stream_ends_between_frames_however_it_arrives(piece):
    walk(STREAM, piece)


def test_a_stream_cut_anywhere_inside_a_frame_is_truncated():
    ends = {0}
    for frame in (SKIPPABLE, WITH_CHECKSUM, EMPTY, PLAIN, SKIPPABLE):
        ends.add(max(ends) + len(frame))
    for cut in range(len(STREAM)):
        if cut in ends and cut:
            walk(STREAM[:cut], 4096)
            continue
        with pytest.raises(IntegrityError, match="truncated"):
            walk(STREAM[:cut], 4096)


@pytest.mark.parametrize("damage", [
    lambda d: b"\0\0\0\0" + d[4:],  # no magic number
    lambda d: d[:4] + bytes([d[4] | 0x08]) + d[5:],  # reserved descriptor bit
])
def test_a_bad_frame_header_is_corrupt(damage):
    with pytest.raises(IntegrityError, match="corrupt"):
        walk(damage(WITH_CHECKSUM), 4096)


def test_the_reader_gives_what_the_frames_hold_and_skips_skippable_ones():
    reader = decompressing_reader("zstd", io.BytesIO(STREAM))
    assert b"".join(iter(lambda: reader.read(1000), b"")) == (
        b"wal " * 5000 + bytes(300_000) + b"tail")
