"""When a recorded digest stands in for hashing (``domain.checksum_trust``)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from swiftwal.domain.checksum_trust import trusted_digest

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
