"""The spool's digest is SHA-256 exactly, so spool directory names do not change."""
from __future__ import annotations

import hashlib

from hypothesis import example, given, strategies as st

from swiftwal.adapters.short_sha256 import sha256_hex


@given(st.binary(max_size=600))
@example(b"")
@example(b"a" * 55)
@example(b"a" * 56)
@example(b"a" * 64)
@example(b"abc")
def test_it_is_sha256(data):
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
