"""The loop both workers share, and how a call meets its worker, on a real
spool directory: work ahead that fails is never retried (a worker must not
spin), an idle worker exits, requests are answered or failed, and a worker's
error reaches its call with its status and message."""
from __future__ import annotations

import fcntl
import os
import threading
import time

import pytest

from swiftwal.adapters.spool import WorkerSpool
from swiftwal.commands import workers
from swiftwal.domain import errors

NAME = "000000010000000000000010"


class Recorder(workers.PoolWorker):
    def __init__(self, spool, ahead=(), fail=()):
        super().__init__(spool, parallel=2, idle_seconds=0.2)
        self.calls: list[tuple[str, bool]] = []
        self._ahead, self._fail = list(ahead), set(fail)

    def ahead(self, running):  # what is done is not asked again; what failed is
        done = {name for name, _ in self.calls} - self._fail
        return [(name, "") for name in self._ahead if name not in done]

    def work(self, wal_name, payload, requested):
        self.calls.append((wal_name, requested))
        if wal_name in self._fail:
            raise errors.StorageUnavailable(f"cannot reach the store for {wal_name}",
                                            hint="is it up?")


def drain_in_time(worker, seconds=20):
    thread = threading.Thread(target=worker.drain, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the worker did not exit once idle"


def test_work_ahead_that_fails_is_tried_once_and_the_worker_exits(tmp_path):
    names = [f"0000000100000000000000{n:02X}" for n in range(0x11, 0x15)]
    worker = Recorder(WorkerSpool(str(tmp_path)), ahead=names, fail=names[1:3])
    drain_in_time(worker)
    assert sorted(worker.calls) == [(n, False) for n in names]
    assert worker.skipped == set(names[1:3])


def test_a_failed_request_reaches_its_call_with_status_and_message(tmp_path):
    spool = WorkerSpool(str(tmp_path))
    worker = Recorder(spool, fail={NAME})
    spool.request(NAME, "payload")
    drain_in_time(worker)
    assert worker.calls == [(NAME, True)]
    assert spool.requests() == {}
    answer = spool.take_failure(NAME)
    error = workers._decode(answer)
    assert error.exit_status == 4 and error.code == "storage-unavailable"
    assert error.message == f"cannot reach the store for {NAME}" and error.hint == "is it up?"
    assert spool.take_failure(NAME) is None, "a marker answers one call"


def test_a_call_whose_worker_is_gone_does_the_work_itself(tmp_path, monkeypatch):
    spool = WorkerSpool(str(tmp_path))
    monkeypatch.setattr(workers, "start_worker", lambda options, command: None)
    started = time.monotonic()
    assert workers.hand_off(spool, NAME, "", [], "archive-worker", lambda: None) is None
    assert time.monotonic() - started < 5
    assert spool.requests() == {}, "its request is withdrawn"


def test_an_answer_left_for_a_killed_call_is_not_taken(tmp_path, monkeypatch):
    spool = WorkerSpool(str(tmp_path))
    spool.fail(NAME, workers._encode(errors.StorageUnavailable("down an hour ago"), 126))
    monkeypatch.setattr(workers, "start_worker", lambda options, command: None)
    calls = iter([None, None, "fetched"])
    assert workers.hand_off(spool, NAME, "", [], "restore-worker", lambda: next(calls)) == "fetched"


def test_a_final_answer_is_raised_in_the_call(tmp_path, monkeypatch):
    spool = WorkerSpool(str(tmp_path))

    def worker_answers(options, command):
        spool.fail(NAME, workers._encode(errors.WalConflict("a different file"), 6))
        return None

    monkeypatch.setattr(workers, "start_worker", worker_answers)
    with pytest.raises(errors.SwiftwalError) as raised:
        workers.hand_off(spool, NAME, "", [], "archive-worker", lambda: None)
    assert raised.value.exit_status == 6 and raised.value.message == "a different file"


def test_a_starting_worker_is_not_turned_away_by_a_call_looking_for_it(tmp_path):
    """A call sees whether a worker serves by trying its lock for an instant;
    a worker starting in that instant takes the lock all the same (it used
    to exit, leaving its call to store the segment alone, without look-ahead)."""
    spool = WorkerSpool(str(tmp_path))
    with open(tmp_path / "worker.lock", "a") as looking:
        fcntl.flock(looking, fcntl.LOCK_SH)
        threading.Timer(0.05, fcntl.flock, (looking, fcntl.LOCK_UN)).start()
        with spool.worker_lock() as free:
            assert free
            assert (tmp_path / "worker.lock").read_text() == f"{os.getpid()}\n"
            # ...and a worker holding it is seen serving, turns a second one away.
            assert spool.worker_serving(60)
            with spool.worker_lock() as second:
                assert not second
    assert not spool.worker_serving(60)


def test_looking_for_a_worker_leaves_its_lock_file_as_it_was(tmp_path):
    spool = WorkerSpool(str(tmp_path))
    (tmp_path / "worker.lock").write_text("4242\n")
    assert not spool.worker_serving(60)
    assert (tmp_path / "worker.lock").read_text() == "4242\n"
