"""Client-side encryption of stored objects: AES-256-GCM in chunks.

A Swift operator holding the objects learns their sizes and nothing else;
any change to the stored bytes (a flipped bit, a chunk removed, reordered or
taken from another object, a truncated end) fails authentication.

Stream format, version 1::

    header   "SWE1" | version u8 (1) | log2(chunk size) u8 | nonce prefix (8 random bytes)
    chunks   AES-256-GCM(plaintext chunk) + 16-byte tag, every chunk full but the last

Chunk ``i`` uses the nonce ``prefix || i`` (u32, big-endian), so a key never
sees a nonce twice while prefixes are random.  The associated data is the
header and a final-chunk flag: a stream cut at a chunk boundary is refused
(the last chunk it has was not sealed as final).  An empty plaintext is one
empty final chunk.

The key is 32 bytes read from a file (raw, or 64 hexadecimal digits); its
id (``key_id``) goes into each object's metadata so that a wrong key is
named as such rather than reported as corruption.

The commands use it through ``configured_key`` (``ENCRYPTION_KEY_FILE``),
``object_metadata``/``record_metadata`` (what is recorded), ``encrypted``
(what a reader must decrypt, refusing a missing or other key by name) and
``plain_stored`` (whole objects: WAL, timeline history).

``cryptography`` is imported only when encryption is used.
"""
from __future__ import annotations

import hashlib
import os
import struct
from typing import BinaryIO

from swiftwal.domain.errors import ConfigError, IntegrityError

MAGIC = b"SWE1"
VERSION = 1
HEADER = struct.Struct(">4sBB8s")
TAG_SIZE = 16
KEY_SIZE = 32
DEFAULT_CHUNK_LOG2 = 20  # 1 MiB: bounded memory, 16 bytes of overhead per MiB
MAX_CHUNK_LOG2 = 26
ALGORITHM = "aes-256-gcm"
#: Metadata keys recorded on each encrypted object.
META_ALGORITHM = "encryption"
META_KEY_ID = "encryption-key-id"


def load_key(path: str) -> bytes:
    """The 32-byte key in ``path``: raw bytes or 64 hex digits (blanks ignored)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(4096)
    except OSError as exc:
        raise ConfigError(f"encryption key file {path} cannot be read ({exc.strerror})") from None
    if len(data) == KEY_SIZE:
        return data
    text = data.strip()
    try:
        key = bytes.fromhex(text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = b""
    if len(key) != KEY_SIZE:
        raise ConfigError(f"encryption key file {path} must hold 32 bytes or 64 hex digits",
                          hint="make one with: head -c 32 /dev/urandom > KEYFILE; chmod 600 KEYFILE")
    return key


def key_id(key: bytes) -> str:
    """A public name for ``key`` (cannot be turned back into it)."""
    return hashlib.sha256(b"swiftwal key id\0" + key).hexdigest()[:16]


def object_metadata(key: bytes) -> dict[str, str]:
    return {META_ALGORITHM: ALGORITHM, META_KEY_ID: key_id(key)}


def check_metadata(metadata, key: bytes | None, name: str) -> bool:
    """Whether the object ``name`` is encrypted; refuses one we cannot decrypt."""
    algorithm = metadata.get(META_ALGORITHM)
    if not algorithm:
        return False
    if algorithm != ALGORITHM:
        raise IntegrityError(f"{name} is encrypted with {algorithm!r}, which this swiftwal does not know")
    if key is None:
        raise ConfigError(f"{name} is encrypted and no encryption key is configured",
                          hint="set ENCRYPTION_KEY_FILE")
    if metadata.get(META_KEY_ID) not in (None, key_id(key)):
        raise ConfigError(f"{name} was encrypted with another key (id {metadata.get(META_KEY_ID)}, "
                          f"configured {key_id(key)})")
    return True


def _aead(key: bytes):
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ConfigError("the encryption key must be 32 bytes")
    try:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    except ImportError:
        raise ConfigError("encryption needs the cryptography package: install swiftwal with its "
                          "encryption extra",
                          hint="pip install 'swiftwal[encryption]', or pip install cryptography "
                               "next to swiftwal") from None
    return AESGCM(key)


def _nonce(prefix: bytes, index: int) -> bytes:
    if index > 0xFFFFFFFF:
        raise IntegrityError("stream too long for one encryption nonce prefix")
    return prefix + struct.pack(">I", index)


class _ChunkedReader:
    """What both directions share: exact reads from ``raw``, and ``read`` serving
    the output of ``_next_chunk`` (one chunk sealed or opened per call)."""

    _raw: BinaryIO
    _out: bytearray
    _done: bool

    def _read_exactly(self, size: int) -> bytes:
        data = bytearray()
        while len(data) < size:
            piece = self._raw.read(size - len(data))
            if not piece:
                break
            data += piece
        return bytes(data)

    def _next_chunk(self) -> None:
        raise NotImplementedError

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size < 0 or len(self._out) < size):
            self._next_chunk()
        if size < 0 or size >= len(self._out):
            out, self._out = bytes(self._out), bytearray()
            return out
        out = bytes(self._out[:size])
        del self._out[:size]
        return out

    def readable(self) -> bool:
        return True


class EncryptingReader(_ChunkedReader):
    """Reads ``raw`` and yields the encrypted stream (header, then chunks)."""

    def __init__(self, raw: BinaryIO, key: bytes, chunk_log2: int = DEFAULT_CHUNK_LOG2,
                 nonce_prefix: bytes | None = None) -> None:
        if not 10 <= chunk_log2 <= MAX_CHUNK_LOG2:
            raise ValueError(f"chunk size 2**{chunk_log2} out of range")
        self._raw = raw
        self._aead = _aead(key)
        self._chunk = 1 << chunk_log2
        self._prefix = nonce_prefix if nonce_prefix is not None else os.urandom(8)
        self._header = HEADER.pack(MAGIC, VERSION, chunk_log2, self._prefix)
        self._out = bytearray(self._header)
        self._index = 0
        self._pending = self._read_exactly(self._chunk)
        self._done = False

    def _next_chunk(self) -> None:
        current = self._pending
        following = self._read_exactly(self._chunk) if len(current) == self._chunk else b""
        final = not following
        aad = self._header + (b"\x01" if final else b"\x00")
        self._out += self._aead.encrypt(_nonce(self._prefix, self._index), current, aad)
        self._index += 1
        self._pending = following
        self._done = final


class DecryptingReader(_ChunkedReader):
    """Reads an encrypted stream from ``raw`` and yields the plaintext; any
    tampering or truncation raises ``IntegrityError`` (``name`` says where)."""

    def __init__(self, raw: BinaryIO, key: bytes, name: str = "object") -> None:
        self._raw = raw
        self._aead = _aead(key)
        self._name = name
        header = self._read_exactly(HEADER.size)
        if len(header) < HEADER.size:
            raise IntegrityError(f"{name} is too short to be encrypted")
        magic, version, chunk_log2, prefix = HEADER.unpack(header)
        if magic != MAGIC or version != VERSION or not 10 <= chunk_log2 <= MAX_CHUNK_LOG2:
            raise IntegrityError(f"{name} does not start with a swiftwal encryption header")
        self._header = header
        self._prefix = prefix
        self._sealed_size = (1 << chunk_log2) + TAG_SIZE
        self._lookahead = self._read_exactly(self._sealed_size)
        self._index = 0
        self._out = bytearray()
        self._done = False

    def _next_chunk(self) -> None:
        sealed = self._lookahead
        following = self._read_exactly(self._sealed_size) if len(sealed) == self._sealed_size else b""
        final = not following
        aad = self._header + (b"\x01" if final else b"\x00")
        from cryptography.exceptions import InvalidTag

        try:
            self._out += self._aead.decrypt(_nonce(self._prefix, self._index), sealed, aad)
        except (InvalidTag, ValueError):
            raise IntegrityError(f"{self._name} fails authentication at chunk {self._index}: "
                                 "it was modified, truncated or encrypted with another key") from None
        self._index += 1
        self._lookahead = following
        self._done = final


def encrypt_bytes(data: bytes, key: bytes, chunk_log2: int = DEFAULT_CHUNK_LOG2) -> bytes:
    import io

    return EncryptingReader(io.BytesIO(data), key, chunk_log2).read()


def decrypt_bytes(data: bytes, key: bytes, name: str = "object") -> bytes:
    import io

    return DecryptingReader(io.BytesIO(data), key, name).read()


#: The setting naming the key file (``ENCRYPTION_KEY_FILE``).
SETTING = "ENCRYPTION_KEY_FILE"


def configured_key(settings) -> bytes | None:
    """The key of ``ENCRYPTION_KEY_FILE``, None when encryption is off."""
    path = settings.get(SETTING)
    return load_key(path) if path else None


def encrypted(name: str, key: bytes | None, *sources) -> bool:
    """Whether any metadata mapping in ``sources`` says ``name`` is encrypted;
    every source is checked, so a wrong or missing key is refused by name."""
    return any([check_metadata(source or {}, key, name) for source in sources])


def record_metadata(record) -> dict[str, str]:
    """What a backup record says of its data object's encryption, as object metadata."""
    if not getattr(record, "encryption", None):
        return {}
    found = {META_ALGORITHM: record.encryption}
    if record.encryption_key_id:
        found[META_KEY_ID] = record.encryption_key_id
    return found


def plain_stored(data: bytes, key: bytes | None, name: str, metadata=None) -> bytes:
    """The stored bytes of ``name`` with the encryption taken off, if any.

    The header is trusted as much as the metadata: an object copied without
    its metadata is still recognised (compressed data never starts with
    ``MAGIC``), and an object whose metadata says encrypted but whose header
    is gone fails authentication."""
    if not (encrypted(name, key, metadata) or data[:len(MAGIC)] == MAGIC):
        return data
    if key is None:
        raise ConfigError(f"{name} is encrypted and no encryption key is configured",
                          hint=f"set {SETTING}")
    return decrypt_bytes(data, key, name)

