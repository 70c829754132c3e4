"""The OpenStack Swift store, through python-swiftclient (imported lazily:
this module is on the ``archive_command`` path and must import fast).

Uploads stream.  A stream that ends within ``buffer_size`` bytes (16 MiB by
default, and within the large-object size) goes up as one plain object with
its MD5 as ETag, so Swift checks it.  A longer stream of known size up to the
large-object size is a plain streamed PUT whose returned ETag is checked
afterwards.  Anything else is a Static Large Object (see ``swift_segments``):
segments of at most 4 MiB (and at most the large-object size) under
``.segments/<name>/<upload-id>/<00000001>`` in the same container, sent
``PARALLEL`` (at most three) at a time from four buffers, each with
``X-Delete-After`` until all are stored, then the manifest (create-only
applies to the manifest PUT).  A failed upload deletes the segments it wrote;
a killed process leaves them (never a manifest) under ``.segments/``, where a
later overwrite of the same name or ``prune`` removes them, or they expire by
themselves.  ``list`` never shows ``.segments/``.  Reading a Static Large
Object fetches its segments in parallel, in order, checking each against the
manifest.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import time
import uuid
from typing import BinaryIO, Iterable, Iterator, Mapping

import attrs

from swiftwal.adapters.storage.port import (
    RESERVED_PREFIX, ObjectInfo, ObjectReader, Part, check_metadata, check_name)
from swiftwal.adapters.storage.swift_session import SwiftSession, status
from swiftwal.adapters.storage.swift_segments import (
    SegmentReader, SegmentUpload, ThreadConnections, fetch_checked, manifest_items,
    ordered_map, slo_etag)
from swiftwal.adapters.storage.swift_settings import SwiftSettings
from swiftwal.adapters.storage.swift_upload import CHUNK, BufferBody, Source, Stored, Window
from swiftwal.adapters.storage.swift_wire import (
    AFTER_SEGMENTS, SEGMENTS, Reader, info_from_headers, info_from_listing,
    multipart_delete, segment_owner)
from swiftwal.domain.errors import (
    AlreadyExists, IntegrityError, InvalidInput, StorageError, SwiftwalError)

__all__ = ["SwiftSettings", "SwiftStorage"]

# Below this, an object never needs a segment whatever the cluster: no /info request.
_ALWAYS_PLAIN = 1 << 20
#: Streams of unknown size up to this go up as one plain object (a WAL segment does).
PLAIN_BUFFER = 16 << 20
#: First segments of a large object (they grow for objects beyond 1 TiB, see
#: ``swift_segments``): memory holds a few of them at once.
SEGMENT_BUFFER = 4 << 20
#: Memory for segment buffers of one upload (at least two buffers, whatever it says):
#: three in flight and one filling.  A backup's whole process then stays near 80 MiB.
BUFFER_BUDGET = 16 << 20
#: Seconds before an uncommitted segment deletes itself (``SEGMENT_EXPIRY``).
SEGMENT_EXPIRY = 7 * 86400


class SwiftStorage(SwiftSession):
    """One Swift container as a ``Storage``.  Safe to share between threads."""

    #: Items per manifest; None follows the cluster (tests set a small one).
    manifest_limit: int | None = None

    def __init__(self, settings: SwiftSettings, *, buffer_size: int = PLAIN_BUFFER,
                 **kwargs) -> None:
        super().__init__(settings, buffer_size=buffer_size, **kwargs)

    # -- put -----------------------------------------------------------------------------

    def put(self, name: str, stream: BinaryIO, *, metadata: Mapping[str, str] | None = None,
            create_only: bool = False, size: int | None = None,
            expect_large: bool = False) -> ObjectInfo:
        check_name(name)
        meta = check_metadata(metadata)
        if size is not None and size < 0:
            raise InvalidInput(f"negative size for {name}")
        headers = {f"X-Object-Meta-{k}": v for k, v in meta.items()}
        if create_only:
            headers["If-None-Match"] = "*"
        source = Source(stream, name, size)
        try:
            with self._translating(f"put {name}"):
                # Whether it fits one PUT is found out by holding its beginning:
                # a probably large stream is not held beyond one segment buffer.
                look_ahead = min(self._buffer, SEGMENT_BUFFER) if expect_large else self._buffer
                info = self._put(name, source, headers, size, look_ahead)
        except BaseException:
            self.close()  # a half-sent request leaves the connection unusable
            if source.failure is not None:
                raise source.failure from None
            raise
        if not create_only:
            self._remove_stale_segments(name, keep=info.upload)
        return ObjectInfo(name=name, size=source.consumed, last_modified=info.last_modified,
                          etag=info.etag, metadata=meta, sha256=source.sha256.hexdigest())

    def _put(self, name: str, source: Source, headers: dict, size: int | None,
             look_ahead: int) -> "Stored":
        head = source.buffered(look_ahead + 1)
        if head <= look_ahead and (head <= _ALWAYS_PLAIN or head <= self.segment_size()):
            return self._put_bytes(name, source.take(head), headers)
        if size is not None and size <= self.segment_size():
            return self._put_streamed(name, source, size, headers)
        return self._put_large(name, source, headers)

    def _put_bytes(self, name: str, data: bytearray, headers: dict) -> "Stored":
        etag = hashlib.md5(data).hexdigest()
        for attempt in (1, 2):
            response: dict = {}
            body = BufferBody(data)
            try:
                self._conn().put_object(self.container, name, body,
                                        content_length=len(data), etag=etag, headers=headers,
                                        response_dict=response)
                return Stored.of(response, etag)
            except Exception as exc:
                if status(exc) == 404 and attempt == 1:  # no container yet
                    self._conn().put_container(self.container)
                    continue
                self._raise_if_exists(exc, name, headers)
                raise
            finally:
                body.release()
        raise AssertionError("unreachable")

    def _put_streamed(self, name: str, source: Source, size: int, headers: dict) -> "Stored":
        self._ensure_container()
        window = Window(source, size)
        response: dict = {}
        try:
            etag = self._conn().put_object(self.container, name, window, content_length=size,
                                           headers=headers, response_dict=response)
        except Exception as exc:
            self._raise_if_exists(exc, name, headers)
            raise
        if etag != window.md5.hexdigest():
            self.delete([name])
            raise IntegrityError(f"swift stored {name} with etag {etag}, expected "
                                 f"{window.md5.hexdigest()}: deleted it")
        return Stored.of(response, etag)

    def _put_large(self, name: str, source: Source, headers: dict) -> "Stored":
        info = self._cluster_info()
        if info and "slo" not in info:
            raise StorageError(f"{self._where} does not support static large objects, needed "
                               f"for {name} (larger than {self.segment_size()} bytes)")
        limit = self.manifest_limit or int(info.get("slo", {}).get("max_manifest_segments",
                                                                   1000))
        piece = min(self.segment_size(), SEGMENT_BUFFER)
        if "If-None-Match" in headers and self._exists(name):
            raise AlreadyExists(f"{name} already exists in {self._where}")
        self._ensure_container()
        main = self._conn()
        if not main.url or not main.token:
            main.url, main.token = main.get_auth()
        upload = f"{int(time.time())}-{uuid.uuid4().hex[:16]}"
        workers = ThreadConnections(lambda: self._new_connection(preauth=(main.url, main.token)))
        sender = SegmentUpload(
            connect=workers, container=self.container,
            name=name, upload=upload, segment_size=piece, max_segment_size=self.segment_size(),
            buffers=max(2, min(self._parallel() + 1, BUFFER_BUDGET // piece)), limit=limit,
            expiry=self._segment_expiry())
        try:
            manifest = sender.send(source.take)
            body = json.dumps(manifest).encode()
            response: dict = {}
            try:
                etag = self._conn().put_object(
                    self.container, name, io.BytesIO(body), content_length=len(body),
                    headers=headers, query_string="multipart-manifest=put",
                    response_dict=response)
            except Exception as exc:
                self._raise_if_exists(exc, name, headers)
                raise
        except BaseException:
            self.close()
            with contextlib.suppress(Exception):
                conn = self._conn()
                for segment in reversed(sender.written):  # sub-manifests before their parts
                    with contextlib.suppress(Exception):
                        conn.delete_object(self.container, segment)
            raise
        finally:
            workers.close()
        return Stored.of(response, etag, upload, list(sender.written))

    def _parallel(self) -> int:
        return max(1, self.settings.parallel)

    def _segment_expiry(self) -> int:
        return self.settings.segment_expiry or SEGMENT_EXPIRY

    def _raise_if_exists(self, exc: BaseException, name: str, headers: dict) -> None:
        """Create-only as Swift offers it (docs/layout.md): ``If-None-Match: *``
        is checked when a PUT arrives, not when it commits, so overlapping
        uploads of one name can all be told 201, and the one that reached the
        proxy last (the newest timestamp) holds the name.  412: the object
        existed when our PUT arrived; 409: something newer (a deletion) did.
        An upload told either stored nothing.  Nothing waits to find out more."""
        if status(exc) == 412 or (status(exc) == 409 and "If-None-Match" in headers):
            raise AlreadyExists(f"{name} already exists in {self._where}") from None

    def _exists(self, name: str) -> bool:
        try:
            self.stat(name)
            return True
        except SwiftwalError as exc:
            if exc.code == "not-found":
                return False
            raise

    def _remove_stale_segments(self, name: str, keep: str | None) -> None:
        """Segments of earlier uploads of ``name`` (replaced or interrupted)."""
        with contextlib.suppress(Exception):
            stale = [n for n in self._raw_names(f"{SEGMENTS}{name}/")
                     if (segment_owner(n) or ("", ""))[0] == name
                     and segment_owner(n)[1] != keep]  # type: ignore[index]
            for segment in stale:
                with contextlib.suppress(Exception):
                    self._conn().delete_object(self.container, segment)

    # -- read side -----------------------------------------------------------------------

    @staticmethod
    def _check_readable(name: str) -> None:
        if not isinstance(name, str) or not name or name.startswith(RESERVED_PREFIX):
            raise InvalidInput(f"invalid object name {name!r}")

    @contextlib.contextmanager
    def get(self, name: str) -> Iterator[ObjectReader]:
        """A Static Large Object is read from its manifest, its segments fetched
        ``parallel`` at a time and handed out in order; anything else (plain
        objects, 0.2.2's Dynamic Large Objects) is one streamed GET."""
        self._check_readable(name)
        action = f"get {name}"
        main = self._conn()
        with self._translating(action):
            if not main.url or not main.token:
                main.url, main.token = main.get_auth()
            # A reader of its own: the caller may use the store while it reads.
            conn = self._new_connection(preauth=(main.url, main.token))
        # Made once the manifest is read: with the token ``conn`` holds then,
        # renewed if the cached one was refused (or each would renew it again).
        workers = ThreadConnections(lambda: self._new_connection(preauth=(conn.url, conn.token)))
        reader = None
        try:
            with self._translating(action):
                headers, body = conn.get_object(self.container, name, resp_chunk_size=CHUNK,
                                                query_string="multipart-manifest=get")
                if headers.get("x-static-large-object", "").lower() == "true":
                    reader = self._slo_reader(name, headers, body, workers, action)
                elif headers.get("x-object-manifest"):
                    body.close()
                    headers, body = conn.get_object(self.container, name,
                                                    resp_chunk_size=CHUNK)
            if reader is None:
                reader = Reader(info_from_headers(name, headers), body, action, self._where)
            yield reader
        finally:
            if isinstance(reader, SegmentReader):
                reader.close()
            workers.close()
            conn.close()

    def _slo_reader(self, name: str, headers, body, workers, action: str) -> SegmentReader:
        top = json.loads(b"".join(body))

        def fetch_manifest(path: str) -> list:
            owner, _, obj = path.lstrip("/").partition("/")
            _, data = workers().get_object(owner, obj, query_string="multipart-manifest=get")
            return json.loads(data)

        def get_segment(owner: str, obj: str) -> bytes:
            return workers().get_object(owner, obj)[1]

        info = info_from_headers(name, headers)
        info = attrs.evolve(info, size=sum(int(item["bytes"]) for item in top),
                            etag=slo_etag(item["hash"] for item in top))
        chunks = ordered_map(fetch_checked(get_segment, self.container),
                             manifest_items(fetch_manifest, top), self._parallel())
        return SegmentReader(info, chunks, action, self._where)

    def stat(self, name: str) -> ObjectInfo:
        self._check_readable(name)
        with self._translating(f"stat {name}"):
            return info_from_headers(name, self._conn().head_object(self.container, name))

    def _raw_pages(self, prefix: str) -> Iterator[list]:
        marker = ""
        while True:
            with self._translating(f"list {prefix!r}"):
                try:
                    _, items = self._conn().get_container(
                        self.container, marker=marker, prefix=prefix or None, limit=self._page)
                except Exception as exc:
                    if status(exc) == 404:  # no container yet: nothing stored
                        return
                    raise
            if not items:
                return
            yield items
            marker = items[-1]["name"]
            if marker.startswith(SEGMENTS):
                marker = AFTER_SEGMENTS

    def _raw_items(self, prefix: str) -> Iterator[dict]:
        # Only for ".segments/" prefixes, where the jump above is never taken too early.
        marker = ""
        while True:
            with self._translating(f"list {prefix!r}"):
                _, items = self._conn().get_container(self.container, marker=marker,
                                                      prefix=prefix, limit=self._page)
            if not items:
                return
            yield from items
            marker = items[-1]["name"]

    def _raw_names(self, prefix: str) -> list[str]:
        return [item["name"] for item in self._raw_items(prefix)]

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for items in self._raw_pages(prefix):
            for item in items:
                if not item["name"].startswith(RESERVED_PREFIX):
                    yield info_from_listing(item)

    def list_parts(self, prefix: str) -> Iterator[Part]:
        """Segments of large objects (complete or not) whose object name starts with ``prefix``."""
        try:
            for item in self._raw_items(f"{SEGMENTS}{prefix}"):
                info = info_from_listing(item)
                yield Part(info.name[len(SEGMENTS):], info.name, "segment", info.last_modified)
        except SwiftwalError as exc:
            if exc.code != "not-found":  # no container yet: nothing stored
                raise

    def delete_parts(self, parts: Iterable[Part]) -> None:
        for part in parts:
            if not part.name.startswith(SEGMENTS):
                raise InvalidInput(f"{part.name!r} is not a segment")
            with self._translating(f"delete {part.name}"):
                try:
                    self._conn().delete_object(self.container, part.name)
                except Exception as exc:
                    if status(exc) != 404:
                        raise

    def tidy(self, prefix: str) -> None:
        """Swift keeps nothing for a name beyond its objects."""

    def delete(self, names: Iterable[str]) -> None:
        for name in names:
            self._check_readable(name)
            with self._translating(f"delete {name}"):
                if self._conn().request(multipart_delete, self.container, name):
                    continue
                try:
                    self._conn().delete_object(self.container, name)
                except Exception as exc:
                    if status(exc) != 404:
                        raise
