"""archive-wal and its worker killed (SIGKILL) at random moments while a
loaded server archives with look-ahead: PostgreSQL retries, nothing recorded
as stored is missing, and a point-in-time recovery to the end replays every
transaction."""
from __future__ import annotations

import glob
import os
import random
import signal
import threading

from tests.support.cycle import archiving_primary, restore_and_recover, take_backup
from tests.support.swiftwal_cli import make_store, postgres_dir
from tests.integration.test_lookahead import spool_records
from tests.support.pg_cluster import make_reachable
from tests.support.workers import worker_pid

# Kills the call after 0-199 ms (a call that starts the worker takes about
# 150 ms or more), one call in three is left alone.
KILLER = """#!/bin/sh
n=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')
if [ $((n % 3)) -eq 0 ]; then exec {command} "$1"; fi
timeout -s KILL "0.$(printf %03d $((n % 200)))" {command} "$1"
status=$?
if [ $status -eq 137 ]; then echo "$1" >> {kills}; fi
exit $status
"""

def test_random_kills_lose_no_segment(tmp_path, swift, pg_factory, swiftwal_bin):
    cache = postgres_dir(tmp_path / "cache")
    store = make_store("swift", str(make_reachable(tmp_path / "store")),
                       str(swiftwal_bin), swift,
                       extra={"CACHE_DIR": cache, "ARCHIVE_LOOKAHEAD": "6", "PARALLEL": "3"})
    primary = archiving_primary(pg_factory, store)
    primary.pgbench_init(scale=1)
    key = take_backup(store, primary)

    bin_dir = postgres_dir(tmp_path / "bin")
    killer, kills = os.path.join(bin_dir, "archive-killed"), os.path.join(bin_dir, "kills")
    with open(killer, "w") as handle:
        handle.write(KILLER.format(command=store.command("archive-wal"), kills=kills))
    os.chmod(killer, 0o755)
    primary.configure({"archive_command": f"{killer} %p"})
    primary.reload()
    stop, workers_killed = threading.Event(), []
    hunter = threading.Thread(target=_kill_workers, args=(cache, stop, workers_killed))
    hunter.start()
    try:
        for _ in range(10):  # until some calls and workers were killed; random, so bounded
            primary.pgbench(seconds=3)
            primary.switch_wal()
            done = open(kills).read().split() if os.path.exists(kills) else []
            if workers_killed and len(done) >= 2:
                break
    finally:
        stop.set()
        hunter.join()
    killed = open(kills).read().split() if os.path.exists(kills) else []

    # Every record left in the spool names an object the store holds.  Archiving
    # goes on meanwhile: the records are read first, so each one's object (stored
    # before its record is written) is in the listing that follows.
    records = spool_records(cache)
    listed = set(store.run("list-wal").stdout.split())
    for name, fields in records.items():
        assert fields[1] in listed, name

    primary.configure({"archive_command": store.command("archive-wal", "%p")})
    primary.reload()
    primary.pgbench(seconds=2)
    primary.wait_archived(primary.switch_wal(), timeout=600)
    expected = primary.sql("SELECT count(*), sum(delta) FROM pgbench_history")
    primary.stop()

    recovered = restore_and_recover(store, key, pg_factory, "after-kills")
    assert recovered.sql("SELECT count(*), sum(delta) FROM pgbench_history") == expected
    assert killed, "no call was killed: the test proved nothing"
    assert workers_killed, "no worker was killed: the test proved nothing"


def _kill_workers(cache: str, stop: threading.Event, killed: list) -> None:
    """SIGKILL this test's archive worker (its PID is in its lock file) every
    0.2-0.8 s while it runs: at random points of its work."""
    while not stop.wait(random.uniform(0.2, 0.8)):
        for lock in glob.glob(os.path.join(cache, "archive", "*", "worker.lock")):
            pid = worker_pid(lock)
            if pid is None:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except OSError:
                continue
