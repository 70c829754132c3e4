"""Static Large Objects sent and fetched a few segments at a time, in parallel.

Memory is bounded by a fixed number of segment buffers whatever the object's
size: an upload holds at most ``buffers`` segments (one filling from the
source, the others in flight), each at most eight times the first one's size
(see below); a download holds at most ``ahead`` fetched segments plus the one
being read.

Segments go up with ``X-Delete-After`` so that an upload cut short leaves
nothing that lives for ever; once every segment is stored the expiry is
removed from each of them (a POST without ``X-Delete-At``: Swift's object
server replaces the object's metadata and drops its expiry) before the
manifest is written, so that a committed manifest never names an expiring
segment.  If removing one expiry fails, the upload fails and commits nothing.

A manifest lists at most ``max_manifest_segments`` items (1000 by default).
Beyond that, the segments are grouped under sub-manifests (Swift's nested
SLOs) and the object's manifest lists those: two levels, so an object may
hold ``limit ** 2`` segments.  Their size doubles after each quarter of
those, from 4 MiB to 32 MiB: with 1000 items per manifest, an object may be
14 TiB, and only one beyond 1 TiB uses more than the first buffers' memory.
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import hashlib
import io
import json
import threading
from typing import Callable, Iterable, Iterator, TypeVar

from swiftwal.adapters.storage.swift_errors import translate
from swiftwal.adapters.storage.swift_upload import BufferBody
from swiftwal.adapters.storage.swift_wire import SEGMENTS
from swiftwal.domain.errors import IntegrityError, StorageError, StorageUnavailable

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(func: Callable[[T], R], items: Iterable[T], ahead: int) -> Iterator[R]:
    """``func`` over ``items`` in ``ahead`` threads, results in input order.

    At most ``ahead`` results wait in memory besides the one just yielded.
    Items are drawn lazily; closing the iterator cancels what has not started
    and waits for what has.  The first failure (in input order) is raised.
    """
    if ahead < 1:
        raise ValueError("ahead must be at least 1")
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=ahead)
    pending: collections.deque = collections.deque()
    source = iter(items)
    try:
        for item in source:
            pending.append(pool.submit(func, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)


def slo_etag(etags: Iterable[str]) -> str:
    """The ETag Swift gives a Static Large Object made of plain segments."""
    return hashlib.md5("".join(etags).encode()).hexdigest()


class SegmentUpload:
    """One large-object upload: segments in parallel, expiry, nested manifests.

    ``connect`` returns this thread's swiftclient connection.  ``written``
    names everything stored so far (to delete if the upload fails).
    """

    def __init__(self, *, connect: Callable[[], object], container: str, name: str,
                 upload: str, segment_size: int, max_segment_size: int, buffers: int, limit: int,
                 expiry: int) -> None:
        self._connect = connect
        self._container = container
        self._prefix = f"{SEGMENTS}{name}/{upload}/"
        self._name = name
        self._size = segment_size
        self._max_size = max(segment_size, max_segment_size)
        self._workers = max(1, buffers - 1)
        self._limit = limit
        self._expiry = expiry
        self._lock = threading.Lock()
        self.written: list[str] = []

    # -- the whole upload ----------------------------------------------------------------

    def send(self, read: Callable[[int], bytearray]) -> list[dict]:
        """Read the source with ``read(n)`` to its end; return the top manifest
        (segments, or sub-manifests), every item's expiry already removed."""
        groups: list[list[dict]] = [[]]
        subs: list[dict] = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=self._workers) as pool:
            inflight: collections.deque = collections.deque()
            try:
                number = 0
                while True:
                    data = read(self._segment_size(number + 1))
                    if not data and number:
                        break
                    number += 1
                    if number > self._limit * self._limit:
                        raise StorageError(
                            f"{self._name} needs more than {self._limit ** 2} segments "
                            f"(of up to {self._segment_size(number)} bytes)",
                            hint="raise the cluster's max_manifest_segments (slo)")
                    while len(inflight) >= self._workers:
                        groups[-1].append(inflight.popleft().result())
                    inflight.append(pool.submit(self._put_segment, number, data))
                    del data
                    if len(groups[-1]) + len(inflight) >= self._limit:
                        self._drain(inflight, groups[-1])
                        if len(groups[-1]) >= self._limit:
                            groups.append([])
                self._drain(inflight, groups[-1])
            finally:
                for future in inflight:
                    future.cancel()
            if not groups[-1] and len(groups) > 1:
                groups.pop()
            if len(groups) == 1:
                self._unexpire(pool, [item["path"] for item in groups[0]])
                return groups[0]
            for index, group in enumerate(groups, 1):
                self._unexpire(pool, [item["path"] for item in group])
                subs.append(self._put_sub_manifest(index, group))
            self._unexpire(pool, [item["path"] for item in subs])
            return subs

    def _segment_size(self, number: int) -> int:
        """Segments double in size after each quarter of the ``limit ** 2`` items the
        two manifest levels can list (three times at most, and never beyond the
        large-object size): small ones keep memory low for all but the largest
        objects, which can still be 3.75 times as large as with fixed segments."""
        step = max(1, self._limit * self._limit // 4)
        return min(self._max_size, self._size << min(3, (number - 1) // step))

    def _drain(self, inflight: collections.deque, group: list[dict]) -> None:
        while inflight:
            group.append(inflight.popleft().result())

    # -- requests ------------------------------------------------------------------------

    def _object(self, path: str) -> str:
        return path.split("/", 2)[2]

    def _put_segment(self, number: int, data: bytearray) -> dict:
        segment = f"{self._prefix}{number:08d}"
        with self._lock:
            self.written.append(segment)
        expected = hashlib.md5(data).hexdigest()
        # With the MD5 as ETag Swift refuses a corrupted body (422); bytes can be resent.
        # A seekable body: swiftclient rewinds it to retry (plain bytes it would not).
        body = BufferBody(data)
        try:
            etag = self._connect().put_object(
                self._container, segment, body, content_length=len(data), etag=expected,
                headers={"X-Delete-After": str(self._expiry)})
        finally:
            body.release()
        if (etag or "").strip('"') != expected:
            raise IntegrityError(f"swift stored segment {segment} with etag {etag}, "
                                 f"expected {expected}")
        return {"path": f"/{self._container}/{segment}", "etag": expected,
                "size_bytes": len(data)}

    def _put_sub_manifest(self, index: int, group: list[dict]) -> dict:
        sub = f"{self._prefix}manifest-{index:08d}"
        with self._lock:
            self.written.append(sub)
        body = json.dumps(group).encode()
        self._connect().put_object(
            self._container, sub, io.BytesIO(body), content_length=len(body),
            headers={"X-Delete-After": str(self._expiry)},
            query_string="multipart-manifest=put")
        return {"path": f"/{self._container}/{sub}",
                "etag": slo_etag(item["etag"] for item in group),
                "size_bytes": sum(item["size_bytes"] for item in group)}

    def _unexpire(self, pool, paths: list[str]) -> None:
        def post(path: str) -> None:
            self._connect().post_object(self._container, self._object(path), headers={})

        for future in [pool.submit(post, path) for path in paths]:
            future.result()


def manifest_items(fetch_manifest: Callable[[str], list], items: list) -> Iterator[dict]:
    """The plain segments of an SLO manifest, sub-manifests expanded (lazily)."""
    for item in items:
        if item.get("sub_slo"):
            yield from manifest_items(fetch_manifest, fetch_manifest(item["name"]))
        else:
            yield item


class SegmentReader:
    """An ``ObjectReader`` over segments fetched ahead, each checked against its
    manifest entry (size and MD5) before any of its bytes is handed out."""

    def __init__(self, info, chunks: Iterator[bytes], action: str, where: str) -> None:
        self.info = info
        self._chunks = chunks
        self._view = memoryview(b"")
        self._action = action
        self._where = where
        self._got = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            parts = [bytes(self._view)] + list(self._next_all())
            self._view = memoryview(b"")
            data = b"".join(parts)
        else:
            while not len(self._view) and size:
                nxt = self._next()
                if nxt is None:
                    break
                self._view = memoryview(nxt)
            data = bytes(self._view[:size])
            self._view = self._view[len(data):]
        self._got += len(data)
        if not data and size != 0 and self._got < self.info.size:
            raise StorageUnavailable(f"{self._action}: download from {self._where} ended after "
                                     f"{self._got} of {self.info.size} bytes", hint="retry")
        return data

    def _next(self) -> bytes | None:
        try:
            return next(self._chunks)
        except StopIteration:
            return None
        except Exception as exc:
            raise translate(exc, self._action, self._where) from exc

    def _next_all(self) -> Iterator[bytes]:
        while True:
            chunk = self._next()
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._chunks.close()  # type: ignore[attr-defined]


def fetch_checked(get: Callable[[str, str], bytes], container: str) -> Callable[[dict], bytes]:
    """A function fetching one manifest entry's bytes and checking them."""

    def fetch(item: dict) -> bytes:
        path = item["name"]
        owner, _, obj = path.lstrip("/").partition("/")
        data = get(owner or container, obj)
        if len(data) != int(item["bytes"]) or hashlib.md5(data).hexdigest() != item["hash"]:
            raise IntegrityError(f"segment {obj} does not match its manifest entry "
                                 f"({len(data)} bytes)")
        return data

    return fetch


class ThreadConnections:
    """One connection per calling thread, made by ``factory``; ``close`` closes all."""

    def __init__(self, factory: Callable[[], object]) -> None:
        self._factory = factory
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list = []

    def __call__(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._factory()
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()  # type: ignore[attr-defined]
