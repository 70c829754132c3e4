"""Which digests a WAL object records, and when its recorded digest of the
original may be taken as it is instead of hashing the decompressed segment.

Objects archived now record ``xxh128`` (XXH3, 128 bits) of the
original bytes and ``stored-xxh128`` of the bytes uploaded; earlier ones
``sha256`` and ``stored-sha256``.  Both kinds are read and checked alike.
A digest is handed around as text: ``xxh128:<32 hex digits>``, or a bare
SHA-256 (64 hex digits), the form earlier releases used.

XXH3-128 hashes a 16 MiB segment in 0.38 ms of CPU where SHA-256 takes 9.4
(``bench/bench_walcodec.py``), so the original of a new object is always
hashed.  For an old one, once the stored bytes matched their digest they are
the bytes the archiver uploaded; if every zstd frame also carried the
checksum of its content, which libzstd checks as it decompresses, they
decompressed to what the compressor was given, and the original's SHA-256 is
the one recorded.  PostgreSQL also checks every record's CRC as it replays.
``verify`` never trusts: it computes every digest.
"""
from __future__ import annotations

from typing import Mapping, Optional

XXH128 = "xxh128"
SHA256 = "sha256"
_STORED = "stored-"


def digest_kind(digest: str) -> str:
    """``xxh128`` or ``sha256``: which hash ``digest`` (text as above) is."""
    return XXH128 if digest.startswith(XXH128 + ":") else SHA256


def digest_metadata(digest: str, stored: bool = False) -> dict[str, str]:
    """The metadata that records ``digest``: of the original, or with
    ``stored`` of the bytes uploaded."""
    kind = digest_kind(digest)
    value = digest[len(kind) + 1:] if kind == XXH128 else digest
    return {(_STORED if stored else "") + kind: value}


def recorded_digest(metadata: Mapping[str, str], stored: bool = False) -> Optional[str]:
    """The digest ``metadata`` records (of the original, or with ``stored`` of
    the bytes uploaded), as text; None when it records neither kind.  The
    newer kind wins where both are present."""
    prefix = _STORED if stored else ""
    if metadata.get(prefix + XXH128):
        return f"{XXH128}:{metadata[prefix + XXH128]}"
    return metadata.get(prefix + SHA256) or None


def trusted_digest(metadata: Mapping[str, str], original_size: int,
                   frames_checksummed: bool) -> Optional[str]:
    """The recorded SHA-256 of the original, when it may be trusted; None:
    hash the original.  ``metadata``: the object's, whose stored digest the
    caller has checked against the stored bytes; ``original_size``: what
    they decompressed to; ``frames_checksummed``: every frame carried its
    content's checksum (checked while decompressing).  A recorded
    ``xxh128`` is never trusted: computing it costs less than the doubt."""
    recorded = recorded_digest(metadata)
    if (frames_checksummed and recorded_digest(metadata, stored=True) and recorded
            and digest_kind(recorded) == SHA256
            and metadata.get("size") == str(original_size)):
        return recorded
    return None
