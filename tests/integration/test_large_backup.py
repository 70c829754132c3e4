"""A backup larger than Swift's largest object goes up as a Static Large
Object, its segments in parallel, and restores byte-identically (its SHA-256
is checked during restore).  An upload cut short commits no manifest, and
what it leaves behind either is deleted or expires by itself."""
from __future__ import annotations

import json
import tempfile
import threading
import time

import pytest

from tests.support.cycle import archiving_primary, flush_archive, pg_env, restore_and_recover, take_backup
from tests.integration.conftest import PgFactory
from tests.support.faults import kill_when, spawn
from tests.support.swiftwal_cli import make_store
from tests.support.pg_cluster import make_reachable
from tests.support.tcp_proxy import TcpProxy

SEGMENT = 1024 * 1024
EXPIRY = 86400  # SEGMENT_EXPIRY, set below


def connection(swift):
    from swiftclient.client import Connection

    return Connection(authurl=swift.auth_url, user=swift.user, key=swift.key)


def swift_names(swift, container: str, prefix: str) -> list[str]:
    from swiftclient.exceptions import ClientException

    try:
        _headers, listing = connection(swift).get_container(container, prefix=prefix,
                                                            full_listing=True)
    except ClientException as exc:
        if exc.http_status != 404:  # no container yet
            raise
        return []
    return [entry["name"] for entry in listing]


def expiries(swift, container: str, names: list[str]) -> dict[str, float | None]:
    """Seconds left before each object deletes itself (None: never)."""
    conn = connection(swift)
    found = {}
    for name in names:
        at = conn.head_object(container, name).get("x-delete-at")
        found[name] = int(at) - time.time() if at else None
    return found


@pytest.fixture(scope="module")
def proxy(swift):
    proxy = TcpProxy(swift.proxy_port)
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def module_pg():
    factory = PgFactory(make_reachable(tempfile.mkdtemp(prefix="swiftwal-pg-")))
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="module")
def setup(swift, proxy, module_pg, tmp_path_factory, swiftwal_bin):
    """A primary holding ~5 MiB of incompressible rows, archiving through the proxy."""
    store = make_store("swift", str(make_reachable(tmp_path_factory.mktemp("store"))), swiftwal_bin,
                       swift, extra={"LARGE_OBJECT_SIZE": str(SEGMENT),
                                     "SEGMENT_EXPIRY": str(EXPIRY),
                                     "OS_AUTH_URL": f"http://{proxy.url_host}/auth/v1.0"})
    primary = archiving_primary(module_pg, store)
    primary.sql("CREATE TABLE blob AS SELECT i, decode(string_agg(md5(random()::text), ''), 'hex') AS b "
                "FROM generate_series(1, 1600) i, generate_series(1, 200) j GROUP BY i")
    return store, primary


def backup_process(store, primary):
    return spawn(store, "backup", "--xlog", "-c", "fast", "-H", str(primary.socket_dir), "-p", str(primary.port),
                 "-U", "postgres", env=pg_env(primary))


def test_backup_above_the_large_object_size_is_segmented_and_restores(swift, setup, pg_factory):
    store, primary = setup
    expected = primary.sql("SELECT md5(string_agg(b, '' ORDER BY i)) FROM blob")
    key = take_backup(store, primary, "--xlog")
    flush_archive(primary)

    record = json.loads(store.run("list-backups", "--json").stdout)["backups"][0]
    assert record["stored_size"] > 4 * SEGMENT
    segments = swift_names(swift, store.location, f".segments/{record['data_object']}/")
    assert len(segments) >= record["stored_size"] // SEGMENT
    assert all(left is None for left in expiries(swift, store.location, segments).values())

    restored = restore_and_recover(store, key, pg_factory, "restored")
    assert restored.sql("SELECT md5(string_agg(b, '' ORDER BY i)) FROM blob") == expected
    restored.stop()

    store.run("prune", "--keep-backups", "1")  # nothing to prune: the only backup stays
    assert store.run("list-backups").stdout.split() == [key]


def test_a_killed_backup_commits_nothing_and_its_segments_expire(swift, setup, proxy):
    store, primary = setup
    before = store.run("list-backups").stdout.split() or [take_backup(store, primary, "--xlog")]
    old = set(swift_names(swift, store.location, ".segments/backups/"))

    def third_segment(line: bytes):
        """Stall everything from the third segment's PUT on, once an earlier
        segment is stored: segments go up in parallel, so the first two may
        still be in flight when the third starts, and the stall would catch
        them too.  Waiting here holds back only the third one's connection."""
        if not (line.startswith(b"PUT") and line.split()[1].endswith(b"/00000003")):
            return None
        deadline = time.monotonic() + 60  # past it, the assertion below says what went wrong
        while (not set(swift_names(swift, store.location, ".segments/backups/")) - old
               and time.monotonic() < deadline):
            time.sleep(0.01)
        return "stall"

    proxy.trip = third_segment
    try:
        status = kill_when(backup_process(store, primary), lambda: proxy.mode == "stall",
                           what="the third large-object segment")
    finally:
        proxy.trip = None
        proxy.set_mode("pass")
    assert status != 0
    assert store.run("list-backups").stdout.split() == before
    left = sorted(set(swift_names(swift, store.location, ".segments/backups/")) - old)
    assert left, "the killed backup left no segment"
    for name, seconds in expiries(swift, store.location, left).items():
        assert seconds is not None and EXPIRY - 60 < seconds <= EXPIRY, name
    store.run("prune", "--keep-backups", "1", "--interrupted-after", "0")
    assert not set(swift_names(swift, store.location, ".segments/backups/")) - old


def test_a_connection_cut_mid_segment_is_retried_from_the_buffer(swift, setup, proxy):
    """A segment is held in memory until stored, so a cut connection costs a
    retry of that segment, not the backup."""
    store, primary = setup
    before = store.run("list-backups").stdout.split()
    old = set(swift_names(swift, store.location, ".segments/backups/"))

    def cut_fourth(line: bytes):
        if line.startswith(b"PUT") and line.split()[1].endswith(b"/00000004"):
            proxy.trip = None
            proxy.set_mode("cut", cut_after=0, cut_direction="up")  # this request's body too
            threading.Timer(0.3, proxy.set_mode, ("pass",)).start()
        return None

    proxy.requests.clear()
    proxy.trip = cut_fourth
    try:
        backup = backup_process(store, primary)
        out, err = backup.communicate(timeout=300)
    finally:
        proxy.trip = None
    assert backup.returncode == 0, out + err
    assert len([r for r in proxy.requests if r.startswith(b"PUT") and b"/00000004" in r]) >= 2
    keys = store.run("list-backups").stdout.split()
    assert len(keys) == len(before) + 1
    new = sorted(set(swift_names(swift, store.location, ".segments/backups/")) - old)
    assert new and all(left is None for left in expiries(swift, store.location, new).values())
    assert store.run("verify", "--full", keys[-1]).returncode == 0
