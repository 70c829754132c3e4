"""Worker processes behind archive_command and restore_command.

PostgreSQL runs those commands once per WAL file and waits for each, so a
process per file that starts a Swift client, authenticates and moves 16 MiB
is slower than a busy server writes WAL, or than recovery replays it.  The
per-call process stays small (the standard library and a few modules of
ours, no storage client) and asks a worker: one process per spool, started
on demand by the first call that needs it and holding the spool's lock for
its whole life, that keeps the store connection and does the work ahead,
``PARALLEL`` at a time.  It exits when it has had nothing to do for a few
seconds.

A call leaves a request in the spool, starts the worker unless one is
serving, and waits for its answer.  When the worker fails with one of our
errors (the store down, a conflict) that answer is final: the call reports
it with its message and exit status, as if it had failed itself, without
waiting for the store a second time.  If the worker fails otherwise, dies,
or stops showing life (a wedged worker), the call does the work itself the
plain way and reports what goes wrong exactly as it always did.  The worker
is never needed for correctness.

The worker gets the caller's command-line options through a pipe (never as
arguments: they may hold a password) and inherits its environment; it logs to
``worker.log`` in its spool, never to the caller's stderr (holding it would
keep whoever reads it, a pipe or the server's log collector, waiting).
"""
from __future__ import annotations

import os
import sys
import time

POLL_SECONDS = 0.002
IDLE_SECONDS = 5.0
HEARTBEAT_SECONDS = 0.5
# A worker that holds its lock but has not shown life for this long is wedged:
# its callers stop waiting and do the work themselves.
SILENT_SECONDS = 10.0
# glibc gives a freed 16 MiB segment buffer back to the kernel (an mmap, or
# a thread arena trimmed with madvise), so every segment's buffers were
# faulted in again: a third of the prefetch worker's CPU.  Its buffers now
# stay in the process and are reused; it holds what its busiest moment needed
# (a few segments per thread) until it exits, idle.
WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20),  # glibc's largest
                 "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}


class FastCall:
    """A plain call of archive-wal or restore-wal as its fast path sees it."""

    def __init__(self, command: str, settings, options: list[str], args: list[str],
                 verbose: bool) -> None:
        self.command_name, self.settings, self.options = command, settings, options
        self.args, self.verbose = args, verbose
        self.fmt = settings.log_format or "console"
        self.started = time.monotonic()

    @classmethod
    def parse(cls, argv: list[str], command: str, count: int, switch: str):
        """The call, or None when it is not ``[options] command ARG...`` with
        ``count`` arguments, or the setting ``switch`` is 0.  Settings that
        cannot be loaded raise their ``ConfigError`` here, before any work:
        the worker would only have failed on them in its log file."""
        from swiftwal import config, options

        parsed = options.split_global_options(argv)
        if parsed is None:
            return None
        values, config_file, switches, rest = parsed
        if len(rest) != count + 1 or rest[0] != command or any(
                a.startswith("-") for a in rest[1:]):
            return None
        settings = config.load_settings(values, config_file, os.environ)
        if settings.integer(switch, 1) <= 0:
            return None
        return cls(command, settings, argv[:len(argv) - len(rest)], rest[1:],
                   bool(switches & {"--verbose", "--debug"}))

    def ask(self, spool, wal_name: str, payload: str, worker: str, answer):
        """``hand_off`` to ``worker``; its final error is logged as the full command would."""
        try:
            return hand_off(spool, wal_name, payload, self.options, worker, answer)
        except Exception as error:
            from swiftwal.domain.errors import SwiftwalError

            if isinstance(error, SwiftwalError) and self.fmt == "json":
                from swiftwal import events, logs

                logs.configure(self.fmt, self.verbose, light=True)
                logs.get_logger().error(events.COMMAND_FAILED, command=self.command_name,
                                        error_code=error.code, msg=error.message)
            raise

    def done(self, event: str, **fields) -> int:
        """Log the command's summary event (and config warnings); exit 0."""
        from swiftwal import events, logs

        logs.configure(self.fmt, self.verbose, light=True)
        log = logs.get_logger()
        for warning in self.settings.warnings:
            log.warning(events.CONFIG_WARNING, msg=warning)
        log.info(event, **fields, duration_s=round(time.monotonic() - self.started, 3))
        return 0


def hand_off(spool, wal_name: str, payload: str, options: list[str], command: str, answer):
    """Ask ``command``'s worker for ``wal_name``: ``answer()`` once it is not
    None, or None if the worker could not do it (the caller then does).
    Raises the worker's error when that is final."""
    spool.take_failure(wal_name)  # an answer left for a call that was killed is not ours
    spool.request(wal_name, payload)
    worker = None if spool.worker_serving(SILENT_SECONDS) else start_worker(options, command)
    polls = 0
    try:
        while True:
            found = answer()
            if found is not None:
                return found
            failure = spool.take_failure(wal_name)
            if failure is not None:
                error = _decode(failure)
                if error is not None:
                    raise error
                return None
            polls += 1
            # A worker we started is given time to start (it has to import a lot).
            if polls % 16 == 0 and not spool.worker_serving(SILENT_SECONDS) and (
                    worker is None or worker.poll() is not None):
                return answer()  # it may have answered and gone
            time.sleep(POLL_SECONDS)
    finally:
        # Withdrawn whatever the outcome: a worker that saw it later would do it again.
        spool.drop_request(wal_name)


def _encode(error: Exception, status: int) -> str:
    from swiftwal.domain.errors import SwiftwalError

    if not isinstance(error, SwiftwalError):
        return ""
    fields = (str(status), error.code, error.message, error.hint or "")
    return "\t".join(f.replace("\t", " ").replace("\n", " ") for f in fields)


def _decode(answer: str):
    from swiftwal.domain.errors import RelayedError, SwiftwalError

    fields = answer.split("\t")
    if len(fields) != 4 or not fields[0].isdigit():
        return None
    # An error never ends a call with 0, whatever the marker says.
    return RelayedError(fields[2], fields[3] or None, code=fields[1],
                        exit_status=int(fields[0]) or SwiftwalError.exit_status)


def start_worker(options: list[str], command: str):
    """A worker process running ``command`` with the caller's ``options``
    (``swiftwal.options``: on stdin, never as arguments), or None."""
    import subprocess

    from swiftwal.options import WORKER_START, worker_command_line

    try:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER_START],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, env={**os.environ, **WORKER_MALLOC})
        worker.stdin.write(worker_command_line(command, options))
        worker.stdin.close()
    except OSError:
        return None
    return worker


def serve(ctx, spool, make_worker) -> int:
    """Run ``make_worker().drain()`` while holding ``spool``'s worker lock
    (return at once if another worker holds it); requests left when it ends
    are marked failed, so their calls stop waiting."""
    from swiftwal import events

    with spool.worker_lock() as free:
        if not free:
            return 0
        _log_to(os.path.join(spool.directory, "worker.log"))
        ctx.log.debug(events.WORKER_STARTED, pid=os.getpid())
        try:
            make_worker().drain()
        finally:
            for wal_name in spool.requests():
                spool.fail(wal_name)
                spool.drop_request(wal_name)
    return 0


def _log_to(path: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if os.fstat(fd).st_size > 1 << 20:
            os.ftruncate(fd, 0)
    except OSError:
        return
    os.dup2(fd, 2)
    os.close(fd)


class PoolWorker:
    """The loop both workers share: requests first, then work ahead
    (``ahead``), ``parallel`` at a time; a heartbeat; exit when idle."""

    def __init__(self, spool, parallel: int, ctx=None, idle_seconds: float | None = None) -> None:
        self.spool = spool
        self.parallel = max(1, parallel)
        self.idle_seconds = IDLE_SECONDS if idle_seconds is None else idle_seconds
        self.requested: dict[str, str] = {}
        self.ctx = ctx
        if ctx is not None:  # a store to work with: its key, and tokens shared with the calls
            from swiftwal.adapters.crypto import configured_key

            self.key = configured_key(ctx.settings)
            ctx.share_tokens()
        self.skipped: set[str] = set()  # failed when done ahead: left to their own calls

    def work(self, wal_name: str, payload: str, requested: bool) -> None:
        """Do it, or raise: a request then gets a failure marker."""
        raise NotImplementedError

    def failed(self, wal_name: str, requested: bool, error: Exception) -> None:
        """``work`` raised ``error`` (its call, if any, reports it or does it itself)."""

    def exit_status(self, error) -> int:
        """The exit status the call reports for our ``error``."""
        from swiftwal.domain.errors import exit_status

        return exit_status(error)

    def ahead(self, running: dict) -> list[tuple[str, str]]:
        """``(name, payload)`` to do ahead now; ``running`` maps names in hand."""
        return []

    def keep_going(self) -> bool:
        """False: stop as soon as idle (what the work is for has gone)."""
        return True

    def drain(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.spool.sweep()
        running: dict[str, object] = {}
        idle_since = beat = time.monotonic()
        # One thread more than work ahead may use: a request never queues behind it.
        with ThreadPoolExecutor(max_workers=self.parallel + 1) as pool:
            while True:
                for name in [n for n, f in running.items() if f.done()]:
                    del running[name]
                self.requested = self.spool.requests()
                for name, payload in sorted(self.requested.items()):
                    if name not in running:
                        running[name] = pool.submit(self._work, name, payload, True)
                for name, payload in self.ahead(running):
                    if name not in running and name not in self.skipped:
                        running[name] = pool.submit(self._work, name, payload, False)
                now = time.monotonic()
                if now - beat > HEARTBEAT_SECONDS:
                    self.spool.heartbeat()
                    beat = now
                if running or self.requested:
                    idle_since = now
                elif now - idle_since > self.idle_seconds or not self.keep_going():
                    return
                time.sleep(POLL_SECONDS)

    def _work(self, wal_name: str, payload: str, requested: bool) -> None:
        try:
            self.work(wal_name, payload, requested)
        except Exception as error:
            if requested:
                self.spool.fail(wal_name, _encode(error, self.exit_status(error)))
            else:
                self.skipped.add(wal_name)  # never retried ahead: no worker spins on it
            self.failed(wal_name, requested, error)
        finally:
            if requested:
                self.spool.drop_request(wal_name)
