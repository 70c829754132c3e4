"""WAL objects in the store: one WAL file stored (compressed, maybe
encrypted, create-only, with the checksums a restore checks), fetched back
and verified.

archive-wal and its worker store through here, restore-wal and its worker
fetch, verify checks what they stored: each command uses this module, none
reaches into another.  With ``ENCRYPTION_KEY_FILE`` the compressed bytes are
encrypted before they leave (``swiftwal.adapters.crypto``); "identical
content" compares the SHA-256 of the original bytes, since the same file
never encrypts to the same object twice.
"""
from __future__ import annotations

import hashlib
import io

from swiftwal import events
from swiftwal.adapters.cluster_identity import ensure_cluster_identity
from swiftwal.domain import errors, layout
from swiftwal.domain.checksum_trust import trusted_digest
from swiftwal.domain.segment_size import segment_size_of
from swiftwal.domain.walheader import check_segment_header
from swiftwal.domain.walnames import PartialSegment, Segment, parse_wal_filename


def store_wal(storage, wal_name: str, data: bytes, digest: str, *, codec: str,
              segment_size: int, path: str, force: bool = False,
              identities: set[str], key: bytes | None = None,
              compressed: bytes | None = None) -> tuple[str, int]:
    """Store one WAL file create-only; ``(event, stored bytes)`` once it is
    durable.  ``segment_size``: the setting, for a file that is not a whole
    segment (``segment_size_of``); ``identities``: the clusters already
    checked against the store's (added to); ``compressed``: ``data`` already
    compressed with ``codec``.  A different file already stored under the
    name is a ``WalConflict`` unless ``force``."""
    wal_file = parse_wal_filename(wal_name, segment_size_of(wal_name, len(data), segment_size))
    # A .partial is a whole segment file too (the old timeline's last one).
    segment = wal_file.segment if isinstance(wal_file, PartialSegment) else wal_file
    if isinstance(segment, Segment):
        header = check_segment_header(data, segment, len(data), path)
        identity = str(header.system_identifier)
        if identity not in identities:
            ensure_cluster_identity(storage, identity)
            identities.add(identity)
    stored = _compress(codec, data) if compressed is None else compressed
    extra = {}
    if key is not None:
        from swiftwal.adapters import crypto

        stored = crypto.encrypt_bytes(stored, key)
        extra = crypto.object_metadata(key)
    metadata = {
        "sha256": digest,
        "size": str(len(data)),
        "compression": codec,
        "stored-sha256": hashlib.sha256(stored).hexdigest(),
        **extra,
    }
    name = layout.wal_object_name(wal_name, codec)
    outcome = events.WAL_ARCHIVED
    try:
        storage.put(name, io.BytesIO(stored), metadata=metadata, create_only=True, size=len(stored))
    except errors.AlreadyExists:
        if _same_content(storage, name, codec, digest, key):
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


def _compress(codec: str, data: bytes) -> bytes:
    from swiftwal.adapters.compression import compress_bytes

    return compress_bytes(codec, data)


def _same_content(storage, name: str, codec: str, digest: str, key) -> bool:
    info = storage.stat(name)
    recorded = info.metadata.get("sha256")
    if recorded:
        return recorded == digest
    from swiftwal.adapters.compression import decompress_bytes
    from swiftwal.adapters.crypto import plain_stored

    with storage.get(name) as reader:
        stored = plain_stored(reader.read(), key, name, reader.info.metadata)
        return hashlib.sha256(decompress_bytes(codec, stored)).hexdigest() == digest


def fetch_wal(storage, wal_name: str, preferred_codec: str, key: bytes | None = None, *,
              trust_frame_checksum: bool = False):
    """``(WalObject, original bytes, their SHA-256)`` or None when no
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
    their SHA-256: its stored-bytes checksum checked, decrypted, decompressed,
    its original checksum checked; ``IntegrityError`` naming the object otherwise.

    ``trust_frame_checksum``: the original's SHA-256 is taken as recorded,
    not computed, where ``swiftwal.domain.checksum_trust`` allows it (the
    stored bytes matched their digest and every zstd frame its checksum).
    ``verify`` always computes it."""
    from swiftwal.adapters.compression import decompress_checked
    from swiftwal.adapters.crypto import plain_stored

    expected_stored = metadata.get("stored-sha256")
    if expected_stored and hashlib.sha256(stored).hexdigest() != expected_stored:
        raise errors.IntegrityError(f"{name} does not match its recorded SHA-256 (corrupted)")
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
    expected = metadata.get("sha256")
    actual = hashlib.sha256(data).hexdigest()
    if expected and actual != expected:
        raise errors.IntegrityError(f"{name} decompresses to content that does not match "
                                    f"its SHA-256")
    return data, actual

