"""restore_command's fast path and the prefetch worker behind it
(``swiftwal.commands.workers`` says how calls and workers meet).

- ``restore-wal NAME DEST`` for a segment first takes NAME from the prefetch
  spool (``swiftwal.adapters.spool.PrefetchSpool``, one per store and data
  directory), which holds only complete files checked against the store's
  checksums: it is moved (or copied, from another file system) beside DEST
  and renamed to DEST.  PostgreSQL never sees part of a file.
- Otherwise it asks the worker to fetch NAME, and takes it from the spool
  once it is there; when no worker runs, it starts one for what follows and
  fetches NAME itself, the plain way, rather than wait for the worker to
  start.  The worker fetches requests first and, ``PARALLEL`` at a time,
  the ``RESTORE_PREFETCH`` segments after the last one asked for or served
  (each served call notes its name), never past one the store does
  not have.
- "Not in the archive" is always answered by the plain command; the
  worker's other errors (no key, the store down) are the call's answer, with
  the exit statuses recovery depends on (126 during targeted recovery).
``RESTORE_PREFETCH=0`` turns all of this off.
"""
from __future__ import annotations

import os
import time

from swiftwal.commands.workers import SILENT_SECONDS, FastCall, PoolWorker, serve, start_worker
from swiftwal.domain.errors import SwiftwalError


def fast_restore(argv: list[str]) -> int | None:
    """The exit status of ``restore-wal NAME DEST`` if it was served here, or
    None: then the full command runs and does everything itself."""
    from swiftwal import events
    from swiftwal.adapters import atomic
    from swiftwal.adapters.spool import PrefetchSpool, is_segment_name

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
    if not is_segment_name(wal_name):
        return None  # history files and the like: rare, and fetched in place
    try:
        spool = PrefetchSpool(restore_spool_directory(call.settings))
    except OSError:
        return None
    atomic.remove_stale_temp_files(os.path.dirname(path) or ".")
    temp = atomic.temp_beside(path)
    size = spool.serve(wal_name, path, temp)
    if size is not None:
        spool.note_served(wal_name)
    elif not spool.worker_serving(SILENT_SECONDS):
        # No worker yet (recovery starts, or a standby polls after a pause):
        # start one to fetch what follows, and fetch this one ourselves
        # rather than wait for it to start.
        spool.note_served(wal_name)
        start_worker(call.options, "restore-worker")
        return None
    else:
        size = call.ask(spool, wal_name, "", "restore-worker",
                        lambda: spool.serve(wal_name, path, temp))
        if size is None:
            return None
    return call.done(events.WAL_RESTORED, wal_name=wal_name, bytes=size, prefetched=True)


def restore_spool_directory(settings) -> str:
    """One spool per store and data directory (the working directory)."""
    from swiftwal.adapters.spool import cache_root, spool_directory

    return spool_directory(cache_root(settings.get("CACHE_DIR")), "restore",
                           settings.public_key(), os.path.realpath(os.getcwd()))


# -- the worker command ----------------------------------------------------------------


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name)  # started by restore-wal, not listed in the help
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    from swiftwal.adapters.spool import PrefetchSpool

    spool = PrefetchSpool(restore_spool_directory(ctx.settings))
    return serve(ctx, spool, lambda: _PrefetchWorker(ctx, spool))


class _PrefetchWorker(PoolWorker):
    def __init__(self, ctx, spool) -> None:
        from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE

        super().__init__(spool, ctx.settings.integer("PARALLEL", 4), ctx)
        self.prefetch = ctx.settings.integer("RESTORE_PREFETCH", 8)
        self.segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
        self.last_asked: str | None = None
        self.last_served: str | None = None
        self.wanted: list[str] = []
        self.fetched: set[str] = set()  # not fetched again by this worker
        self.missing: set[str] = set()  # not in the store: nothing after it is fetched ahead

    def ahead(self, running: dict) -> list[tuple[str, str]]:
        # Follow where recovery is: a new request (a call that missed) or a
        # newly served file; recovery may start again from an earlier point.
        served = self.spool.last_served()
        if self.requested and max(self.requested) != self.last_asked:
            # A call missed (recovery may have started again from an earlier
            # point): what was served may be wanted again, what waits is kept.
            self.fetched &= self.spool.held()
            self._follow(max(self.requested))
        elif served and served != self.last_served:
            self._follow(served)
        self.last_served = served
        room = self.parallel - len(running)
        chosen: list[tuple[str, str]] = []
        for name in self.wanted:
            if room <= len(chosen) or name in self.missing:
                break
            if name not in running and name not in self.fetched and name not in self.skipped:
                chosen.append((name, ""))
        return chosen

    def _follow(self, asked: str) -> None:
        from swiftwal.domain.walnames import Segment

        self.last_asked = asked
        segment, wanted = Segment.parse(asked, self.segment_size), []
        for _ in range(self.prefetch):
            try:
                segment = segment.next(self.segment_size)
            except ValueError:  # the end of WAL addresses
                break
            wanted.append(str(segment))
        self.wanted = wanted
        keep = {asked, *wanted}  # the one asked for may have landed just after its call looked
        self.spool.drop_stale(lambda name: name not in keep and name[:8] == asked[:8])

    def work(self, wal_name: str, _payload: str, requested: bool) -> None:
        from swiftwal import events
        from swiftwal.adapters.walstore import fetch_wal

        started = time.monotonic()
        if self.spool.has(wal_name):  # fetched earlier, not served yet
            self.fetched.add(wal_name)
            return
        if requested:
            self.missing.discard(wal_name)
            if not self.spool.is_requested(wal_name):  # its call was served meanwhile
                return
            if wal_name in self.fetched:
                # Fetched after it was asked for, and gone: its call took it
                # and is about to withdraw the request.  Should it still be
                # waiting (recovery asking again at once), it does it itself.
                self.spool.fail(wal_name)
                return
        elif wal_name in self.fetched:
            return
        found = fetch_wal(self.ctx.storage, wal_name, self.ctx.settings.compression, self.key,
                          trust_frame_checksum=True)
        if found is None:
            self.missing.add(wal_name)
            raise LookupError(f"{wal_name} is not in the archive")
        _, data, digest = found
        self.spool.put(wal_name, data, digest)
        self.fetched.add(wal_name)
        self.ctx.log.debug(events.WAL_FETCHED_AHEAD, wal_name=wal_name, bytes=len(data),
                           requested=requested, duration_s=round(time.monotonic() - started, 3))

    def exit_status(self, error) -> int:
        if not isinstance(error, SwiftwalError):  # never passed on to the call
            return super().exit_status(error)
        from swiftwal.adapters.recovery_signals import restore_failure

        # The worker runs in the caller's working directory: the data directory.
        return restore_failure(error).exit_status

    def failed(self, wal_name: str, requested: bool, error: Exception) -> None:
        from swiftwal import events

        self.ctx.log.debug(events.WAL_FETCH_AHEAD_FAILED, wal_name=wal_name, worker="failed",
                           error=error.__class__.__name__)
