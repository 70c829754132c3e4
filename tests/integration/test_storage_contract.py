"""The storage port's contract, run against every adapter on real stores.

Swift runs with a 1 MiB large-object size and a small upload buffer, so the
large-object paths are taken with a few megabytes; listings page by 3.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import attrs

import pytest

from swiftwal.adapters.storage.local import LocalStorage
from swiftwal.adapters.storage.port import Part
from swiftwal.adapters.storage.swift import SwiftStorage
from swiftwal.adapters.storage.swift_settings import SwiftSettings
from swiftwal.domain.errors import AlreadyExists, InvalidInput, ObjectNotFound, StorageError

pytestmark = pytest.mark.integration

SEGMENT = 1 << 20
BUFFER = 256 << 10
BIG = 2 * SEGMENT + 7  # three segments, the last one short
SIZES = [0, 1, BUFFER + 100, BIG]


def make_swift(swift, **kwargs) -> SwiftStorage:
    settings = SwiftSettings(auth_url=swift.auth_url, username=swift.user, password=swift.key,
                             container=f"contract-{uuid.uuid4().hex[:12]}",
                             large_object_size=kwargs.pop("large_object_size", SEGMENT))
    kwargs.setdefault("listing_page_size", 3)
    kwargs.setdefault("buffer_size", BUFFER)
    return SwiftStorage(settings, **kwargs)


def raw_names(store) -> list[str]:
    """Everything the store holds, internal objects included."""
    if isinstance(store, LocalStorage):
        found = []
        for directory, _, files in os.walk(store.root):
            found += [os.path.relpath(os.path.join(directory, f), store.root) for f in files]
        return sorted(found)
    try:
        _, items = store._conn().get_container(store.container, full_listing=True)
    except Exception as exc:
        if getattr(exc, "http_status", None) == 404:
            return []
        raise
    return [item["name"] for item in items]


@pytest.fixture(params=["local", "local-sidecar", "swift"])
def store(request, tmp_path):
    if request.param == "swift":
        storage = make_swift(request.getfixturevalue("swift"))
        yield storage
        storage.close()
    else:
        yield LocalStorage(str(tmp_path / "store"), use_xattrs=request.param == "local")


def payload(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(f"{seed}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


class Failing(io.RawIOBase):
    """A stream that gives ``good`` bytes, then raises (a dying producer)."""

    def __init__(self, good: int) -> None:
        self._left = good

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            raise RuntimeError("producer died")
        n = self._left if n is None or n < 0 else min(n, self._left)
        self._left -= n
        return b"x" * n


def read_all(store, name: str, chunk: int = 65536) -> bytes:
    parts = []
    with store.get(name) as reader:
        while True:
            data = reader.read(chunk)
            if not data:
                return b"".join(parts)
            parts.append(data)


@pytest.mark.parametrize("known_size", [False, True], ids=["unknown-size", "known-size"])
@pytest.mark.parametrize("size", SIZES)
def test_put_get_round_trip_is_byte_identical(store, size, known_size):
    data = payload(size)
    meta = {"kind": "test", "n": str(size)}
    info = store.put("dir/obj", io.BytesIO(data), metadata=meta,
                     size=size if known_size else None)
    assert (info.name, info.size, dict(info.metadata)) == ("dir/obj", size, meta)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert read_all(store, "dir/obj") == data
    with store.get("dir/obj") as reader:
        assert reader.info.size == size and dict(reader.info.metadata) == meta
        assert reader.read() == data
    stat = store.stat("dir/obj")
    assert (stat.size, dict(stat.metadata), stat.etag) == (size, meta, info.etag)
    assert [(o.name, o.size) for o in store.list()] == [("dir/obj", size)]
    if isinstance(store, SwiftStorage) and size > SEGMENT:
        segments = [n for n in raw_names(store) if n.startswith(".segments/dir/obj/")]
        assert len(segments) == 3
    store.delete(["dir/obj"])
    assert list(store.list()) == []
    assert raw_names(store) == []
    with pytest.raises(ObjectNotFound):
        store.stat("dir/obj")


@pytest.mark.parametrize("size", [3, BIG])
def test_names_with_unusual_characters_round_trip(store, size):
    names = ["sp ace/é ü", "pct%20/q?x=1#frag", "plus+and&amp;'quote\"", "a" * 200]
    for name in names:
        store.put(name, io.BytesIO(payload(size)), metadata={"k": "v"})
    assert [o.name for o in store.list()] == sorted(names)
    for name in names:
        assert read_all(store, name) == payload(size)
        assert store.stat(name).metadata == {"k": "v"}
    store.delete(names)
    assert raw_names(store) == []


@pytest.mark.parametrize("size", [5, BIG])
def test_create_only_never_replaces(store, size):
    store.put("x", io.BytesIO(b"first"), metadata={"v": "1"})
    with pytest.raises(AlreadyExists):
        store.put("x", io.BytesIO(payload(size)), metadata={"v": "2"}, create_only=True)
    assert read_all(store, "x") == b"first"
    assert dict(store.stat("x").metadata) == {"v": "1"}
    assert [o.name for o in store.list()] == ["x"]
    assert raw_names(store) == ["x"] or isinstance(store, LocalStorage)


@pytest.mark.parametrize("size", [100, BIG])
def test_create_only_race_stores_the_content_of_a_put_told_success(store, size):
    """Of two overlapping create-only puts, at least one succeeds and the name
    holds a successful one's content; the local directory tells exactly one,
    Swift may tell both (it checks If-None-Match when a PUT arrives, not when
    it commits: docs/layout.md), and then the replaced upload's large-object
    segments stay until the name is overwritten."""
    replaced = False
    for round_ in range(3):
        name = f"race/{round_}"
        barrier = threading.Barrier(2)
        outcome: dict[int, object] = {}

        def writer(i: int) -> None:
            data = payload(size, seed=i)
            barrier.wait()
            try:
                outcome[i] = store.put(name, io.BytesIO(data), metadata={"writer": str(i)},
                                       create_only=True)
            except AlreadyExists as exc:
                outcome[i] = exc

        threads = [threading.Thread(target=writer, args=(i,)) for i in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i, r in outcome.items() if not isinstance(r, AlreadyExists)]
        assert len(outcome) == 2 and winners, outcome
        assert len(winners) == 1 or not isinstance(store, LocalStorage), outcome
        replaced |= len(winners) == 2
        holder = int(store.stat(name).metadata["writer"])
        assert holder in winners
        assert read_all(store, name) == payload(size, seed=holder)
    store.delete([f"race/{i}" for i in range(3)])
    left = raw_names(store)
    assert left == [] or (replaced and all(n.startswith(".segments/race/") for n in left)), left


def test_metadata_round_trips_and_is_replaced_on_overwrite(store):
    meta = {"wal-name": "000000010000000000000001", "sha256": "ab" * 32, "empty": "",
            "with-space": "a b"}
    store.put("m", io.BytesIO(b"1"), metadata=meta)
    assert dict(store.stat("m").metadata) == meta
    store.put("m", io.BytesIO(b"2"), metadata={"other": "x"})
    assert dict(store.stat("m").metadata) == {"other": "x"}
    store.put("m", io.BytesIO(b"3"))
    assert dict(store.stat("m").metadata) == {}
    with pytest.raises(InvalidInput):
        store.put("m", io.BytesIO(b"4"), metadata={"Upper": "x"})
    assert read_all(store, "m") == b"3"


NAMES = ["wal/000000010000000000000002", "base/20240101T000000Z/data", "b", "base-x",
         "wal/000000010000000000000001", "wal/00000002.history", "basement", ".r", "~z"]


def test_list_is_in_name_order_and_filters_by_prefix(store):
    for i, name in enumerate(NAMES):
        store.put(name, io.BytesIO(payload(i)))
    assert [(o.name, o.size) for o in store.list()] == sorted(
        (n, NAMES.index(n)) for n in NAMES)
    assert [o.name for o in store.list("wal/")] == sorted(n for n in NAMES if n.startswith("wal/"))
    assert [o.name for o in store.list("base")] == ["base-x", "base/20240101T000000Z/data",
                                                    "basement"]
    assert [o.name for o in store.list("base/2024")] == ["base/20240101T000000Z/data"]
    assert list(store.list("nothing")) == []


def test_list_pages_and_skips_segments(store):
    names = [f"p/{i:03d}" for i in range(10)] + [".r", ".t", "q"]
    for name in names:
        store.put(name, io.BytesIO(b"v"))
    store.put("big", io.BytesIO(payload(BIG)))  # segments sort between ".r" and ".t"
    listed = [o.name for o in store.list()]
    assert listed == sorted(names + ["big"])
    assert [o.size for o in store.list("big")] == [BIG]
    assert [o.name for o in store.list(".")] == [".r", ".t"]
    store.delete(listed)
    assert raw_names(store) == []


def test_delete_is_idempotent(store):
    assert list(store.list()) == []
    store.delete(["never/was", "x"])  # also before the store holds anything
    store.put("a", io.BytesIO(b"1"))
    store.put("b", io.BytesIO(payload(BIG)))
    store.delete(["a", "a", "b", "missing"])
    store.delete(["a", "b"])
    store.delete([])
    assert list(store.list()) == []
    assert raw_names(store) == []


@pytest.mark.parametrize("good", [0, 1000, BUFFER + 10, BIG])
@pytest.mark.parametrize("known_size", [False, True], ids=["unknown-size", "known-size"])
def test_interrupted_put_leaves_nothing_visible(store, good, known_size):
    store.put("keep", io.BytesIO(b"old"), metadata={"v": "old"})
    for name in ("new", "keep"):
        with pytest.raises(RuntimeError, match="producer died"):
            store.put(name, Failing(good), size=good + 10 if known_size else None)
    assert [o.name for o in store.list()] == ["keep"]
    assert read_all(store, "keep") == b"old"
    assert dict(store.stat("keep").metadata) == {"v": "old"}
    with pytest.raises(ObjectNotFound):
        store.stat("new")
    store.delete(["keep"])
    assert raw_names(store) == []


@pytest.mark.parametrize("actual", [3, 20])
def test_stream_of_another_size_than_declared_stores_nothing(store, actual):
    with pytest.raises(StorageError):
        store.put("s", io.BytesIO(b"x" * actual), size=10)
    assert list(store.list()) == []
    assert raw_names(store) == []


def test_missing_objects_are_not_found(store):
    with pytest.raises(ObjectNotFound):
        with store.get("no/such"):
            pass
    with pytest.raises(ObjectNotFound):
        store.stat("no/such")
    store.put("no/other", io.BytesIO(b""))
    with pytest.raises(ObjectNotFound):
        with store.get("no/such"):
            pass


@pytest.mark.parametrize("name", ["", "/abs", "a//b", "a/../b", "a/", ".segments/x",
                                  "d/.swiftwal-tmp.x"])
def test_invalid_names_are_refused(store, name):
    with pytest.raises(InvalidInput):
        store.put(name, io.BytesIO(b"x"))
    assert raw_names(store) == []


def test_describe_names_the_store_without_secrets(store, tmp_path):
    text = store.describe()
    assert text.startswith("swift://contract-" if isinstance(store, SwiftStorage) else "file://")
    assert "testing" not in text


# -- parts: what list never shows --------------------------------------------------------

_KILLED_PUT = """
import json, os, sys
spec = json.loads(os.environ["STORE_SPEC"])
if spec["kind"] == "local":
    from swiftwal.adapters.storage.local import LocalStorage
    store = LocalStorage(spec["root"], use_xattrs=spec["xattrs"])
else:
    from swiftwal.adapters.storage.swift import SwiftStorage
    from swiftwal.adapters.storage.swift_settings import SwiftSettings
    store = SwiftStorage(SwiftSettings(**spec["settings"]), buffer_size=spec["buffer"])
store.put(spec["name"], sys.stdin.buffer)
"""


def killed_put(store, name: str) -> list[Part]:
    """Start a put of ``name`` in another process, kill it once the store shows
    parts of it, and return those parts."""
    if isinstance(store, LocalStorage):
        spec = {"kind": "local", "root": store.root, "xattrs": store._use_xattrs}
    else:
        spec = {"kind": "swift", "settings": attrs.asdict(store.settings), "buffer": BUFFER}
    process = subprocess.Popen([sys.executable, "-c", _KILLED_PUT], stdin=subprocess.PIPE,
                               env={**os.environ, "STORE_SPEC": json.dumps({**spec, "name": name})})
    try:
        process.stdin.write(payload(SEGMENT + 100))  # one whole segment, then it waits
        process.stdin.flush()
        deadline = time.monotonic() + 60
        while not (parts := list(store.list_parts(name.rpartition("/")[0] + "/"))):
            assert process.poll() is None and time.monotonic() < deadline, "no part appeared"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdin.close()
    return parts


def belongs_to(part: Part, name: str) -> bool:
    """``part.under`` is ``name``'s, or its directory's (see ``Part``)."""
    return part.under.startswith(name) or (part.under.endswith("/") and name.startswith(part.under))


def test_a_killed_put_leaves_parts_that_are_listed_and_deleted_as_parts(store):
    store.put("dir/kept", io.BytesIO(b"kept"))
    parts = killed_put(store, "dir/obj")
    assert parts and all(belongs_to(part, "dir/obj") for part in parts)
    assert [o.name for o in store.list()] == ["dir/kept"]
    assert {p.name for p in parts} <= {p.name for p in store.list_parts("")}
    assert list(store.list_parts("elsewhere/")) == []
    store.delete_parts(parts)
    assert not [p for p in store.list_parts("dir/") if belongs_to(p, "dir/obj")]
    store.delete_parts(parts)  # already gone: not an error
    assert read_all(store, "dir/kept") == b"kept"
    store.tidy("dir/")  # still holds an object: nothing happens
    assert read_all(store, "dir/kept") == b"kept"
    store.delete(["dir/kept"])
    store.tidy("dir/")
    assert raw_names(store) == []
    if isinstance(store, LocalStorage):
        assert not os.path.exists(os.path.join(store.root, "dir")), "tidy left the directory"


def test_parts_of_complete_objects_are_listed_and_go_with_them(store):
    names = ["a/small", "a/big", "b/big"]
    for name in names[:1]:
        store.put(name, io.BytesIO(b"x"))
    for name in names[1:]:
        store.put(name, io.BytesIO(payload(BIG)))
    parts = list(store.list_parts(""))
    assert all(any(belongs_to(part, name) for name in names) for part in parts), parts
    assert {p.name for p in store.list_parts("a/")} == {
        p.name for p in parts if p.under.startswith("a/")}
    if isinstance(store, SwiftStorage):
        assert {p.kind for p in parts} == {"segment"} and len(parts) == 6
    store.delete(names)
    assert list(store.list_parts("")) == []


def test_only_parts_are_deleted_as_parts(store):
    store.put("dir/x", io.BytesIO(b"x"))
    for name in ("dir/x", os.path.join(getattr(store, "root", "/"), "dir", "x")):
        with pytest.raises(InvalidInput):
            store.delete_parts([Part("dir/", name, "temp")])
    assert read_all(store, "dir/x") == b"x"


# -- the adapters agree -------------------------------------------------------------------

AGREEMENT_NAMES = ["wal/1", "wal/2", "wal-x", "base/k/data", "base/k/meta", "b"]
AGREEMENT_PREFIXES = ["", "wal", "wal/", "base/k/", "b", "zzz"]


def test_adapters_agree_on_any_sequence_of_operations(swift, tmp_path_factory):
    from hypothesis import HealthCheck, settings
    from hypothesis import strategies as st
    from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

    contents = st.one_of(st.binary(max_size=40),
                         st.sampled_from([BUFFER + 1, SEGMENT + 1]).map(payload))
    metadata = st.dictionaries(st.sampled_from(["a", "b-c"]),
                               st.text("xyz09", min_size=1, max_size=5), max_size=2)

    def outcome(call):
        try:
            result = call()
        except (AlreadyExists, ObjectNotFound) as exc:
            return type(exc).__name__
        return result

    class Agreement(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.stores = [LocalStorage(str(tmp_path_factory.mktemp("agree"))), make_swift(swift)]
            self.model: dict[str, bytes] = {}

        def teardown(self) -> None:
            self.stores[1].close()

        def both(self, call):
            results = [outcome(lambda s=s: call(s)) for s in self.stores]
            assert results[0] == results[1], results
            return results[0]

        @rule(name=st.sampled_from(AGREEMENT_NAMES), data=contents, meta=metadata,
              create_only=st.booleans())
        def put(self, name, data, meta, create_only):
            result = self.both(lambda s: (lambda i: (i.size, i.sha256, dict(i.metadata)))(
                s.put(name, io.BytesIO(data), metadata=meta, create_only=create_only)))
            if create_only and name in self.model:
                assert result == "AlreadyExists"
            else:
                assert result == (len(data), hashlib.sha256(data).hexdigest(), meta)
                self.model[name] = data

        @rule(names=st.lists(st.sampled_from(AGREEMENT_NAMES + ["never"]), max_size=3))
        def delete(self, names):
            self.both(lambda s: s.delete(names))
            for name in names:
                self.model.pop(name, None)

        @rule(name=st.sampled_from(AGREEMENT_NAMES))
        def get(self, name):
            result = self.both(lambda s: read_all(s, name))
            assert result == self.model.get(name, "ObjectNotFound")

        @rule(name=st.sampled_from(AGREEMENT_NAMES))
        def stat(self, name):
            self.both(lambda s: (lambda i: (i.size, dict(i.metadata)))(s.stat(name)))

        @rule(prefix=st.sampled_from(AGREEMENT_PREFIXES))
        def listing(self, prefix):
            result = self.both(lambda s: [(o.name, o.size) for o in s.list(prefix)])
            assert result == sorted((n, len(d)) for n, d in self.model.items()
                                    if n.startswith(prefix))

        @invariant()
        def nothing_internal_is_listed(self):
            for store in self.stores:
                assert not any(o.name.startswith((".segments", ".swiftwal-")) for o in store.list())

    run_state_machine_as_test(Agreement, settings=settings(
        max_examples=20, stateful_step_count=12, deadline=None,
        suppress_health_check=list(HealthCheck)))


def test_capabilities_say_what_the_store_offers(store):
    capabilities = store.capabilities()
    if isinstance(store, LocalStorage):
        assert capabilities is None
    else:  # the test cluster offers both, as the default proxy pipeline does
        assert capabilities == {"large_objects": True, "bulk_delete": True}
