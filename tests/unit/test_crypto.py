"""Client-side encryption: round trips over any data and chunk size, and
every kind of tampering detected."""
from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("cryptography", reason="SKIPPED LOUDLY: the optional cryptography package "
                    "is not installed, so client-side encryption is untested")

from swiftwal.adapters import crypto
from swiftwal.domain.errors import ConfigError, IntegrityError

keys = st.binary(min_size=32, max_size=32)
chunk_logs = st.integers(10, 12)
payloads = st.binary(max_size=10_000)


@given(payloads, keys, chunk_logs, st.integers(1, 5000))
def test_decrypting_what_was_encrypted_gives_it_back_whatever_the_read_sizes(data, key, log2, step):
    sealed = crypto.EncryptingReader(io.BytesIO(data), key, log2)
    stored = b""
    while True:
        piece = sealed.read(step)
        if not piece:
            break
        stored += piece
    assert data not in stored or len(data) < 8
    reader = crypto.DecryptingReader(io.BytesIO(stored), key)
    out = b""
    while True:
        piece = reader.read(step)
        if not piece:
            break
        out += piece
    assert out == data
    chunks = max(1, -(-len(data) // (1 << log2)))
    assert len(stored) - len(data) == crypto.HEADER.size + crypto.TAG_SIZE * chunks


@settings(max_examples=200)
@given(st.binary(min_size=1, max_size=5000), keys, st.data())
def test_any_flipped_bit_is_detected(data, key, draw):
    stored = bytearray(crypto.encrypt_bytes(data, key, 10))
    position = draw.draw(st.integers(0, len(stored) - 1))
    stored[position] ^= 1 << draw.draw(st.integers(0, 7))
    with pytest.raises(IntegrityError):
        crypto.decrypt_bytes(bytes(stored), key)


@given(st.binary(min_size=1, max_size=5000), keys, st.data())
def test_any_truncation_is_detected_even_at_a_chunk_boundary(data, key, draw):
    stored = crypto.encrypt_bytes(data, key, 10)
    cut = draw.draw(st.integers(0, len(stored) - 1))
    with pytest.raises(IntegrityError):
        crypto.decrypt_bytes(stored[:cut], key)


def test_chunks_cannot_be_reordered_dropped_or_decrypted_with_another_key():
    key, other = b"k" * 32, b"o" * 32
    data = bytes(range(256)) * 20  # five 1 KiB chunks
    stored = crypto.encrypt_bytes(data, key, 10)
    head, body = stored[:crypto.HEADER.size], stored[crypto.HEADER.size:]
    sealed = 1024 + crypto.TAG_SIZE
    chunks = [body[i:i + sealed] for i in range(0, len(body), sealed)]
    for tampered in (head + chunks[1] + chunks[0] + b"".join(chunks[2:]),
                     head + b"".join(chunks[:2] + chunks[3:]),
                     head + b"".join(chunks[:-1])):
        with pytest.raises(IntegrityError):
            crypto.decrypt_bytes(tampered, key)
    with pytest.raises(IntegrityError):
        crypto.decrypt_bytes(stored, other)
    assert crypto.encrypt_bytes(data, key, 10) != stored  # a fresh nonce prefix each time


def test_keys_load_from_raw_or_hex_files_and_bad_ones_are_config_errors(tmp_path):
    raw, hexa, bad = tmp_path / "raw", tmp_path / "hex", tmp_path / "bad"
    raw.write_bytes(b"\x01" * 32)
    hexa.write_text("01" * 32 + "\n")
    bad.write_text("not a key")
    assert crypto.load_key(str(raw)) == crypto.load_key(str(hexa)) == b"\x01" * 32
    for path in (bad, tmp_path / "missing"):
        with pytest.raises(ConfigError):
            crypto.load_key(str(path))


def test_metadata_names_the_key_and_refuses_a_wrong_or_missing_one():
    key = b"k" * 32
    meta = crypto.object_metadata(key)
    assert crypto.check_metadata(meta, key, "x") is True
    assert crypto.check_metadata({}, None, "x") is False
    assert key.hex() not in str(meta) and "k" * 32 not in str(meta)
    with pytest.raises(ConfigError, match="another key"):
        crypto.check_metadata(meta, b"o" * 32, "x")
    with pytest.raises(ConfigError, match="no encryption key"):
        crypto.check_metadata(meta, None, "x")
