"""What only the Swift adapter does: auth, outages, the cluster's limits, old layouts."""
from __future__ import annotations

import hashlib
import io
import logging
import os
import time
import tracemalloc
import uuid

import pytest

from swiftwal.adapters.storage.factory import open_storage
from swiftwal.adapters.storage.swift import BUFFER_BUDGET, PLAIN_BUFFER, SEGMENT_BUFFER, SwiftStorage
from swiftwal.adapters.storage.swift_settings import SwiftSettings
from swiftwal.domain.errors import (AuthenticationFailed, IntegrityError, StorageError,
                                    StorageUnavailable)

pytestmark = pytest.mark.integration

WRONG = "wrong-Pa55word-7c1f"


def settings_for(swift, **overrides) -> SwiftSettings:
    values = dict(auth_url=swift.auth_url, username=swift.user, password=swift.key,
                  container=f"swift-{uuid.uuid4().hex[:12]}")
    values.update(overrides)
    return SwiftSettings(**values)


def all_names(store: SwiftStorage) -> list[str]:
    _, items = store._conn().get_container(store.container, full_listing=True)
    return [item["name"] for item in items]


def attempts(store):
    yield "put", lambda: store.put("x", io.BytesIO(b"data"))
    yield "get", lambda: store.get("x").__enter__()
    yield "stat", lambda: store.stat("x")
    yield "list", lambda: list(store.list())
    yield "delete", lambda: store.delete(["x"])


def test_wrong_password_is_an_authentication_failure_without_the_password(swift, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    store = SwiftStorage(settings_for(swift, password=WRONG))
    for action, attempt in attempts(store):
        with pytest.raises(AuthenticationFailed) as info:
            attempt()
        error = info.value
        assert "authentication failed" in error.message, action
        assert swift.auth_url in error.message and error.hint
        for text in (str(error), repr(error), error.message, error.hint, repr(store.settings),
                     store.describe()):
            assert WRONG not in text
    assert not [r for r in caplog.records if r.name.startswith("swiftclient")]
    captured = capsys.readouterr()
    assert WRONG not in captured.out + captured.err and "swiftclient" not in captured.err


def test_proxy_down_is_unavailable_quickly_and_says_where(swift, capsys):
    store = SwiftStorage(settings_for(swift))
    store.put("x", io.BytesIO(b"data"))
    swift.stop_proxy()
    try:
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            store.stat("x")  # default retries, on an authenticated connection
        assert time.monotonic() - started < 10
        for action, attempt in attempts(SwiftStorage(settings_for(swift, retries=1))):
            started = time.monotonic()
            with pytest.raises(StorageUnavailable) as info:
                attempt()
            assert time.monotonic() - started < 5, action
            assert f"127.0.0.1:{swift.proxy_port}" in info.value.message
            assert info.value.hint and swift.key not in info.value.message
    finally:
        swift.start_proxy()
    assert store.stat("x").size == 4
    assert "swiftclient" not in capsys.readouterr().err


def test_large_object_size_follows_the_clusters_max_file_size(swift):
    store = SwiftStorage(settings_for(swift))
    assert store.segment_size() == swift.max_file_size == 10 << 20
    data = hashlib.sha256(b"seed").digest() * ((swift.max_file_size + 4096) // 32)
    info = store.put("big", io.BytesIO(data))
    assert info.size == len(data) > swift.max_file_size
    segments = [n for n in all_names(store) if n.startswith(".segments/big/")]
    sizes = [store._conn().head_object(store.container, n)["content-length"] for n in segments]
    assert len(segments) == 3 and max(int(s) for s in sizes) == SEGMENT_BUFFER
    with store.get("big") as reader:
        assert hashlib.sha256(reader.read()).digest() == hashlib.sha256(data).digest()
    store.delete(["big"])
    assert all_names(store) == []


class _Generated:
    """``total`` bytes made as they are read, so that only the upload holds any."""

    def __init__(self, total: int) -> None:
        self.left = total
        self.block = hashlib.sha256(b"block").digest() * (1 << 15)  # 1 MiB

    def read(self, n: int = -1) -> bytes:
        n = min(self.left, len(self.block) if n is None or n < 0 else n, len(self.block))
        self.left -= n
        return bytes(memoryview(self.block)[:n])  # a new object each time


def test_a_large_upload_holds_a_fixed_number_of_segments_in_memory(swift):
    store = SwiftStorage(settings_for(swift))
    total = 96 << 20
    tracemalloc.start()
    try:
        info = store.put("big", _Generated(total))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.size == total
    # the look-ahead that chose a large object, the segment buffers, a chunk in hand
    assert peak < PLAIN_BUFFER + BUFFER_BUDGET + (8 << 20), f"peak {peak >> 20} MiB"
    with store.get("big") as reader:
        assert hashlib.sha256(reader.read()).hexdigest() == info.sha256


def test_a_stream_expected_large_is_not_held_to_find_out(swift):
    """A backup: no 16 MiB look-ahead for a small object before the segment
    buffers; a short stream so announced is still one plain object."""
    store = SwiftStorage(settings_for(swift))
    total = 48 << 20
    tracemalloc.start()
    try:
        info = store.put("big", _Generated(total), expect_large=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.size == total
    assert peak < BUFFER_BUDGET + SEGMENT_BUFFER + (8 << 20), f"peak {peak >> 20} MiB"
    with store.get("big") as reader:
        assert hashlib.sha256(reader.read()).hexdigest() == info.sha256

    store.put("small", io.BytesIO(b"s" * 1000), expect_large=True)
    with store.get("small") as reader:
        assert reader.read() == b"s" * 1000
    assert [n for n in all_names(store) if n.startswith(".segments/small")] == []


def test_replacing_a_large_object_leaves_no_orphan_segments(swift):
    store = SwiftStorage(settings_for(swift, large_object_size=100 << 10), buffer_size=50 << 10)
    store.put("obj", io.BytesIO(b"a" * (250 << 10)))
    store.put("obj", io.BytesIO(b"b" * (150 << 10)))
    names = all_names(store)
    assert len([n for n in names if n.startswith(".segments/obj/")]) == 2
    store.put("obj", io.BytesIO(b"small"))
    assert all_names(store) == ["obj"]


def test_container_is_created_on_first_write_only(swift):
    store = SwiftStorage(settings_for(swift))
    assert list(store.list()) == []
    store.delete(["nothing"])
    with pytest.raises(Exception) as info:
        store._conn().head_container(store.container)
    assert getattr(info.value, "http_status", None) == 404
    store.put("first", io.BytesIO(b"1"))
    assert [o.name for o in store.list()] == ["first"]


def test_old_dynamic_large_objects_read_as_their_content(swift):
    """0.2.2 stored base backups as DLO manifests with segments under ``...seg/``."""
    store = SwiftStorage(settings_for(swift))
    store.put("placeholder", io.BytesIO(b""))
    conn = store._conn()
    for i, part in enumerate([b"old-", b"layout"]):
        conn.put_object(store.container, f"...seg/pg_basebackup_x.tgz/u/{i:06d}", part)
    conn.put_object(store.container, "pg_basebackup_x.tgz", b"",
                    headers={"X-Object-Manifest": f"{store.container}/...seg/pg_basebackup_x.tgz/u/"})
    with store.get("pg_basebackup_x.tgz") as reader:
        assert reader.read() == b"old-layout"
    assert store.stat("pg_basebackup_x.tgz").size == len(b"old-layout")


def test_factory_opens_swift_with_the_url_container(swift, tmp_path):
    store = open_storage("swift://from-url", settings_for(swift))
    assert isinstance(store, SwiftStorage) and store.container == "from-url"
    assert store.describe() == f"swift://from-url (auth {swift.auth_url})"
    assert open_storage(None, settings_for(swift, container="c")).container == "c"
    assert open_storage(f"file://{tmp_path}", None).describe() == f"file://{tmp_path}"


def segment_headers(store: SwiftStorage, name: str) -> dict[str, dict]:
    conn = store._conn()
    return {n: conn.head_object(store.container, n) for n in all_names(store)
            if n.startswith(f".segments/{name}/")}


def test_segments_expire_until_the_manifest_is_committed(swift):
    store = SwiftStorage(settings_for(swift, large_object_size=64 << 10, segment_expiry=3600),
                         buffer_size=16 << 10)
    data = os.urandom(300 << 10)
    seen: list[dict] = []

    class Watching(io.BytesIO):
        """Looks at the stored segments while the upload is still reading."""

        def read(self, n=-1):
            if self.tell() > (200 << 10) and not seen:
                deadline = time.monotonic() + 10
                while not seen or not seen[-1] and time.monotonic() < deadline:
                    seen.append(segment_headers(store, "obj"))
            return super().read(min(n, 8 << 10) if n and n > 0 else 8 << 10)

    store.put("obj", Watching(data))
    assert seen[-1], "no segment was stored while reading"
    for headers in seen[-1].values():
        left = int(headers["x-delete-at"]) - time.time()
        assert 3000 < left <= 3605
    committed = segment_headers(store, "obj")
    assert len(committed) == 5 and set(seen[-1]) <= set(committed)
    assert not [n for n, h in committed.items() if "x-delete-at" in h]
    with store.get("obj") as reader:
        assert reader.info.size == len(data) and reader.read() == data


def test_a_failed_upload_commits_nothing_and_deletes_its_segments(swift):
    store = SwiftStorage(settings_for(swift, large_object_size=64 << 10), buffer_size=16 << 10)
    store.put("obj", io.BytesIO(b"old"))

    class Failing(io.BytesIO):
        def read(self, n=-1):
            if self.tell() > (250 << 10):
                raise OSError("source broke")
            return super().read(min(n, 8 << 10) if n and n > 0 else 8 << 10)

    with pytest.raises(OSError, match="source broke"):
        store.put("obj", Failing(os.urandom(400 << 10)))
    assert all_names(store) == ["obj"]
    with store.get("obj") as reader:
        assert reader.read() == b"old"


def test_an_object_beyond_one_manifest_nests_sub_manifests(swift):
    store = SwiftStorage(settings_for(swift, large_object_size=4 << 10), buffer_size=4 << 10)
    store.manifest_limit = 3
    data = os.urandom(7 * (4 << 10) + 5)  # 8 segments: 3 sub-manifests of 3, 3, 2
    info = store.put("nested", io.BytesIO(data))
    assert info.size == len(data)
    names = [n for n in all_names(store) if n.startswith(".segments/nested/")]
    assert len([n for n in names if "/manifest-" in n]) == 3 and len(names) == 11
    assert not [n for n, h in segment_headers(store, "nested").items() if "x-delete-at" in h]
    with store.get("nested") as reader:
        assert reader.info.size == len(data)
        assert reader.read(1000) + reader.read() == data
    _, plain = store._conn().get_object(store.container, "nested")  # Swift agrees
    assert plain == data and store.stat("nested").etag == info.etag
    with pytest.raises(StorageError, match="more than 9 segments"):
        store.put("too-big", io.BytesIO(os.urandom(9 * (4 << 10) + 1)))
    assert not [n for n in all_names(store) if n.startswith(".segments/too-big/")]
    store.delete(["nested"])
    assert all_names(store) == []


def test_segments_grow_as_an_object_fills_its_manifests(swift, monkeypatch):
    from swiftwal.adapters.storage import swift as adapter

    monkeypatch.setattr(adapter, "SEGMENT_BUFFER", 4 << 10)
    store = SwiftStorage(settings_for(swift, large_object_size=32 << 10), buffer_size=4 << 10)
    store.manifest_limit = 2  # a quarter of the 4 items two levels hold: one segment
    data = os.urandom(50 << 10)
    info = store.put("growing", io.BytesIO(data))
    segments = sorted(n for n in all_names(store)
                      if n.startswith(".segments/growing/") and "/manifest-" not in n)
    sizes = [int(store._conn().head_object(store.container, n)["content-length"])
             for n in segments]
    assert sizes == [4 << 10, 8 << 10, 16 << 10, 22 << 10]
    with store.get("growing") as reader:
        assert reader.read() == data
    _, plain = store._conn().get_object(store.container, "growing")  # Swift agrees
    assert plain == data and store.stat("growing").etag == info.etag


def test_a_corrupted_segment_is_refused_on_read(swift):
    store = SwiftStorage(settings_for(swift, large_object_size=64 << 10), buffer_size=16 << 10)
    data = os.urandom(100 << 10)
    store.put("obj", io.BytesIO(data))
    victim = sorted(segment_headers(store, "obj"))[1]
    store._conn().put_object(store.container, victim, b"x" * (36 << 10))  # same size
    with pytest.raises(IntegrityError):
        with store.get("obj") as reader:
            while reader.read(4096):
                pass


def test_failing_to_remove_an_expiry_fails_the_upload_and_commits_nothing(swift):
    from tests.support.tcp_proxy import TcpProxy

    proxy = TcpProxy(swift.proxy_port)
    try:
        store = SwiftStorage(settings_for(swift, auth_url=f"http://{proxy.url_host}/auth/v1.0",
                                          large_object_size=64 << 10, retries=1, backoff=0.05),
                             buffer_size=16 << 10)
        posts = []

        def cut_second_post(line: bytes):
            if line.startswith(b"POST"):
                posts.append(line)
                if len(posts) == 2:  # one expiry already removed, this one never is
                    proxy.trip = None
                    proxy.set_mode("cut", cut_after=0, cut_direction="up")
            return None

        proxy.trip = cut_second_post
        with pytest.raises(StorageUnavailable):
            store.put("obj", io.BytesIO(os.urandom(300 << 10)))
        proxy.set_mode("pass")
        assert len(posts) == 2
        assert not [line for line in proxy.requests if line.startswith(b"PUT")
                    and line.split()[1].split(b"?")[0].endswith(b"/obj")]  # no manifest sent
        assert "obj" not in all_names(store)
        store.put("obj", io.BytesIO(b"again"))  # a later upload of the name clears the rest
        assert all_names(store) == ["obj"]
    finally:
        proxy.close()
