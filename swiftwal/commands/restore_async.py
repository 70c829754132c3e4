"""restore_command's fast path and the prefetch worker behind it
(``swiftwal.adapters.workers`` says how calls and workers meet).

- ``restore-wal NAME DEST`` for a segment first takes NAME from the prefetch
  spool (``swiftwal.adapters.spool.PrefetchSpool``, one per store and data
  directory), which holds only complete files checked against the store's
  checksums: it is moved (or copied, from another file system) beside DEST
  and renamed to DEST, and the worker is told how far recovery has come.
  PostgreSQL never sees part of a file.
- Otherwise it asks the worker to fetch NAME, and takes it from the spool
  once it is there; when no worker runs, it starts one for what follows and
  fetches NAME itself, the plain way, rather than wait for the worker to
  start.  The worker fetches requests first and, ``PARALLEL`` at a time,
  the ``RESTORE_PREFETCH`` segments after the last one asked for or served
  (``swiftwal.domain.lookahead``), never past one the store does not have.
  ``swiftwal restore`` starts one before the server starts.
- "Not in the archive": during archive recovery (``recovery.signal``) it is
  always the plain command's answer, from the store, asked by this call: a
  false one would end recovery early.  A standby (``standby.signal``) polls
  at the end of the archive every few seconds; there a miss, the worker's
  or the plain command's, is remembered for ``STANDBY_MISS_SECONDS`` and
  answered from the spool.
- The worker's other errors (no key, the store down) are the call's answer,
  with the exit statuses recovery depends on (126 during targeted recovery).
``RESTORE_PREFETCH=0`` turns all of this off.
"""
from __future__ import annotations

import os
import time

from swiftwal.adapters.workers import Worker, serve
from swiftwal.commands.fast_call import FastCall
from swiftwal.domain.errors import SwiftwalError


def fast_restore(argv: list[str]) -> int | None:
    """The exit status of ``restore-wal NAME DEST`` if it was served here, or
    None: then the full command runs and does everything itself."""
    from swiftwal import events
    from swiftwal.adapters import atomic, workers
    from swiftwal.adapters.recovery_signals import on_standby
    from swiftwal.adapters.spool import PrefetchSpool, is_segment_name, restore_spool_directory

    try:
        call = FastCall.parse(argv, "restore-wal", 2, "RESTORE_PREFETCH")
    except SwiftwalError as error:
        from swiftwal.adapters.recovery_signals import restore_failure

        failure = restore_failure(error)
        if failure is error:
            raise
        raise failure from error
    if call is None:
        return None
    wal_name, path = call.args
    try:
        directory = restore_spool_directory(call.settings)
        spool = PrefetchSpool(directory)
    except OSError:
        return None
    standby = on_standby()
    if standby and spool.missed_recently(wal_name):
        return _missed(call, wal_name)
    if not is_segment_name(wal_name):
        return None  # history files and the like: rare, and fetched in place
    atomic.remove_stale_temp_files(os.path.dirname(path) or ".")
    temp = atomic.temp_beside(path)
    size = spool.serve(wal_name, path, temp)
    if size is None:
        answer = call.ask(directory, wal_name, "", "restore-worker", start=False)
        if answer is None:
            if not workers.listening(directory):
                # No worker yet (recovery starts, or a standby polls after a
                # pause): start one to fetch what follows, and fetch this one
                # ourselves rather than wait for it to start.
                workers.kick(call.options, "restore-worker", wal_name)
            return None
        if answer.kind == "missing":
            if not standby:
                return None  # asked again by the plain command, from the store
            spool.note_missing(wal_name)
            return _missed(call, wal_name)
        size = spool.serve(wal_name, path, temp)
        if size is None:
            return None
    elif not workers.note(directory, wal_name):
        # Served what was fetched before the server started (``swiftwal
        # restore``): a worker goes on from here.
        workers.kick(call.options, "restore-worker", wal_name)
    return call.done(events.WAL_RESTORED, wal_name=wal_name, bytes=size, prefetched=True)


def _missed(call, wal_name: str) -> int:
    """A standby's "not in the archive", remembered from a miss moments ago."""
    from swiftwal import events, logs
    from swiftwal.domain.errors import EXIT_NOT_IN_ARCHIVE

    if call.verbose:
        logs.configure(call.fmt, call.verbose, light=True)
        logs.get_logger().debug(events.WAL_RESTORE_MISSED, wal_name=wal_name, remembered=True)
    return EXIT_NOT_IN_ARCHIVE


# -- the worker command ----------------------------------------------------------------


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name)  # started by restore-wal, not listed in the help
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    from swiftwal.adapters.spool import PrefetchSpool, restore_spool_directory

    spool = PrefetchSpool(restore_spool_directory(ctx.settings))
    return serve(ctx, spool, lambda: _PrefetchWorker(ctx, spool))


class _PrefetchWorker(Worker):
    def __init__(self, ctx, spool) -> None:
        from swiftwal.adapters.crypto import configured_key
        from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE

        ctx.share_tokens()
        super().__init__(ctx.settings.integer("PARALLEL", 4))
        self.ctx, self.spool = ctx, spool
        self.key = configured_key(ctx.settings)
        self.prefetch = ctx.settings.integer("RESTORE_PREFETCH", 8)
        self.segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
        self.last_heard: str | None = None
        self.wanted: list[str] = []
        self.fetched: set[str] = set()  # not fetched again by this worker
        self.failed: set[str] = set()   # failed ahead: left to their calls
        self.missing: set[str] = set()  # not in the store: nothing after it is fetched ahead

    def heard(self, kind: str, wal_name: str, payload: str) -> None:
        from swiftwal.adapters.spool import is_segment_name

        if not is_segment_name(wal_name):
            return
        if kind == "want":
            self.missing.discard(wal_name)  # asked again: the store may have it now
        if wal_name == self.last_heard:
            return
        if kind == "want":
            # A call missed (recovery may have started again from an earlier
            # point): what was served may be wanted again, what waits is kept.
            self.fetched &= self.spool.held()
        self._follow(wal_name)

    def _follow(self, asked: str) -> None:
        from swiftwal.domain.lookahead import wanted_after
        from swiftwal.domain.walnames import Segment

        self.last_heard = asked
        segment = Segment.parse(asked, self.segment_size)
        self.wanted = [str(s) for s in wanted_after(segment, self.segment_size, self.prefetch)]
        keep = {asked, *self.wanted}  # the one asked for may have landed just after its call looked
        self.spool.drop_stale(lambda name: name not in keep and name[:8] == asked[:8])

    def ahead(self) -> list[tuple[str, str]]:
        from swiftwal.domain.lookahead import fetch_plan

        plan = fetch_plan(self.wanted, in_flight=self.running, done=self.fetched | self.failed,
                          missing=self.missing, room=self.parallel - len(self.running))
        return [(name, "") for name in plan]

    def work(self, wal_name: str, _payload: str, requested: bool):
        from swiftwal import events
        from swiftwal.adapters.walstore import fetch_wal

        started = time.monotonic()
        if self.spool.has(wal_name):  # fetched earlier, not served yet
            return "held"
        found = fetch_wal(self.ctx.storage, wal_name, self.ctx.settings.compression, self.key,
                          trust_frame_checksum=True)
        if found is None:
            return "missing"
        _, data, digest = found
        self.spool.put(wal_name, data, digest)
        self.ctx.log.debug(events.WAL_FETCHED_AHEAD, wal_name=wal_name, bytes=len(data),
                           requested=requested, duration_s=round(time.monotonic() - started, 3))
        return "fetched"

    def finished(self, wal_name: str, asked: bool, result, error) -> None:
        if error is not None:
            from swiftwal import events

            if not asked:
                self.failed.add(wal_name)  # never retried ahead: no worker spins on it
            self.ctx.log.debug(events.WAL_FETCH_AHEAD_FAILED, wal_name=wal_name,
                               worker="failed", error=error.__class__.__name__)
        elif result == "missing":
            self.missing.add(wal_name)
        else:
            self.fetched.add(wal_name)
            self.missing.discard(wal_name)

    def reply(self, result) -> str:
        return "missing" if result == "missing" else "done"

    def exit_status(self, error) -> int:
        if not isinstance(error, SwiftwalError):  # never passed on to the call
            return super().exit_status(error)
        from swiftwal.adapters.recovery_signals import restore_failure

        # The worker runs in the caller's working directory: the data directory.
        return restore_failure(error).exit_status
