"""Segments the archive worker stored ahead are marked ``.done`` in
``archive_status`` (``ARCHIVE_MARK_DONE``, default on), and PostgreSQL 15,
16, 17 and 18 then skip their ``archive_command`` calls: a backlog of
``.ready`` segments drains with fewer calls than segments, every segment
in the store with its content, the server's log without an error about
archiving.  Turned off, every segment has its call.  A worker killed
between the upload and the rename, or between the rename and the fsync,
loses nothing: the segment is stored, or PostgreSQL asks for it again."""
from __future__ import annotations

import glob
import hashlib
import os
import re
import signal
import time

import pytest

from tests.integration.test_lookahead import spool_records, worker_logs
from tests.support.pg_cluster import ARCHIVE_SETTINGS
from tests.support.swiftwal_cli import make_store, postgres_dir
from tests.support.pg_cluster import make_reachable
from tests.support.workers import worker_pid

BACKLOG = 24
# Counts each call, then is the call; SWIFTWAL_STOP_AT while the stop file says so.
WRAPPER = """#!/bin/sh
echo "$2" >> {calls}
if [ -f {stop} ]; then SWIFTWAL_STOP_AT=$(cat {stop}); export SWIFTWAL_STOP_AT; fi
exec {command} "$1"
"""
# What the server says about archiving that must not be there, but for the
# warning of a call begun for a segment marked meanwhile, counted apart: its
# rename of the .ready file failed (16+), or the fsync before it (15 renames
# durably, opening the file first).
COMPLAINT = re.compile(r"ERROR|FATAL|PANIC|could not|archive command|failed")
RENAME_WARNING = re.compile(r'WARNING:  could not (rename|open) file '
                            r'"pg_wal/archive_status/[0-9A-F]{24}\.ready"')


class Backlog:
    """A server with ``BACKLOG`` segments marked ``.ready`` while it had no
    archive_command, then given one that counts its calls."""

    def __init__(self, pg_factory, bin_dir, tmp_path, swift, swiftwal_bin, **settings) -> None:
        self.cache = postgres_dir(tmp_path / "cache")
        self.store = make_store("swift", str(make_reachable(tmp_path / "store")),
                                str(swiftwal_bin), swift,
                                extra={"CACHE_DIR": self.cache, "ARCHIVE_LOOKAHEAD": "8",
                                       "PARALLEL": "4", **settings})
        self.primary = pg_factory(settings={**ARCHIVE_SETTINGS, "archive_command": "",
                                            "archive_timeout": 0}, bin_dir=bin_dir)
        self.status = self.primary.data_dir / "pg_wal" / "archive_status"
        self.primary.sql("CREATE TABLE t (i int)")
        for i in range(BACKLOG):
            self.primary.sql(f"INSERT INTO t VALUES ({i})")
            self.primary.switch_wal()
        deadline = time.monotonic() + 60
        while len(self.ready()) < BACKLOG:
            assert time.monotonic() < deadline, f"only {self.ready()} became .ready"
            time.sleep(0.05)
        self.names = self.ready()
        self.digests = {name: _sha256(self.primary.data_dir / "pg_wal" / name)
                        for name in self.names}
        bin_dir = postgres_dir(tmp_path / "bin")
        self.calls_file = os.path.join(bin_dir, "calls")
        self.stop_file = os.path.join(bin_dir, "stop")
        self.wrapper = os.path.join(bin_dir, "archive")
        with open(self.wrapper, "w") as handle:
            handle.write(WRAPPER.format(calls=self.calls_file, stop=self.stop_file,
                                        command=self.store.command("archive-wal")))
        os.chmod(self.wrapper, 0o755)
        self.log_offset = 0

    def ready(self) -> list[str]:
        return sorted(n[:-6] for n in os.listdir(self.status)
                      if n.endswith(".ready") and len(n) == 30)

    def start_archiving(self) -> None:
        self.log_offset = self.primary.log_file.stat().st_size
        self.primary.configure({"archive_command": f"{self.wrapper} %p %f"})
        self.primary.reload()

    def wait_drained(self, timeout: float = 600, meanwhile=lambda: None) -> None:
        deadline = time.monotonic() + timeout
        while not all((self.status / f"{n}.done").exists() for n in self.names):
            assert time.monotonic() < deadline, (f"not archived: {self.ready()}\n"
                                                 f"{self.server_log()}\n{worker_logs(self.cache)}")
            meanwhile()
            time.sleep(0.05)

    def stopped_workers(self) -> list[int]:
        """This store's archive workers that have stopped themselves."""
        found = []
        for lock in glob.glob(os.path.join(self.cache, "archive", "*", "worker.lock")):
            pid = worker_pid(lock)
            if pid is not None and _state(pid) == "T":
                found.append(pid)
        return found

    def kill_stopped_workers(self) -> int:
        pids = self.stopped_workers()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        return len(pids)

    def calls(self) -> list[str]:
        if not os.path.exists(self.calls_file):
            return []
        with open(self.calls_file) as handle:
            return handle.read().split()

    def server_log(self) -> str:
        with open(self.primary.log_file, errors="replace") as handle:
            handle.seek(self.log_offset)
            return handle.read()

    def complaints(self) -> tuple[list[str], int]:
        """Lines about archiving that must not be there, and how many rename warnings."""
        lines = self.server_log().splitlines()
        renames = [line for line in lines if RENAME_WARNING.search(line)]
        bad = [line for line in lines if COMPLAINT.search(line) and line not in renames]
        return bad, len(renames)

    def check_stored(self) -> None:
        """Every segment of the backlog in the store, with the content it had in pg_wal."""
        listed = set(self.store.run("list-wal").stdout.split())
        assert set(self.names) <= listed, sorted(set(self.names) - listed)
        out_dir = postgres_dir(os.path.join(os.path.dirname(self.calls_file), "restored"))
        for name in self.names:
            target = os.path.join(out_dir, name)
            self.store.run("restore-wal", name, target, cwd=out_dir)
            assert _sha256(target) == self.digests[name], name


@pytest.mark.parametrize("major", [15, 16, 17, 18])
def test_segments_stored_ahead_are_marked_done_and_their_calls_skipped(
        major, pg_bin, pg_factory, tmp_path, swift, swiftwal_bin, record_property):
    backlog = Backlog(pg_factory, pg_bin[major], tmp_path, swift, swiftwal_bin)
    assert backlog.primary.sql("SHOW server_version_num").startswith(str(major))
    started = time.monotonic()
    backlog.start_archiving()
    backlog.wait_drained()
    drained_s = time.monotonic() - started
    calls = backlog.calls()
    bad, renames = backlog.complaints()
    record_property("segments", BACKLOG)
    record_property("calls", len(calls))
    record_property("rename_warnings", renames)
    record_property("drained_s", round(drained_s, 2))
    assert len(calls) < BACKLOG, f"every segment had its call: {calls}"
    assert len(set(calls)) == len(calls), f"a segment was asked for twice: {calls}"
    assert set(calls) <= set(backlog.names)
    assert bad == [], "\n".join(bad)
    assert renames <= 1, backlog.server_log()
    # Nothing left waiting: records of marked segments were dropped, the others used.
    assert spool_records(backlog.cache) == {}
    backlog.check_stored()


@pytest.mark.parametrize("major", [15, 16, 17, 18])
def test_turned_off_every_segment_has_its_call(major, pg_bin, pg_factory, tmp_path, swift,
                                               swiftwal_bin, record_property):
    backlog = Backlog(pg_factory, pg_bin[major], tmp_path, swift, swiftwal_bin,
                      ARCHIVE_MARK_DONE="no")
    started = time.monotonic()
    backlog.start_archiving()
    backlog.wait_drained()
    record_property("calls", len(backlog.calls()))
    record_property("drained_s", round(time.monotonic() - started, 2))
    assert backlog.calls() == backlog.names, "one call per segment, oldest first"
    bad, renames = backlog.complaints()
    assert bad == [] and renames == 0, backlog.server_log()
    assert set(backlog.names) <= set(backlog.store.run("list-wal").stdout.split())
    assert "marked_done=True" not in worker_logs(backlog.cache)


@pytest.mark.parametrize("major", [15, 18])
@pytest.mark.parametrize("point", ["before-rename", "before-fsync"])
def test_a_worker_killed_around_the_rename_loses_nothing(point, major, pg_bin, pg_factory,
                                                         tmp_path, swift, swiftwal_bin,
                                                         record_property):
    backlog = Backlog(pg_factory, pg_bin[major], tmp_path, swift, swiftwal_bin)
    with open(backlog.stop_file, "w") as handle:
        handle.write(point)
    os.chmod(backlog.stop_file, 0o644)
    backlog.start_archiving()
    try:
        held, renamed, killed = _kill_at_the_stop_and_drain(backlog, point)
    finally:
        backlog.kill_stopped_workers()  # none is left stopped, whatever failed
    record_property("workers_killed", killed)
    # Each is stored: asked for by PostgreSQL, or stored again by the next worker.
    record_property("asked_again", sorted((held | renamed) & set(backlog.calls())))
    bad, renames = backlog.complaints()
    assert bad == [], "\n".join(bad)
    assert renames <= 1, backlog.server_log()
    backlog.check_stored()


def _kill_at_the_stop_and_drain(backlog: Backlog, point: str):
    """SIGKILL the worker stopped at ``point``, and every later one that
    stops (a call begun before the stop file went starts the next worker with
    the stop point too), until the backlog is archived; the segments held
    before the rename, those renamed, and how many workers were killed."""
    pid = _stopped_worker(backlog)
    # Where it stopped: a stored segment with its record, still .ready, or
    # already .done (renamed, the rename not yet flushed).
    records = set(spool_records(backlog.cache))
    held = {n for n in records if (backlog.status / f"{n}.ready").exists()}
    renamed = {n for n in records if (backlog.status / f"{n}.done").exists()}
    where = (f"records {sorted(records)}, .ready {backlog.ready()}\n{backlog.server_log()}\n"
             f"{worker_logs(backlog.cache)}")
    os.unlink(backlog.stop_file)
    os.kill(pid, signal.SIGKILL)
    if point == "before-fsync":
        assert renamed, f"stopped before the fsync, with no segment renamed: {where}"
        # A crash would lose a rename never flushed: PostgreSQL then asks for it again.
        for name in renamed:
            os.rename(backlog.status / f"{name}.done", backlog.status / f"{name}.ready")
        backlog.primary.sql("INSERT INTO t VALUES (-1)")
        backlog.primary.switch_wal()  # wakes the archiver, which then scans again
    else:
        assert held, f"stopped before the rename, with no stored segment .ready: {where}"
    killed = [1]
    backlog.wait_drained(meanwhile=lambda: killed.append(backlog.kill_stopped_workers()))
    return held, renamed, sum(killed)


def _stopped_worker(backlog: Backlog, timeout: float = 120) -> int:
    """The PID of this backlog's archive worker once it has stopped itself."""
    deadline = time.monotonic() + timeout
    while not (stopped := backlog.stopped_workers()):
        assert time.monotonic() < deadline, (f"no worker stopped itself\n"
                                             f"{worker_logs(backlog.cache)}")
        time.sleep(0.01)
    return stopped[0]


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def _sha256(path) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()
