"""What a restored WAL file is checked against (``walstore.verified_original``).

The prefetch worker trusts a zstd frame's own content checksum instead of
hashing the whole segment again; these properties hold it to the same
promise as the full check: the original bytes, or ``IntegrityError``."""
from __future__ import annotations

import hashlib

import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from swiftwal.adapters.compression import compress_bytes
from swiftwal.adapters.walstore import verified_original
from swiftwal.domain.errors import IntegrityError

NAME = "wal/000000010000000000000001.zst"
contents = st.lists(st.binary(max_size=2000) | st.binary(min_size=1, max_size=1).map(
    lambda b: b * 5000), min_size=1, max_size=5).map(b"".join)


def stored_object(data: bytes, codec: str = "zstd", stored: bytes | None = None):
    stored = compress_bytes(codec, data) if stored is None else stored
    return stored, {"sha256": hashlib.sha256(data).hexdigest(), "size": str(len(data)),
                    "compression": codec, "stored-sha256": hashlib.sha256(stored).hexdigest()}


@given(contents, st.booleans())
def test_an_intact_object_gives_its_original_and_its_digest_either_way(data, trusted):
    stored, metadata = stored_object(data)
    assert verified_original(NAME, "zstd", stored, metadata, None,
                             trust_frame_checksum=trusted) == (
        data, hashlib.sha256(data).hexdigest())


@settings(max_examples=300)
@given(contents, st.data())
def test_damage_behind_a_matching_stored_digest_is_caught_by_the_frame(data, draw):
    """Bytes damaged before they were uploaded (their stored SHA-256 matches
    the damage): the original comes back exactly, or the object is refused."""
    stored = bytearray(compress_bytes("zstd", data))
    position = draw.draw(st.integers(0, len(stored) - 1))
    stored[position] ^= 1 << draw.draw(st.integers(0, 7))
    damaged, metadata = stored_object(data, stored=bytes(stored))
    try:
        got, digest = verified_original(NAME, "zstd", damaged, metadata, None,
                                        trust_frame_checksum=True)
    except IntegrityError:
        return
    assert (got, digest) == (data, hashlib.sha256(data).hexdigest())


def without_checksum(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(write_checksum=False).compress(data)


@pytest.mark.parametrize("codec, compress", [
    ("zstd", without_checksum),  # no frame checksum: the whole segment is hashed
    ("gzip", lambda data: compress_bytes("gzip", data)),  # CRC-32 does not count
])
def test_without_a_frame_checksum_the_original_is_hashed(codec, compress):
    data = b"segment" * 1000
    stored, metadata = stored_object(data, codec, compress(data))
    metadata["sha256"] = hashlib.sha256(b"another segment").hexdigest()
    with pytest.raises(IntegrityError, match="does not match its SHA-256"):
        verified_original(NAME, codec, stored, metadata, None, trust_frame_checksum=True)


@pytest.mark.parametrize("drop", ["stored-sha256", "size"])
def test_the_frame_checksum_counts_only_beside_the_stored_digest_and_size(drop):
    data = b"segment" * 1000
    stored, metadata = stored_object(data)
    metadata["sha256"] = hashlib.sha256(b"another segment").hexdigest()
    del metadata[drop]
    with pytest.raises(IntegrityError, match="does not match its SHA-256"):
        verified_original(NAME, "zstd", stored, metadata, None, trust_frame_checksum=True)
