"""``archive_status.mark_done`` on real directories: renamed only for the
unchanged file, with older segments still ``.ready`` and no call waiting;
any failure is a False, never an exception; its stop points hold the
process exactly there."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from swiftwal.adapters.archive_status import mark_done
from swiftwal.adapters.spool import fingerprint

OLDEST, OLDER, NAME = ("000000010000000000000003", "000000010000000000000004",
                       "000000010000000000000005")


def pg_wal(tmp_path, *ready: str) -> str:
    wal = tmp_path / "pg_wal"
    (wal / "archive_status").mkdir(parents=True)
    for name in (OLDEST, OLDER, NAME):
        (wal / name).write_bytes(name.encode() * 100)
    for name in ready:
        (wal / "archive_status" / f"{name}.ready").touch()
    return str(wal)


def seen(wal: str, name: str = NAME) -> tuple[int, ...]:
    return fingerprint(os.stat(os.path.join(wal, name)))


def status(wal: str) -> list[str]:
    return sorted(os.listdir(os.path.join(wal, "archive_status")))


def nobody(_name: str) -> bool:
    return False


def test_marked_while_two_older_segments_are_ready(tmp_path):
    wal = pg_wal(tmp_path, OLDEST, OLDER, NAME)
    assert mark_done(wal, NAME, seen(wal), nobody)
    assert status(wal) == [f"{OLDEST}.ready", f"{OLDER}.ready", f"{NAME}.done"]


def test_left_ready_when_among_the_oldest_requested_or_changed(tmp_path):
    wal = pg_wal(tmp_path, OLDER, NAME)
    before = seen(wal)
    assert not mark_done(wal, NAME, before, nobody), "one older call may be ending"
    open(os.path.join(wal, "archive_status", f"{OLDEST}.ready"), "w").close()
    assert not mark_done(wal, NAME, before, lambda name: name == NAME)
    with open(os.path.join(wal, NAME), "r+b") as handle:
        handle.write(b"other bytes")
    assert not mark_done(wal, NAME, before, nobody), "not the file that was read"
    assert status(wal) == [f"{OLDEST}.ready", f"{OLDER}.ready", f"{NAME}.ready"]
    assert mark_done(wal, NAME, seen(wal), nobody)


def test_failures_are_false_never_raised(tmp_path):
    wal = pg_wal(tmp_path, OLDEST, OLDER)
    assert not mark_done(wal, NAME, seen(wal), nobody), "no .ready: nothing to mark"
    assert status(wal) == [f"{OLDEST}.ready", f"{OLDER}.ready"]
    assert not mark_done(wal, "000000010000000000000009", (0,) * 5, nobody), "no segment"
    assert not mark_done(str(tmp_path / "nowhere"), NAME, (0,) * 5, nobody)


# As in the worker, marked from a thread other than the main one.
STOPPED_CHILD = """
import os, sys
from concurrent.futures import ThreadPoolExecutor
from swiftwal.adapters.archive_status import mark_done
from swiftwal.adapters.spool import fingerprint
wal, name = sys.argv[1], sys.argv[2]
seen = fingerprint(os.stat(os.path.join(wal, name)))
with ThreadPoolExecutor(1) as pool:
    print(pool.submit(mark_done, wal, name, seen, lambda n: False).result())
"""


@pytest.mark.parametrize("point, expected", [("before-rename", f"{NAME}.ready"),
                                             ("before-fsync", f"{NAME}.done")])
def test_a_stop_point_holds_the_process_there(tmp_path, point, expected):
    wal = pg_wal(tmp_path, OLDEST, OLDER, NAME)
    child = subprocess.Popen([sys.executable, "-c", STOPPED_CHILD, wal, NAME],
                             env={**os.environ, "SWIFTWAL_STOP_AT": point},
                             stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while _state(child.pid) != "T":
            assert child.poll() is None and time.monotonic() < deadline, "it never stopped"
            time.sleep(0.01)
        assert status(wal) == [f"{OLDEST}.ready", f"{OLDER}.ready", expected]
        child.send_signal(signal.SIGCONT)
        assert child.communicate(timeout=30)[0].strip() == "True"
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert status(wal) == [f"{OLDEST}.ready", f"{OLDER}.ready", f"{NAME}.done"]


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()[0]
