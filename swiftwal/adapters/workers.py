"""Worker processes behind archive_command and restore_command, and how
calls talk to them.

PostgreSQL runs those commands once per WAL file and waits for each, so a
process per file that starts a Swift client, authenticates and moves 16 MiB
is slower than a busy server writes WAL, or than recovery replays it.  The
per-call process stays small (the standard library and a few modules of
ours, no storage client) and asks a worker: one process per spool directory
that keeps the store connection and works ahead, ``PARALLEL`` at a time
(``swiftwal.commands.archive_async``, ``swiftwal.commands.restore_async``;
what to do ahead is planned by ``swiftwal.domain.lookahead``).

The protocol, all of it in the spool directory (mode 0700):

- ``worker.lock``: ``flock``-ed exclusively by the one worker for its whole
  life, with its PID written in it.  The kernel lets go when it dies.
- ``worker.sock``: the worker's Unix-domain socket, bound and removed only
  by the lock's holder.  A call connects and sends one line,
  ``want\\tNAME\\tPAYLOAD`` (do it, and answer) or ``note\\tNAME\\t`` (what
  recovery has just been served, or a record just used: nothing to answer).
- The answer to ``want`` is one line: ``done\\t...`` (the work is done; the
  fields are the worker's), ``missing`` (restore: the store, asked after
  the request came, does not have it), ``error\\tSTATUS\\tCODE\\tMESSAGE\\tHINT``
  (one of our errors, final: the call reports it as its own, without
  asking the store a second time), or ``declined`` (the call does the work
  itself).  While the call waits the worker sends ``.`` lines every
  ``PING_SECONDS``.
- A call that finds nobody listening starts a worker and hands it one end
  of a socket pair as its first connection, so it needs no socket path to
  wait for; a worker that finds the lock taken answers ``busy`` on it and
  the call connects to the serving worker instead.

Failure rules.  A dead worker is noticed at once: the connection breaks
and the call does the work itself, the plain way, reporting what goes wrong
exactly as it always did.  So does a call whose worker stays silent for
``SILENT_SECONDS`` (wedged), or that cannot connect, or is declined.  The
worker is never needed for correctness.  It waits in ``select`` and uses no
CPU while nothing happens; it exits after ``IDLE_SECONDS`` without a call or
work in hand (the archive worker after ``ARCHIVE_IDLE_SECONDS``: a quiet
server switches segments minutes apart, and a worker already there answers
the next call without a start), or at once, when idle, if ``keep_going``
says what it serves has gone; the next call starts another.

The worker gets its caller's command-line options on stdin (never as
arguments: they may hold a password) and inherits its environment; it logs
to ``worker.log`` in its spool, never to the caller's stderr (holding it
would keep whoever reads it, a pipe or the server's log collector, waiting).

This module is on the fast path of every call: it imports little.
"""
from __future__ import annotations

import os
import socket
import sys
import time

IDLE_SECONDS = 5.0
ARCHIVE_IDLE_SECONDS = 60.0
PING_SECONDS = 1.0
# A worker that has sent nothing for this long is wedged: its call stops
# waiting and does the work itself.
SILENT_SECONDS = 10.0
# Without events, how often an idle worker asks ``keep_going``.
CHECK_SECONDS = 1.0
SOCKET = "worker.sock"
LOCK = "worker.lock"
FD_VARIABLE = "SWIFTWAL_WORKER_FD"
# glibc gives a freed 16 MiB segment buffer back to the kernel (an mmap, or
# a thread arena trimmed with madvise), so every segment's buffers were
# faulted in again: a third of the prefetch worker's CPU.  Its buffers now
# stay in the process and are reused; it holds what its busiest moment needed
# (a few segments per thread) until it exits, idle.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # glibc's largest
                 "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


# -- the call's side -------------------------------------------------------------------


class Answer:
    """What a worker answered: ``kind`` and its tab-separated ``fields``."""

    def __init__(self, line: str) -> None:
        self.kind, *self.fields = line.split("\t")


def ask(directory: str, wal_name: str, payload: str, options: list[str], command: str,
        start: bool = True, cwd: str | None = None) -> Answer | None:
    """Ask the worker of spool ``directory`` (running ``command``) for
    ``wal_name``; start one (in ``cwd``) if none listens and ``start``.
    None when the call must do the work itself (no worker, it died, fell
    silent or declined)."""
    request = _line("want", wal_name, payload)
    connection = _connect(directory)
    if connection is None:
        if not start:
            return None
        connection = start_worker(options, command, cwd)
        if connection is None:
            return None
        answer = _exchange(connection, request)
        if answer is None or answer.kind != "busy":
            return _final(answer)
        connection = _connect(directory)  # another worker serves: ask it
        if connection is None:
            return None
    return _final(_exchange(connection, request))


def note(directory: str, wal_name: str) -> bool:
    """Tell the worker, if one listens, about ``wal_name``; never waits.
    Whether one listened."""
    connection = _connect(directory)
    if connection is None:
        return False
    try:
        connection.sendall(_line("note", wal_name, ""))
    except OSError:
        pass
    connection.close()
    return True


def listening(directory: str) -> bool:
    """Whether a worker serves spool ``directory``."""
    connection = _connect(directory)
    if connection is None:
        return False
    connection.close()
    return True


def kick(options: list[str], command: str, wal_name: str) -> None:
    """Start a worker and tell it about ``wal_name``; never waits for it."""
    connection = start_worker(options, command)
    if connection is not None:
        try:
            connection.sendall(_line("note", wal_name, ""))
        except OSError:
            pass
        connection.close()


def _final(answer: Answer | None) -> Answer | None:
    return None if answer is None or answer.kind in ("declined", "busy") else answer


def _line(kind: str, wal_name: str, payload: str) -> bytes:
    clean = payload.replace("\t", " ").replace("\n", " ")
    return f"{kind}\t{wal_name}\t{clean}\n".encode("utf-8", "surrogateescape")


def _exchange(connection: socket.socket, request: bytes) -> Answer | None:
    """Send ``request`` and read lines until the answer (pings are skipped);
    None if the connection breaks or stays silent for ``SILENT_SECONDS``."""
    buffer = b""
    try:
        connection.settimeout(SILENT_SECONDS)
        connection.sendall(request)
        while True:
            chunk = connection.recv(4096)
            if not chunk:
                return None
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line != b".":
                    return Answer(line.decode("utf-8", "replace"))
    except OSError:  # socket.timeout is one
        return None
    finally:
        connection.close()


def _connect(directory: str) -> socket.socket | None:
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _Reachable(directory, SOCKET) as path:
            connection.connect(path)
        return connection
    except OSError:
        connection.close()
        return None


class _Reachable:
    """A path to ``name`` in ``directory`` short enough for a socket address
    (108 bytes): a deep CACHE_DIR is reached through /proc/self/fd."""

    def __init__(self, directory: str, name: str) -> None:
        self._directory, self._name, self._fd = directory, name, -1

    def __enter__(self) -> str:
        path = os.path.join(self._directory, self._name)
        if len(path.encode()) < 100:
            return path
        self._fd = os.open(self._directory, os.O_RDONLY | os.O_DIRECTORY)
        return f"/proc/self/fd/{self._fd}/{self._name}"

    def __exit__(self, *exc) -> None:
        if self._fd >= 0:
            os.close(self._fd)


def start_worker(options: list[str], command: str,
                 cwd: str | None = None) -> socket.socket | None:
    """A worker process running ``command`` with the caller's ``options``
    (``swiftwal.options``: on stdin, never as arguments); the call's end of
    its first connection, or None."""
    import subprocess

    from swiftwal.options import WORKER_START, worker_command_line

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER_START],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, pass_fds=(theirs.fileno(),), cwd=cwd,
            env={**os.environ, **WORKER_MALLOC, FD_VARIABLE: str(theirs.fileno())})
        worker.stdin.write(worker_command_line(command, options))
        worker.stdin.close()
    except OSError:
        ours.close()
        return None
    finally:
        theirs.close()
    return ours


# -- errors on the wire ----------------------------------------------------------------


def encode_error(error: Exception, status: int) -> str:
    """The answer for ``error``: final for one of ours, else ``declined``."""
    from swiftwal.domain.errors import SwiftwalError

    if not isinstance(error, SwiftwalError):
        return "declined"
    fields = ("error", str(status), error.code, error.message, error.hint or "")
    return "\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields)


def decode_error(answer: Answer):
    """The error a worker's ``error`` answer carries, or None if it does not parse."""
    from swiftwal.domain.errors import RelayedError, SwiftwalError

    if answer.kind != "error" or len(answer.fields) != 4 or not answer.fields[0].isdigit():
        return None
    status, code, message, hint = answer.fields
    # An error never ends a call with 0, whatever the answer says.
    return RelayedError(message, hint or None, code=code,
                        exit_status=int(status) or SwiftwalError.exit_status)


# -- the worker's side -----------------------------------------------------------------


class Worker:
    """The loop both workers share.  Threads do the work (``work``) and hand
    their results back to the loop; only the loop changes the worker's
    state (``finished``, ``heard``), so nothing is shared between threads.

    A subclass says what a request means (``work``, in a thread), what its
    result changes (``finished``), what a call tells it (``heard``), what to
    do ahead (``ahead``) and whether to keep going."""

    def __init__(self, parallel: int, idle_seconds: float | None = None) -> None:
        self.parallel = max(1, parallel)
        self.idle_seconds = IDLE_SECONDS if idle_seconds is None else idle_seconds
        self.running: dict[str, bool] = {}  # name in hand -> asked for by a call

    # -- what a worker says ------------------------------------------------------------

    def work(self, wal_name: str, payload: str, requested: bool):
        """Do it, in a thread, touching nothing the loop holds; return a
        result for ``finished`` and ``reply``, or raise."""
        raise NotImplementedError

    def finished(self, wal_name: str, asked: bool, result, error: Exception | None) -> None:
        """In the loop: ``work`` returned ``result`` or raised ``error``;
        ``asked``: a call asked for it (and gets ``reply(result)``)."""

    def reply(self, result) -> str:
        """The answer line for ``result`` (without its newline)."""
        return "done"

    def heard(self, kind: str, wal_name: str, payload: str) -> None:
        """In the loop: a call sent this (``want`` or ``note``)."""

    def ahead(self) -> list[tuple[str, str]]:
        """In the loop: ``(name, payload)`` to start now, besides the requests."""
        return []

    def exit_status(self, error: Exception) -> int:
        """The exit status the call reports for our ``error``."""
        from swiftwal.domain.errors import exit_status

        return exit_status(error)

    def keep_going(self) -> bool:
        """False: stop as soon as idle (what the work is for has gone)."""
        return True

    # -- the loop ----------------------------------------------------------------------

    def serve(self, listener: socket.socket, first: socket.socket | None = None) -> None:
        import queue
        import selectors
        from concurrent.futures import ThreadPoolExecutor

        self._selector = selectors.DefaultSelector()
        self._results: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting: dict[str, list[socket.socket]] = {}
        self._buffers: dict[socket.socket, bytes] = {}
        wake, self._wake = socket.socketpair()
        for end in (wake, self._wake, listener):
            end.setblocking(False)
        self._selector.register(listener, selectors.EVENT_READ, "listener")
        self._selector.register(wake, selectors.EVENT_READ, "wake")
        if first is not None:
            self._add(first)
        idle_since = last_ping = time.monotonic()
        # One thread more than work ahead may use: a request never queues behind it.
        with ThreadPoolExecutor(max_workers=self.parallel + 1) as self._pool:
            try:
                while True:
                    busy = bool(self.running or self._buffers)
                    timeout = PING_SECONDS if busy else min(
                        CHECK_SECONDS, max(0.0, idle_since + self.idle_seconds - time.monotonic()))
                    for key, _ in self._selector.select(timeout):
                        if key.data == "listener":
                            self._accept(listener)
                        elif key.data == "wake":
                            _drain(wake)
                        else:
                            self._read(key.fileobj)
                    self._collect()
                    for name, payload in self.ahead():
                        if name not in self.running:
                            self._start(name, payload, False)
                    now = time.monotonic()
                    if self.running or self._buffers:
                        idle_since = now
                        if now - last_ping >= PING_SECONDS:
                            self._ping()
                            last_ping = now
                    elif now - idle_since >= self.idle_seconds or not self.keep_going():
                        return
            finally:
                for connection in list(self._buffers):
                    self._close(connection)  # their calls do the work themselves
                listener.close()

    def _add(self, connection: socket.socket) -> None:
        import selectors

        connection.setblocking(False)
        self._buffers[connection] = b""
        self._selector.register(connection, selectors.EVENT_READ, "call")

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._add(connection)

    def _read(self, connection: socket.socket) -> None:
        try:
            chunk = connection.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the call is gone (done, or killed): its work goes on if begun
            self._close(connection)
            return
        buffer = self._buffers[connection] + chunk
        if b"\n" not in buffer:
            self._buffers[connection] = buffer[-65536:]
            return
        line = buffer.split(b"\n", 1)[0].decode("utf-8", "surrogateescape")
        fields = line.split("\t")
        if len(fields) != 3 or fields[0] not in ("want", "note"):
            self._close(connection)
            return
        kind, name, payload = fields
        self.heard(kind, name, payload)
        if kind == "note":
            self._close(connection)
            return
        self._selector.unregister(connection)  # nothing more to read: it waits
        self._buffers[connection] = b""
        self._waiting.setdefault(name, []).append(connection)
        if name not in self.running:
            self._start(name, payload, True)

    def _start(self, name: str, payload: str, requested: bool) -> None:
        self.running[name] = requested
        future = self._pool.submit(self._call_work, name, payload, requested)
        future.add_done_callback(lambda f: self._wake_loop())

    def _call_work(self, name: str, payload: str, requested: bool) -> None:
        try:
            outcome = self.work(name, payload, requested)
            self._results.put((name, requested, outcome, None))
        except Exception as error:
            self._results.put((name, requested, None, error))

    def _wake_loop(self) -> None:
        try:
            self._wake.send(b"\0")
        except OSError:  # full: the loop is awake anyway
            pass

    def _collect(self) -> None:
        import queue

        while True:
            try:
                name, requested, outcome, error = self._results.get_nowait()
            except queue.Empty:
                return
            del self.running[name]
            self.finished(name, requested or name in self._waiting, outcome, error)
            if error is not None:
                answer = encode_error(error, self.exit_status(error))
            else:
                answer = self.reply(outcome)
            for connection in self._waiting.pop(name, []):
                _send(connection, answer + "\n")
                self._close(connection)

    def _ping(self) -> None:
        for connections in self._waiting.values():
            for connection in connections:
                _send(connection, ".\n")

    def _close(self, connection: socket.socket) -> None:
        try:
            self._selector.unregister(connection)
        except (KeyError, ValueError):
            pass
        self._buffers.pop(connection, None)
        for name, connections in list(self._waiting.items()):
            if connection in connections:
                connections.remove(connection)
                if not connections:
                    del self._waiting[name]
        connection.close()


def _send(connection: socket.socket, text: str) -> None:
    try:
        connection.send(text.encode("utf-8", "replace"))
    except OSError:
        pass


def _drain(wake: socket.socket) -> None:
    try:
        while wake.recv(4096):
            pass
    except (BlockingIOError, InterruptedError):
        pass


def serve(ctx, spool, make_worker) -> int:
    """Run ``make_worker().serve(...)`` while holding the lock of ``spool``
    (swept first); answer ``busy`` to the call that started us if another
    worker holds it."""
    from swiftwal import events

    directory = spool.directory
    first = _inherited_connection()
    with _Lock(os.path.join(directory, LOCK)) as free:
        if not free:
            if first is not None:
                _send(first, "busy\n")
                first.close()
            return 0
        _log_to(os.path.join(directory, "worker.log"))
        spool.sweep()
        ctx.log.debug(events.WORKER_STARTED, pid=os.getpid())
        listener = _listen(directory)
        try:
            make_worker().serve(listener, first)
        finally:
            # Removed before the lock is let go: the next worker binds its own.
            with _Reachable(directory, SOCKET) as path:
                try:
                    os.unlink(path)
                except OSError:
                    pass
    return 0


def _inherited_connection() -> socket.socket | None:
    number = os.environ.pop(FD_VARIABLE, None)
    if number is None or not number.isdigit():
        return None
    try:
        return socket.socket(fileno=int(number))
    except OSError:
        return None


def _listen(directory: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with _Reachable(directory, SOCKET) as path:
        try:
            os.unlink(path)  # left by a worker that died: the lock is ours now
        except FileNotFoundError:
            pass
        listener.bind(path)
    listener.listen(64)
    return listener


class _Lock:
    """Held exclusively by the spool's one worker for its whole life, with its PID."""

    def __init__(self, path: str) -> None:
        self._path, self._fd = path, -1

    def __enter__(self) -> bool:
        import fcntl

        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        except BaseException:  # __exit__ is not called when __enter__ raises
            os.close(self._fd)
            raise
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        return True

    def __exit__(self, *exc) -> None:
        os.close(self._fd)


def _log_to(path: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if os.fstat(fd).st_size > 1 << 20:
            os.ftruncate(fd, 0)
    except OSError:
        return
    os.dup2(fd, 2)
    os.close(fd)
