"""The storage port: the only way swiftwal touches a store.

Object names are ``/``-separated text.  Every adapter (Swift, local
directory) honours the contracts written in each method's docstring; the
same contract test suite runs against all of them.
"""
from __future__ import annotations

import datetime
from typing import BinaryIO, ContextManager, Iterable, Iterator, Mapping, Protocol

import attrs


@attrs.frozen
class ObjectInfo:
    """What the store knows about one object.

    ``metadata`` holds user metadata (lower-case keys, text values); it is
    filled by ``stat``, ``get`` and ``put`` but may be empty in ``list``.
    """

    name: str
    size: int
    last_modified: datetime.datetime | None = None
    etag: str | None = None
    metadata: Mapping[str, str] = attrs.field(factory=dict)


class ObjectReader(Protocol):
    info: ObjectInfo

    def read(self, size: int = -1) -> bytes: ...


class Storage(Protocol):
    """A flat namespace of immutable-by-convention objects."""

    def put(self, name: str, stream: BinaryIO, *, metadata: Mapping[str, str] | None = None,
            create_only: bool = False, size: int | None = None) -> ObjectInfo:
        """Store everything ``stream`` yields under ``name``.

        The object becomes visible only complete: an interrupted put leaves no
        object under ``name`` (the previous one, if any, stays).  With
        ``create_only`` an existing object raises ``AlreadyExists`` and is left
        untouched, also when two writers race.  Streams of unknown ``size`` and
        of any length are accepted (large objects are split by the adapter).
        Returns the stored object's info (size and metadata as stored).
        """

    def get(self, name: str) -> ContextManager[ObjectReader]:
        """Open ``name`` for streaming reads; ``ObjectNotFound`` if absent."""

    def stat(self, name: str) -> ObjectInfo:
        """Size, time, etag and metadata of ``name``; ``ObjectNotFound`` if absent."""

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object whose name starts with ``prefix``, in name order.

        Pages through the store (no request per object); never yields the
        adapter's internal objects (large-object segments, temp files).
        """

    def delete(self, names: Iterable[str]) -> None:
        """Delete each name with everything it owns (large-object segments).

        Names already absent are not an error.
        """

    def describe(self) -> str:
        """A human-readable, secret-free description (``swift://container``)."""
