"""WAL objects in the store: one WAL file stored (compressed, maybe
encrypted, create-only, with the digests a restore checks), fetched back
and verified.

archive-wal and its worker store through here, restore-wal and its worker
fetch, verify checks what they stored: each command uses this module, none
reaches into another.  With ``ENCRYPTION_KEY_FILE`` the compressed bytes are
encrypted before they leave (``swiftwal.adapters.crypto``); "identical
content" compares digests of the original bytes, since the same file never
encrypts to the same object twice.

Digests (``swiftwal.domain.checksum_trust``): a new object records XXH3-128
of its original (``original_digest``) and of its stored bytes: 0.38 ms and
0.09 ms of CPU per 16 MiB pgbench segment where SHA-256 took 9.4 ms and
about 2.3 ms (``bench/bench_walcodec.py``).  The original's digest is checked on every
fetch: it catches any damage between the file archived and the file
restored, whatever the codec, the encryption or libzstd's 32-bit frame
checksum would have let through.  The stored bytes' digest tells damage to
the object itself from a decompressor's or a key's failure, for the price of
hashing a few MiB.  Neither is a defence against someone who may write the
container: that is the encryption's authentication tag.  Objects that record
SHA-256 are checked with SHA-256, and compared with SHA-256 when the same
name is archived again.
"""
from __future__ import annotations

import hashlib
import io

from swiftwal import events
from swiftwal.adapters.cluster_identity import ensure_cluster_identity
from swiftwal.domain import errors, layout
from swiftwal.domain.checksum_trust import (
    XXH128, digest_kind, digest_metadata, recorded_digest, trusted_digest)
from swiftwal.domain.segment_size import segment_size_of
from swiftwal.domain.walheader import check_segment_header
from swiftwal.domain.walnames import PartialSegment, Segment, parse_wal_filename

_NAMES = {XXH128: "XXH3-128 digest", "sha256": "SHA-256"}


def original_digest(data: bytes) -> str:
    """The digest a new WAL object records of its original bytes, as text
    (``xxh128:`` and 32 hex digits): what ``store_wal`` takes as ``digest``."""
    return f"{XXH128}:{_xxh128(data)}"


def _xxh128(data: bytes) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(data)


def _digest_like(recorded: str, data: bytes) -> str:
    """The digest of ``data`` of the same kind as ``recorded``: like with like."""
    if digest_kind(recorded) == XXH128:
        return original_digest(data)
    return hashlib.sha256(data).hexdigest()


def store_wal(storage, wal_name: str, data: bytes, digest: str, *, codec: str,
              segment_size: int, path: str, force: bool = False,
              identities, key: bytes | None = None,
              compressed: bytes | None = None, level: int | None = None) -> tuple[str, int]:
    """Store one WAL file create-only; ``(event, stored bytes)`` once it is
    durable.  ``digest``: ``original_digest(data)``; ``segment_size``: the
    setting, for a file that is not a whole segment (``segment_size_of``);
    ``identities``: the clusters already checked against the store's (added
    to: a set, or a ``cluster_identity.RememberedIdentities``); ``level``:
    the compression level (None: the codec's default); ``compressed``:
    ``data`` already compressed with ``codec`` at ``level``.  A different
    file already stored under the name is a ``WalConflict`` unless ``force``."""
    from swiftwal.adapters.compression import wal_level

    wal_file = parse_wal_filename(wal_name, segment_size_of(wal_name, len(data), segment_size))
    # A .partial is a whole segment file too (the old timeline's last one).
    segment = wal_file.segment if isinstance(wal_file, PartialSegment) else wal_file
    if isinstance(segment, Segment):
        header = check_segment_header(data, segment, len(data), path)
        identity = str(header.system_identifier)
        if identity not in identities:
            ensure_cluster_identity(storage, identity)
            identities.add(identity)
    level = wal_level(codec, level)
    stored = _compress(codec, data, level) if compressed is None else compressed
    extra = {}
    if key is not None:
        from swiftwal.adapters import crypto

        stored = crypto.encrypt_bytes(stored, key)
        extra = crypto.object_metadata(key)
    metadata = {
        **digest_metadata(digest),
        "size": str(len(data)),
        "compression": codec,
        "compression-level": str(level),
        **digest_metadata(original_digest(stored), stored=True),
        **extra,
    }
    name = layout.wal_object_name(wal_name, codec)
    outcome = events.WAL_ARCHIVED
    try:
        storage.put(name, io.BytesIO(stored), metadata=metadata, create_only=True, size=len(stored))
    except errors.AlreadyExists:
        if _same_content(storage, name, codec, data, digest, key):
            outcome = events.WAL_ALREADY_ARCHIVED
        elif force:
            storage.put(name, io.BytesIO(stored), metadata=metadata, size=len(stored))
            outcome = events.WAL_ARCHIVED
        else:
            raise errors.WalConflict(
                f"a different {wal_name} is already archived in {storage.describe()}",
                hint="two servers may be archiving into one container; "
                     "--force overwrites after you have checked") from None
    return outcome, len(stored)


def _compress(codec: str, data: bytes, level: int) -> bytes:
    from swiftwal.adapters.compression import compress_bytes

    return compress_bytes(codec, data, level)


def _same_content(storage, name: str, codec: str, data: bytes, digest: str, key) -> bool:
    """Whether the object ``name`` holds ``data``: its recorded digest against
    the same kind of digest of ``data``, or, for an object that records none
    (0.2.2's), its content against ``data`` byte for byte."""
    metadata = storage.stat(name).metadata
    recorded = recorded_digest(metadata)
    if recorded:
        if metadata.get("size") not in (None, "", str(len(data))):
            return False
        mine = digest if digest_kind(digest) == digest_kind(recorded) else _digest_like(
            recorded, data)
        return mine == recorded
    from swiftwal.adapters.compression import decompress_bytes
    from swiftwal.adapters.crypto import plain_stored

    with storage.get(name) as reader:
        stored = plain_stored(reader.read(), key, name, reader.info.metadata)
        return decompress_bytes(codec, stored) == data


def fetch_wal(storage, wal_name: str, preferred_codec: str, key: bytes | None = None, *,
              trust_frame_checksum: bool = False):
    """``(WalObject, original bytes, their digest)`` or None when no
    candidate object exists; ``key`` decrypts encrypted objects.
    ``trust_frame_checksum``: see ``verified_original``."""
    for candidate in layout.wal_candidates(wal_name, preferred_codec):
        try:
            with storage.get(candidate.object_name) as reader:
                stored = reader.read()
                metadata = reader.info.metadata
        except errors.ObjectNotFound:
            continue
        data, digest = verified_original(candidate.object_name, candidate.compression, stored,
                                         metadata, key,
                                         trust_frame_checksum=trust_frame_checksum)
        return candidate, data, digest
    return None


def verified_original(name: str, compression: str, stored: bytes, metadata, key, *,
                      trust_frame_checksum: bool = False) -> tuple[bytes, str]:
    """The original bytes of the WAL object ``name`` read as ``stored`` and
    their digest (text, of the kind the object records; ``original_digest``
    if it records none): its stored bytes checked against their digest,
    decrypted, decompressed, checked against the original's digest;
    ``IntegrityError`` naming the object otherwise.

    ``trust_frame_checksum``: a recorded SHA-256 of the original is taken as
    it is, not computed, where ``swiftwal.domain.checksum_trust`` allows it
    (the stored bytes matched their digest and every zstd frame its
    checksum).  ``verify`` always computes it."""
    from swiftwal.adapters.compression import decompress_checked
    from swiftwal.adapters.crypto import plain_stored

    expected_stored = recorded_digest(metadata, stored=True)
    if expected_stored and _digest_like(expected_stored, stored) != expected_stored:
        raise errors.IntegrityError(f"{name} does not match its recorded "
                                    f"{_NAMES[digest_kind(expected_stored)]} (corrupted)")
    stored = plain_stored(stored, key, name, metadata)
    try:
        data, checksummed = decompress_checked(compression, stored)
    except Exception as exc:  # zlib.error, zstd.ZstdError: the object is damaged
        raise errors.IntegrityError(f"{name} cannot be decompressed "
                                    f"({exc.__class__.__name__})") from None
    if trust_frame_checksum:
        trusted = trusted_digest(metadata, len(data), checksummed)
        if trusted is not None:
            return data, trusted
    expected = recorded_digest(metadata)
    if expected is None:
        return data, original_digest(data)
    if _digest_like(expected, data) != expected:
        raise errors.IntegrityError(f"{name} decompresses to content that does not match "
                                    f"its {_NAMES[digest_kind(expected)]}")
    return data, expected
