"""What a restored WAL file is checked against (``walstore.verified_original``).

The prefetch worker trusts a zstd frame's own content checksum instead of
hashing the whole segment again; these properties hold it to the same
promise as the full check: the original bytes, or ``IntegrityError``."""
from __future__ import annotations

import hashlib
import io
import re

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


# -- objects as archived now: XXH3-128 of the original and of the stored bytes ------------

HISTORY = "00000002.history"  # no segment header to check: any content is a valid file


def archived(data: bytes, codec: str = "zstd", level=None, **kwargs):
    """A store holding ``data`` archived under ``HISTORY``, and the object's name."""
    import tempfile

    from swiftwal.adapters.storage.local import LocalStorage
    from swiftwal.adapters.walstore import original_digest, store_wal

    storage = LocalStorage(tempfile.mkdtemp(prefix="walstore-"))
    store_wal(storage, HISTORY, data, original_digest(data), codec=codec, level=level,
              segment_size=16 << 20, path=HISTORY, identities=set(), **kwargs)
    return storage, f"wal/{HISTORY}{'.zst' if codec == 'zstd' else '.gz'}"


def read(storage, name: str):
    with storage.get(name) as reader:
        return reader.read(), dict(reader.info.metadata)


@settings(max_examples=50)
@given(contents, st.sampled_from(["zstd", "gzip"]), st.booleans())
def test_a_new_object_records_xxh128_and_its_level_and_comes_back_whole(data, codec, trusted):
    from swiftwal.adapters.compression import wal_level
    from swiftwal.adapters.walstore import fetch_wal, original_digest

    storage, name = archived(data, codec)
    stored, metadata = read(storage, name)
    assert "sha256" not in metadata and "stored-sha256" not in metadata
    assert metadata["compression-level"] == str(wal_level(codec))
    assert f"xxh128:{metadata['xxh128']}" == original_digest(data)
    _, got, digest = fetch_wal(storage, HISTORY, codec, trust_frame_checksum=trusted)
    assert (got, digest) == (data, original_digest(data))
    assert re.fullmatch(r"xxh128:[0-9a-f]{32}", digest)


@settings(max_examples=300)
@given(contents, st.data(), st.booleans())
def test_any_damage_to_a_new_object_is_caught(data, draw, keep_stored_digest):
    """With its stored digest, any damage is refused; without it, what
    comes back is still exactly the original (the original's digest is
    always computed), or refused: a flipped flag in a frame header can leave
    the content whole, which only the stored digest tells."""
    from swiftwal.adapters.walstore import original_digest

    storage, name = archived(data)
    stored, metadata = read(storage, name)
    damaged = bytearray(stored)
    position = draw.draw(st.integers(0, len(damaged) - 1))
    damaged[position] ^= 1 << draw.draw(st.integers(0, 7))
    if not keep_stored_digest:
        del metadata["stored-xxh128"]
    try:
        got = verified_original(name, "zstd", bytes(damaged), metadata, None,
                                trust_frame_checksum=True)
    except IntegrityError:
        return
    assert not keep_stored_digest and got == (data, original_digest(data))


@pytest.mark.parametrize("kind", ["xxh128", "sha256", "none"])
def test_archiving_again_compares_like_with_like(kind):
    """The same content again is found archived, other content conflicts,
    whatever digest the stored object records (SHA-256: an earlier release's;
    none: 0.2.2's, compared byte for byte)."""
    from swiftwal import events
    from swiftwal.adapters.walstore import original_digest, store_wal
    from swiftwal.domain.errors import WalConflict

    data = b"1\t0/3000000\tno recovery target specified\n" * 10
    storage, name = archived(data)
    stored, metadata = read(storage, name)
    if kind != "xxh128":
        for key in ("xxh128", "stored-xxh128"):
            del metadata[key]
        if kind == "sha256":
            metadata["sha256"] = hashlib.sha256(data).hexdigest()
        storage.put(name, io.BytesIO(stored), metadata=metadata)

    def again(content: bytes):
        return store_wal(storage, HISTORY, content, original_digest(content), codec="zstd",
                         segment_size=16 << 20, path=HISTORY, identities=set())

    assert again(data)[0] == events.WAL_ALREADY_ARCHIVED
    with pytest.raises(WalConflict):
        again(data + b"2")
    assert read(storage, name) == (stored, metadata)


def test_a_level_the_codec_lacks_is_refused():
    from swiftwal.domain.errors import ConfigError

    with pytest.raises(ConfigError, match="no compression level 0"):
        archived(b"x", "zstd", level=0)
    with pytest.raises(ConfigError, match="no compression level -1"):
        archived(b"x", "gzip", level=-1)
