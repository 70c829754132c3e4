"""The storage port: the only way swiftwal touches a store.

Object names are ``/``-separated text.  Every adapter (Swift, local
directory) honours the contracts written in each method's docstring; the
same contract test suite runs against all of them.
"""
from __future__ import annotations

import datetime
import re
from typing import BinaryIO, ContextManager, Iterable, Iterator, Mapping, Protocol

import attrs

from swiftwal.domain.errors import InvalidInput

#: Largest object name, in UTF-8 bytes (Swift's default limit).
MAX_NAME_BYTES = 1024
#: Names under this prefix hold the Swift adapter's large-object segments.
RESERVED_PREFIX = ".segments"
#: Path components starting with this hold the local adapter's temp and metadata files.
RESERVED_COMPONENT_PREFIX = ".swiftwal-"
#: Swift's default metadata limits, applied by every adapter so they all accept the same input.
MAX_META_KEY = 128
MAX_META_VALUE = 256
MAX_META_COUNT = 90
MAX_META_TOTAL = 4096
#: Metadata key an adapter may use for its own bookkeeping (never returned).
RESERVED_META_KEY = "swiftwal-upload-token"
# Swift turns "_" into "-" in header names and HTTP folds case: only these keys round-trip.
_META_KEY = re.compile(r"[a-z0-9][a-z0-9-]*\Z")
_META_VALUE = re.compile(r"[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?\Z")


@attrs.frozen
class ObjectInfo:
    """What the store knows about one object.

    ``metadata`` holds user metadata (lower-case keys, text values); it is
    filled by ``stat``, ``get`` and ``put`` but may be empty in ``list``.
    ``etag`` is the store's opaque tag (MD5 of the content for plain objects,
    something else for Swift large objects): compare it only with itself.
    """

    name: str
    size: int
    last_modified: datetime.datetime | None = None
    etag: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    #: SHA-256 (hex) of the content, computed while storing: set by ``put`` only.
    sha256: str | None = None


def check_name(name: str) -> str:
    """Return ``name`` if every adapter can store it, else raise ``InvalidInput``.

    Names are ``/``-separated, without empty, ``.`` or ``..`` components, at
    most 1024 UTF-8 bytes, outside the adapters' reserved names.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"invalid object name {name!r}: empty")
    if "\x00" in name or len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise InvalidInput(f"invalid object name {name!r}: NUL or longer than {MAX_NAME_BYTES} bytes")
    if name.startswith(RESERVED_PREFIX):
        raise InvalidInput(f"invalid object name {name!r}: {RESERVED_PREFIX!r} is reserved")
    for part in name.split("/"):
        if part in ("", ".", "..") or part.startswith(RESERVED_COMPONENT_PREFIX):
            raise InvalidInput(f"invalid object name {name!r}: bad component {part!r}")
    return name


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Return ``metadata`` as a dict if it round-trips through every adapter.

    Keys: lower-case ASCII letters, digits and ``-``; values: printable ASCII
    without leading or trailing spaces; Swift's default size limits.
    """
    result = dict(metadata or {})
    total = 0
    for key, value in result.items():
        if (not isinstance(key, str) or not _META_KEY.match(key) or len(key) > MAX_META_KEY
                or key == RESERVED_META_KEY):
            raise InvalidInput(f"invalid metadata key {key!r}")
        if not isinstance(value, str) or len(value) > MAX_META_VALUE or (
                value and not _META_VALUE.match(value)):
            raise InvalidInput(f"invalid metadata value for {key!r}")
        total += len(key) + len(value)
    if len(result) > MAX_META_COUNT or total > MAX_META_TOTAL:
        raise InvalidInput("too much metadata")
    return result


@attrs.frozen
class Part:
    """Something an adapter stores that ``list`` never shows: a large
    object's segment (Swift), a temp or metadata file (local directory).
    Complete objects own some; an interrupted ``put`` leaves others behind.

    ``under`` is ``/``-separated and starts with the name of the object the
    part belongs or belonged to, or with its directory's name followed by
    ``/`` when the adapter cannot tell the object (a local temp file is
    named at random).  ``name`` is the adapter's own name for it, to show and
    to pass back to ``delete_parts``; ``kind`` says what it is (``segment``,
    ``temp``, ``metadata``).
    """

    under: str
    name: str
    kind: str
    last_modified: datetime.datetime | None = None


class ObjectReader(Protocol):
    info: ObjectInfo

    def read(self, size: int = -1) -> bytes: ...


class Storage(Protocol):
    """A flat namespace of immutable-by-convention objects.

    The local-directory adapter, opened for reading a directory that is not
    there, raises ``ConfigError`` rather than answer "empty" or
    ``ObjectNotFound``: a mistyped path must not look like an empty archive;
    opened for writing, its first ``put`` creates it.  (Swift still answers a
    missing container as an empty one.)
    """

    def put(self, name: str, stream: BinaryIO, *, metadata: Mapping[str, str] | None = None,
            create_only: bool = False, size: int | None = None,
            expect_large: bool = False) -> ObjectInfo:
        """Store everything ``stream`` yields under ``name``.

        The object becomes visible only complete: an interrupted put leaves no
        object under ``name`` (the previous one, if any, stays).  With
        ``create_only`` an object that exists when the put starts raises
        ``AlreadyExists`` and is left untouched.  Of create-only puts of one
        name that overlap, at least one succeeds and the name holds the
        content of one that succeeded (a put told ``AlreadyExists`` stored
        nothing); the local directory tells exactly one, Swift may tell
        several, the last to arrive holding the name (docs/layout.md).
        Streams of unknown ``size`` and of any length are accepted (large
        objects are split by the adapter).  Returns the stored object's info (size and metadata as stored, and
        the content's ``sha256``).  Bad names or metadata raise ``InvalidInput``
        (see ``check_name`` and ``check_metadata``); a stream that raises makes
        ``put`` raise that same exception.  If ``size`` is given, a stream of
        another length is an error and stores nothing.  ``expect_large``: the
        stream is probably large (a backup), so an adapter need not hold its
        beginning in memory to find out; a short one is stored all the same.
        """

    def get(self, name: str) -> ContextManager[ObjectReader]:
        """Open ``name`` for streaming reads; ``ObjectNotFound`` if absent."""

    def stat(self, name: str) -> ObjectInfo:
        """Size, time, etag and metadata of ``name``; ``ObjectNotFound`` if absent."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose name starts with ``prefix``, in name order.

        Pages through the store (no request per object); never yields the
        adapter's internal objects (large-object segments, temp files).
        Order is by code point, which is also UTF-8 byte order (Swift's).
        """

    def delete(self, names: Iterable[str]) -> None:
        """Delete each name with everything it owns (large-object segments).

        Names already absent are not an error.
        """

    def list_parts(self, prefix: str) -> Iterator[Part]:
        """Every ``Part`` whose ``under`` starts with ``prefix``, in no
        particular order: what interrupted puts left behind as well as what
        complete objects own.  Reads only; pages without a request per part.
        """

    def delete_parts(self, parts: Iterable[Part]) -> None:
        """Delete parts that ``list_parts`` gave; ones already gone are not an error.

        Only parts are ever deleted (anything else raises ``InvalidInput``).
        A part of an object still listed is part of its content: delete the
        object (``delete`` takes its parts with it), not its parts.
        """

    def tidy(self, prefix: str) -> None:
        """Drop what the adapter keeps for ``prefix`` (a name ending in ``/``)
        itself once nothing is stored under it any more (the local adapter's
        empty directory).  Never deletes an object or an unfinished part;
        a prefix that still holds something, or none at all, is left as it is.
        """

    def describe(self) -> str:
        """A human-readable, secret-free description (``swift://container``)."""

    def capabilities(self) -> Mapping[str, bool] | None:
        """What the store offers beyond these operations (``large_objects``,
        ``bulk_delete``), for ``check`` to report; None when the question does
        not apply (a local directory has no such limits)."""
