"""When a recorded digest stands in for hashing (``domain.checksum_trust``)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from swiftwal.domain.checksum_trust import digest_metadata, recorded_digest, trusted_digest

digests = st.sampled_from(["", "ab" * 32, "cd" * 32])
metadata = st.fixed_dictionaries({}, optional={
    "sha256": digests, "stored-sha256": digests, "size": st.sampled_from(["", "0", "16", "17"]),
    "compression": st.sampled_from(["zstd", "gzip"])})


@given(metadata, st.integers(0, 20), st.booleans())
def test_trusted_only_with_both_digests_the_right_size_and_checked_frames(meta, size, framed):
    trusted = trusted_digest(meta, size, framed)
    complete = (framed and bool(meta.get("sha256")) and bool(meta.get("stored-sha256"))
                and meta.get("size") == str(size))
    assert (trusted is not None) == complete
    assert trusted is None or trusted == meta["sha256"]


@given(metadata, st.integers(0, 20))
def test_without_checked_frames_nothing_is_trusted(meta, size):
    assert trusted_digest(meta, size, False) is None


hexes = st.text("0123456789abcdef", min_size=32, max_size=64)
texts = st.one_of(hexes.map(lambda h: f"xxh128:{h[:32]}"), hexes.filter(lambda h: len(h) == 64))


@given(texts, st.booleans())
def test_a_digest_round_trips_through_the_metadata_that_records_it(digest, stored):
    metadata = digest_metadata(digest, stored=stored)
    assert recorded_digest(metadata, stored=stored) == digest
    assert recorded_digest(metadata, stored=not stored) is None
    assert set(digest) <= set("0123456789abcdefxh:")  # a file-name part: no '/' nor '.'


@given(hexes.map(lambda h: h[:32]), st.integers(0, 20), st.booleans())
def test_a_recorded_xxh128_is_never_trusted(value, size, framed):
    meta = {"xxh128": value, "stored-xxh128": value, "size": str(size)}
    assert trusted_digest(meta, size, framed) is None
    assert trusted_digest({**meta, "sha256": "ab" * 32}, size, framed) is None
