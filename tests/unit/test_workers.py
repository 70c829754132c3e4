"""The loop both workers share, and how a call meets its worker, on a real
Unix socket in a real spool directory: requests are answered once, work
ahead that fails is never retried (a worker must not spin), a worker's
error reaches its call with its status and message, a dead or silent worker
leaves its call to do the work itself, and an idle worker sleeps."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from swiftwal.adapters import workers
from swiftwal.domain import errors

NAME = "000000010000000000000010"


class Recorder(workers.Worker):
    def __init__(self, ahead=(), fail=(), crash=(), gate=None, idle_seconds=0.3):
        super().__init__(parallel=2, idle_seconds=idle_seconds)
        self.calls: list[tuple[str, bool]] = []
        self.finished_with: list[tuple[str, bool, object, object]] = []
        self.heard_lines: list[tuple[str, str, str]] = []
        self._ahead, self._fail, self._crash = list(ahead), set(fail), set(crash)
        self._gate = gate
        self.planned = 0

    def ahead(self):
        self.planned += 1
        done = {name for name, *_ in self.finished_with}
        return [(name, "") for name in self._ahead if name not in done]

    def work(self, wal_name, payload, requested):
        self.calls.append((wal_name, requested))  # list.append: the test reads it afterwards
        if self._gate is not None:
            self._gate.wait(10)
        if wal_name in self._fail:
            raise errors.StorageUnavailable(f"cannot reach the store for {wal_name}",
                                            hint="is it up?")
        if wal_name in self._crash:
            raise RuntimeError("not one of ours")
        return f"{wal_name}:{payload}"

    def finished(self, wal_name, asked, result, error):
        self.finished_with.append((wal_name, asked, result, error))

    def heard(self, kind, wal_name, payload):
        self.heard_lines.append((kind, wal_name, payload))

    def reply(self, result):
        return f"done\t{result}"


def serving(directory, worker):
    listener = workers._listen(str(directory))
    thread = threading.Thread(target=worker.serve, args=(listener,), daemon=True)
    thread.start()
    return thread


def exits_in_time(thread, seconds=20):
    thread.join(seconds)
    assert not thread.is_alive(), "the worker did not exit once idle"


def test_a_request_is_answered_by_its_worker(tmp_path):
    worker = Recorder()
    thread = serving(tmp_path, worker)
    answer = workers.ask(str(tmp_path), NAME, "some payload", [], "unused", start=False)
    assert (answer.kind, answer.fields) == ("done", [f"{NAME}:some payload"])
    assert worker.heard_lines == [("want", NAME, "some payload")]
    exits_in_time(thread)
    assert worker.calls == [(NAME, True)]
    assert not (tmp_path / workers.SOCKET).exists() or not workers.listening(str(tmp_path))


def test_work_ahead_that_fails_is_tried_once_and_the_worker_exits(tmp_path):
    names = [f"0000000100000000000000{n:02X}" for n in range(0x11, 0x15)]
    worker = Recorder(ahead=names, fail=names[1:3])
    exits_in_time(serving(tmp_path, worker))
    assert sorted(worker.calls) == [(n, False) for n in names]
    failed = {name for name, _, _, error in worker.finished_with if error is not None}
    assert failed == set(names[1:3])


def test_a_final_error_reaches_its_call_with_status_and_message(tmp_path):
    worker = Recorder(fail={NAME})
    thread = serving(tmp_path, worker)
    answer = workers.ask(str(tmp_path), NAME, "", [], "unused", start=False)
    error = workers.decode_error(answer)
    assert isinstance(error, errors.SwiftwalError)
    assert error.exit_status == errors.StorageUnavailable.exit_status
    assert error.code == errors.StorageUnavailable.code
    assert (error.message, error.hint) == (f"cannot reach the store for {NAME}", "is it up?")
    exits_in_time(thread)


def test_an_error_not_of_ours_is_declined_and_the_call_does_it_itself(tmp_path):
    thread = serving(tmp_path, Recorder(crash={NAME}))
    assert workers.ask(str(tmp_path), NAME, "", [], "unused", start=False) is None
    exits_in_time(thread)


def test_a_call_for_what_is_in_hand_ahead_waits_for_it_and_it_is_done_once(tmp_path):
    gate = threading.Event()
    worker = Recorder(ahead=[NAME], gate=gate)
    thread = serving(tmp_path, worker)
    deadline = time.monotonic() + 10
    while not worker.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    answers = []
    asking = threading.Thread(target=lambda: answers.append(
        workers.ask(str(tmp_path), NAME, "asked", [], "unused", start=False)))
    asking.start()
    while not any(kind == "want" for kind, *_ in worker.heard_lines):
        assert time.monotonic() < deadline, "the request never reached the worker"
        time.sleep(0.01)
    gate.set()
    asking.join(10)
    assert answers and answers[0].kind == "done"
    exits_in_time(thread)
    assert worker.calls == [(NAME, False)], "done once, ahead"
    assert worker.finished_with[0][:2] == (NAME, True), "finished as asked for"


def test_a_call_whose_worker_dies_does_the_work_itself_at_once(tmp_path):
    listener = workers._listen(str(tmp_path))

    def die_on_the_first_request():
        connection, _ = listener.accept()
        connection.recv(100)
        connection.close()  # what the kernel does for a killed worker

    threading.Thread(target=die_on_the_first_request, daemon=True).start()
    started = time.monotonic()
    assert workers.ask(str(tmp_path), NAME, "", [], "unused", start=False) is None
    assert time.monotonic() - started < workers.SILENT_SECONDS / 2
    listener.close()


def test_a_silent_worker_is_given_up_on(tmp_path, monkeypatch):
    monkeypatch.setattr(workers, "SILENT_SECONDS", 0.3)
    listener = workers._listen(str(tmp_path))
    held = []
    threading.Thread(target=lambda: held.append(listener.accept()), daemon=True).start()
    assert workers.ask(str(tmp_path), NAME, "", [], "unused", start=False) is None
    listener.close()


def test_no_worker_no_answer(tmp_path):
    assert not workers.listening(str(tmp_path))
    assert workers.ask(str(tmp_path), NAME, "", [], "unused", start=False) is None


def test_a_deep_spool_directory_is_reached_all_the_same(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    assert len(str(deep / workers.SOCKET)) > 108
    thread = serving(deep, Recorder())
    assert workers.ask(str(deep), NAME, "x", [], "unused", start=False).kind == "done"
    exits_in_time(thread)


def test_notes_are_heard_and_not_answered(tmp_path):
    worker = Recorder()
    thread = serving(tmp_path, worker)
    workers.note(str(tmp_path), NAME)
    exits_in_time(thread)
    assert worker.heard_lines == [("note", NAME, "")]
    assert worker.calls == []


def test_an_idle_worker_sleeps_until_something_happens(tmp_path):
    """It wakes about once per CHECK_SECONDS to see whether it should stop:
    not a polling loop."""
    worker = Recorder(idle_seconds=30)
    thread = serving(tmp_path, worker)
    time.sleep(0.2)
    before = worker.planned
    time.sleep(2.0)
    woke = worker.planned - before
    assert woke <= 2.0 / workers.CHECK_SECONDS + 1, f"woke {woke} times in 2 s"
    assert workers.ask(str(tmp_path), NAME, "", [], "unused", start=False).kind == "done"
    worker.idle_seconds = 0
    workers.note(str(tmp_path), NAME)  # an event, so that it sees it may go
    exits_in_time(thread)


def test_one_worker_per_spool_the_second_answers_busy(tmp_path):
    lock = str(tmp_path / workers.LOCK)
    with workers._Lock(lock) as free:
        assert free
        with open(lock) as handle:
            assert handle.read().strip() == str(os.getpid())
        with workers._Lock(lock) as second:
            assert not second


def test_errors_on_the_wire_never_end_a_call_with_zero():
    answer = workers.Answer("error\t0\tstorage-unavailable\tgone\t")
    error = workers.decode_error(answer)
    assert error.exit_status != 0
    assert workers.decode_error(workers.Answer("error\tx\ty")) is None
    assert workers.encode_error(ValueError("boom"), 3) == "declined"


@pytest.mark.parametrize("payload", ["a\tb", "line\nbreak"])
def test_a_payload_cannot_break_the_line_protocol(tmp_path, payload):
    worker = Recorder()
    thread = serving(tmp_path, worker)
    answer = workers.ask(str(tmp_path), NAME, payload, [], "unused", start=False)
    assert answer.kind == "done"
    exits_in_time(thread)
    assert len(worker.heard_lines) == 1


def test_socketpair_first_connection_is_served(tmp_path):
    ours, theirs = socket.socketpair()
    worker = Recorder()
    listener = workers._listen(str(tmp_path))
    thread = threading.Thread(target=worker.serve, args=(listener, theirs), daemon=True)
    thread.start()
    answer = workers._exchange(ours, workers._line("want", NAME, "p"))
    assert answer.kind == "done"
    exits_in_time(thread)
