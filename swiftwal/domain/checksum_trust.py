"""When a WAL object's recorded SHA-256 of its original bytes may be taken as
it is, instead of hashing the decompressed segment again.

The archiver records two digests with each object: ``stored-sha256`` of the
bytes uploaded and ``sha256`` of the original, with the original's ``size``.
Once the stored bytes matched their digest, they are the bytes the archiver
uploaded; if every zstd frame also carried the checksum of its content, which
libzstd checks as it decompresses, they decompressed to what the compressor was
given.  The original's digest is then the one recorded.  That hash was a third
of the prefetch worker's CPU per segment; PostgreSQL also checks every record's
CRC as it replays.  ``verify`` never trusts: it computes every digest.
"""
from __future__ import annotations

from typing import Mapping, Optional


def trusted_digest(metadata: Mapping[str, str], original_size: int,
                   frames_checksummed: bool) -> Optional[str]:
    """The recorded SHA-256 of the original, when it may be trusted; None:
    hash the original.  ``metadata``: the object's, whose ``stored-sha256``
    the caller has checked against the stored bytes; ``original_size``: what
    they decompressed to; ``frames_checksummed``: every frame carried its
    content's checksum (checked while decompressing)."""
    recorded = metadata.get("sha256")
    if (frames_checksummed and metadata.get("stored-sha256") and recorded
            and metadata.get("size") == str(original_size)):
        return recorded
    return None
