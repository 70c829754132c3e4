"""Two clusters pointed at one container: the second is refused, by
archive-wal and by backup (before anything is uploaded), and the first's
archive is untouched."""
from __future__ import annotations

import os
import shutil
import time

from tests.support.cycle import archiving_primary, flush_archive, insert, pg_env, take_backup
from tests.support.faults import hidden_names
from tests.support.swiftwal_cli import postgres_dir

INVARIANT = 11


def test_a_second_cluster_is_refused_and_the_first_archive_is_untouched(store, pg_factory):
    first = archiving_primary(pg_factory, store)
    first.sql("CREATE TABLE t (i int)")
    take_backup(store, first)
    insert(first, 1, 10)
    flush_archive(first)
    wal_before = store.run("list-wal").stdout.split()
    backups_before = hidden_names(store, "backups/")

    second = archiving_primary(pg_factory, store)
    second.sql("CREATE TABLE u (i int)")
    name = second.switch_wal()
    copy = os.path.join(postgres_dir(pg_factory.directory("second-wal")), name)
    shutil.copy(second.data_dir / "pg_wal" / name, copy)
    shutil.chown(copy, "postgres", "postgres")
    identifier = second.sql("SELECT system_identifier FROM pg_control_system()")

    refused = store.run("archive-wal", copy, check=False)
    assert refused.returncode == INVARIANT, refused.stderr
    assert f"not {identifier}" in refused.stderr and "own container" in refused.stderr

    backup = store.run("backup", "-c", "fast", "-H", str(second.socket_dir), "-p", str(second.port),
                       "-U", "postgres", check=False, env=pg_env(second))
    assert backup.returncode == INVARIANT, backup.stderr
    assert f"not {identifier}" in backup.stderr
    assert hidden_names(store, "backups/") == backups_before, "the refused backup uploaded something"

    assert int(second.sql("SELECT archived_count FROM pg_stat_archiver")) == 0
    assert store.run("list-wal").stdout.split() == wal_before
    assert store.run("verify", "--all", "--full").returncode == 0


def segments_of(cluster, count: int, directory: str) -> list[str]:
    """Copies of ``count`` finished segments of ``cluster``, readable by postgres."""
    copies = []
    for i in range(count):
        cluster.sql(f"CREATE TABLE t{i} (i int)")
        name = cluster.switch_wal()
        copy = os.path.join(directory, name)
        shutil.copy(cluster.data_dir / "pg_wal" / name, copy)
        shutil.chown(copy, "postgres", "postgres")
        copies.append(copy)
    return copies


def test_archive_wal_reads_the_identity_once_and_still_refuses_another_cluster(
        swift, pg_factory, tmp_path, swiftwal_bin):
    """The plain archive path (no worker) remembers the identifier the store
    confirmed, per store, under CACHE_DIR: later calls send no request for
    swiftwal.json; another cluster's segment still asks the store, and is
    refused; a memory older than an hour is asked again."""
    from tests.support.pg_cluster import make_reachable
    from tests.support.swiftwal_cli import make_store
    from tests.support.tcp_proxy import TcpProxy

    proxy = TcpProxy(swift.proxy_port)
    try:
        cache = postgres_dir(tmp_path / "cache")
        store = make_store("swift", str(make_reachable(tmp_path / "store")), swiftwal_bin, swift,
                           {"OS_AUTH_URL": f"http://{proxy.url_host}/auth/v1.0",
                            "ARCHIVE_LOOKAHEAD": "0", "CACHE_DIR": cache})
        first, other = pg_factory("first"), pg_factory("other")
        mine = segments_of(first, 4, postgres_dir(tmp_path / "mine"))
        theirs = segments_of(other, 1, postgres_dir(tmp_path / "theirs"))

        def identity_requests(path: str, code: int = 0) -> list[bytes]:
            seen = len(proxy.requests)
            result = store.run("archive-wal", path, check=False)
            assert result.returncode == code, result.stderr
            return [r.split()[0] for r in proxy.requests[seen:]
                    if r.split()[1].split(b"?")[0].endswith(b"/swiftwal.json")]

        created = identity_requests(mine[0])  # the first PUT finds no container yet
        assert created[0] == b"GET" and set(created[1:]) == {b"PUT"}, created
        assert identity_requests(mine[1]) == []
        assert identity_requests(mine[2]) == []

        refused = identity_requests(theirs[0], INVARIANT)
        assert refused == [b"GET"], refused

        remembered = [os.path.join(d, f) for d, _, files in os.walk(cache) for f in files
                      if f == "system-identifier"]
        assert len(remembered) == 1
        os.utime(remembered[0], (0, time.time() - 3700))
        assert identity_requests(mine[3]) == [b"GET"]
        listed = store.run("list-wal").stdout
        assert all(os.path.basename(p) in listed for p in mine), listed
    finally:
        proxy.close()


def test_archive_wal_compresses_faster_while_segments_wait_and_records_the_level(
        pg_factory, tmp_path, swiftwal_bin):
    """The level follows the .ready marks beside the file (COMPRESSION_LEVEL
    when none wait), and each object records the level it was stored with."""
    from tests.support.faults import adapter
    from tests.support.pg_cluster import make_reachable
    from tests.support.swiftwal_cli import make_store

    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin, None,
                       {"ARCHIVE_LOOKAHEAD": "0", "COMPRESSION_LEVEL": "3"})
    wal_dir = postgres_dir(tmp_path / "pg_wal")
    status = postgres_dir(tmp_path / "pg_wal" / "archive_status")
    quiet, busy = segments_of(pg_factory("levels"), 2, wal_dir)
    store.run("archive-wal", quiet)
    for i in range(100):
        open(os.path.join(status, f"0000000100000000000000{i:02X}.ready"), "w").close()
    store.run("archive-wal", busy)
    storage = adapter(store)
    levels = [storage.stat(f"wal/{os.path.basename(p)}.zst").metadata["compression-level"]
              for p in (quiet, busy)]
    assert levels == ["3", "-5"]
