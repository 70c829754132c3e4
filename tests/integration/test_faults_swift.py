"""Faults between swiftwal and a real Swift, injected by a TCP proxy on
127.0.0.1: outage (connection refused), a hung server, 503 answers, a
connection reset, a connection cut in the middle of a body.  Each command
exits with its documented status in bounded time, and afterwards the
archive verifies in full and a PITR to its end loses nothing."""
from __future__ import annotations

import os
import re
import shutil
import time

import pytest

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_and_recover,
                                     restore_target, rows, take_backup)
from tests.support.swiftwal_cli import make_store, postgres_dir
from tests.support.pg_cluster import PgError, make_reachable
from tests.support.tcp_proxy import TcpProxy

UNAVAILABLE = 4
ABORT_RECOVERY = 126
#: Seconds each network call may take (TIMEOUT): keeps the stall cases short.
TIMEOUT = 3
FAULTS = [("down", {}), ("stall", {}), ("http503", {}), ("reset", {}),
          ("cut", {"cut_after": 700, "cut_direction": "down"})]


@pytest.fixture
def proxy(swift):
    proxy = TcpProxy(swift.proxy_port)
    yield proxy
    proxy.close()


def proxied_store(base, swiftwal_bin, swift, proxy):
    url = f"http://{proxy.url_host}/auth/v1.0"
    return make_store("swift", str(make_reachable(base)), swiftwal_bin, swift,
                      # gzip: a quiet segment must still be larger than the cut point
                      {"OS_AUTH_URL": url, "TIMEOUT": str(TIMEOUT), "COMPRESSION": "gzip"})


def timed(store, *args, cwd="/"):
    started = time.monotonic()
    result = store.run(*args, check=False, cwd=cwd, timeout=600)
    return result, time.monotonic() - started


def recovery_dir(pg_factory, name: str, signal: str) -> str:
    directory = postgres_dir(pg_factory.directory(name))
    signal_file = os.path.join(directory, f"{signal}.signal")
    open(signal_file, "w").close()
    shutil.chown(signal_file, "postgres", "postgres")
    return directory


def test_every_outage_exits_as_documented_and_loses_no_segment(swift, proxy, pg_factory, tmp_path,
                                                               swiftwal_bin, capsys):
    store = proxied_store(tmp_path / "store", swiftwal_bin, swift, proxy)
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    key = take_backup(store, primary)
    insert(primary, 1, 100)
    archived = flush_archive(primary)
    segment_copy = os.path.join(postgres_dir(pg_factory.directory("copy")), archived)
    recovering = recovery_dir(pg_factory, "recovering", "recovery")
    standby = recovery_dir(pg_factory, "standby", "standby")
    figures = []
    for number, (mode, options) in enumerate(FAULTS):
        # PostgreSQL keeps archiving meanwhile: its failures are retried later.
        insert(primary, 1000 * (number + 1), 1000 * (number + 1) + 99)
        primary.switch_wal()
        proxy.set_mode(mode, **options)
        for where, directory in (("recovery", recovering), ("standby", standby)):
            result, seconds = timed(store, "restore-wal", archived, "RESTORED", cwd=directory)
            figures.append((mode, f"restore-wal ({where})", result.returncode, round(seconds, 1)))
            assert not os.path.exists(os.path.join(directory, "RESTORED")), "a partial %p was left"
            assert [n for n in os.listdir(directory) if not n.endswith(".signal")] == []
            assert "Traceback" not in result.stderr and result.stderr.startswith("swiftwal: error:")
            expected = ABORT_RECOVERY if where == "recovery" else UNAVAILABLE
            assert result.returncode == expected, (mode, where, result.stderr)
            assert seconds < 60, f"{mode}: restore-wal took {seconds:.0f} s"
        if not os.path.exists(segment_copy):
            shutil.copy(primary.data_dir / "pg_wal" / archived, segment_copy)
            shutil.chown(segment_copy, "postgres", "postgres")
        # Into a container (and so a spool) of its own that lacks the segment:
        # where it is stored already, "already archived" (exit 0) is a right
        # answer, which Swift's 412 may give before the cut, or a record the
        # worker wrote after the last call withdrew its request.
        fresh = proxied_store(tmp_path / f"fresh-{mode}", swiftwal_bin, swift, proxy)
        proxy.set_mode(mode, **({"cut_after": 5000, "cut_direction": "up"} if mode == "cut" else {}))
        result, seconds = timed(fresh, "archive-wal", segment_copy)
        figures.append((mode, "archive-wal", result.returncode, round(seconds, 1)))
        assert result.returncode == UNAVAILABLE, (mode, result.stderr)
        assert seconds < 60
        if mode == "cut":
            proxy.set_mode("cut", cut_after=200, cut_direction="down")
        result, seconds = timed(store, "list-backups")
        figures.append((mode, "list-backups", result.returncode, round(seconds, 1)))
        assert result.returncode == UNAVAILABLE, (mode, result.stderr)
        proxy.set_mode("pass")
        assert fresh.run("list-wal").stdout.split() == []
        assert fresh.run("archive-wal", segment_copy).returncode == 0
        assert fresh.run("archive-wal", segment_copy).returncode == 0  # already archived: same content
        assert fresh.run("list-wal").stdout.split() == [archived]

    last_rows = rows(primary)
    flush_archive(primary)
    assert int(primary.sql("SELECT failed_count FROM pg_stat_archiver")) > 0, "no archiving failed"
    assert store.run("verify", "--all", "--full").returncode == 0
    primary.stop()
    recovered = restore_and_recover(store, key, pg_factory, "after-faults")
    assert rows(recovered) == last_rows
    with capsys.disabled():
        print("\nfault, command, exit status, seconds")
        for line in figures:
            print(", ".join(str(v) for v in line))


def test_a_pitr_during_which_swift_goes_down_aborts_instead_of_promoting_early(
        swift, proxy, pg_factory, tmp_path, swiftwal_bin):
    store = proxied_store(tmp_path / "store", swiftwal_bin, swift, proxy)
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    key = take_backup(store, primary)
    for step in range(4):
        insert(primary, step * 10 + 1, step * 10 + 10)
        primary.switch_wal()
    primary.sql("SELECT pg_create_restore_point('target')")
    insert(primary, 41, 50)
    flush_archive(primary)
    primary.stop()

    seen = []

    def trip(request_line: bytes):
        if request_line.startswith(b"GET") and re.search(rb"/wal/[0-9A-F]{24}\.", request_line):
            seen.append(request_line)
            if len(seen) == 2:  # one segment restored, then the outage
                return "down"
        return None

    directory = restore_target(pg_factory, "pitr")
    store.run("restore", key, str(directory))
    proxy.trip = trip
    cluster = pg_factory.adopt(directory, signal="recovery", settings={
        "restore_command": store.command("restore-wal", "%f", "%p"),
        "recovery_target_name": "target", "recovery_target_action": "promote"})
    try:
        cluster.start()
    except PgError:
        pass
    deadline = time.monotonic() + 120
    while cluster.running() and time.monotonic() < deadline:
        time.sleep(0.5)
    log = cluster.log_text()
    assert not cluster.running(), "recovery went on while the archive was unreachable"
    assert "archive recovery complete" not in log and "selected new timeline" not in log
    assert "FATAL" in log

    proxy.set_mode("pass")
    cluster.start()
    cluster.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    assert rows(cluster) == list(range(1, 41))
