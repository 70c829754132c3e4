"""archive_command's fast path and the archive worker behind it
(``swiftwal.adapters.workers`` says how calls and workers meet).

- ``archive-wal PATH`` for a segment first asks the spool
  (``swiftwal.adapters.spool.ArchiveSpool``) whether this very file, unchanged
  since it was read, is already stored: if so it returns at once, without
  reading the segment, and tells the worker (it may store more ahead).
- Otherwise it asks the worker, and succeeds only through its answer that
  the store has confirmed the upload of this very file.
- The worker serves requests first and stores, oldest first, up to
  ``ARCHIVE_LOOKAHEAD`` other segments PostgreSQL has marked ``.ready`` that
  nobody asked for yet (``swiftwal.domain.lookahead``), but only those
  already marked when one of its calls came: a worker left over from a
  changed ``archive_command`` stores nothing new the old way.  It stops as
  soon as it is idle once the server whose ``pg_wal`` it serves has stopped.

Killing either process at any moment loses nothing: a record exists only
for a stored segment, and a call succeeds only through a record, the
worker's answer, or its own upload.  ``ARCHIVE_LOOKAHEAD=0`` turns all of
this off.
"""
from __future__ import annotations

import os
import time

from swiftwal.adapters import workers
from swiftwal.adapters.workers import Worker, serve
from swiftwal.commands.fast_call import FastCall


def fast_archive(argv: list[str]) -> int | None:
    """The exit status of ``archive-wal PATH`` if it was answered here, or
    None: then the full command runs and does everything itself."""
    from swiftwal import events
    from swiftwal.adapters.spool import ArchiveSpool, archive_spool_directory, is_segment_name

    call = FastCall.parse(argv, "archive-wal", 1, "ARCHIVE_LOOKAHEAD")
    if call is None:
        return None
    (path,) = call.args
    wal_name = os.path.basename(path)
    if not is_segment_name(wal_name) or not os.path.isfile(path):
        return None  # history, .partial, backup-history and missing files: done in place
    try:
        directory = archive_spool_directory(call.settings)
        spool = ArchiveSpool(directory)
    except OSError:
        return None
    stored = spool.stored(wal_name, path)
    if stored is not None:
        workers.note(directory, wal_name)  # one stored ahead is used: the worker may store more
    else:
        answer = call.ask(directory, wal_name, os.path.abspath(path), "archive-worker")
        stored = None if answer is None else _stored_by_answer(answer, path)
        if stored is None:
            return None
    spool.forget(wal_name)
    stored_bytes, outcome = stored
    known = (events.WAL_ARCHIVED, events.WAL_ALREADY_ARCHIVED)
    return call.done(outcome if outcome in known else events.WAL_ARCHIVED, wal_name=wal_name,
                     bytes=os.stat(path).st_size, stored_bytes=stored_bytes,
                     compression=call.settings.compression, worker=True)


def _stored_by_answer(answer, path: str) -> tuple[int, str] | None:
    """``(stored size, outcome)`` if the worker stored this very file,
    unchanged since it read it; else None."""
    from swiftwal.adapters.spool import fingerprint

    if answer.kind != "done" or len(answer.fields) != 3 or not answer.fields[0].isdigit():
        return None
    try:
        current = " ".join(map(str, fingerprint(os.stat(path))))
    except OSError:
        return None
    return (int(answer.fields[0]), answer.fields[1]) if answer.fields[2] == current else None


# -- the worker command ----------------------------------------------------------------


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name)  # started by archive-wal, not listed in the help
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    from swiftwal.adapters.spool import ArchiveSpool, archive_spool_directory

    spool = ArchiveSpool(archive_spool_directory(ctx.settings))
    return serve(ctx, spool, lambda: _ArchiveWorker(ctx, spool))


class _ArchiveWorker(Worker):
    def __init__(self, ctx, spool) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from swiftwal.adapters.compression import wal_level
        from swiftwal.adapters.crypto import configured_key
        from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE

        ctx.share_tokens()  # kept for the calls and the next worker
        ctx.storage_to_write()
        super().__init__(ctx.settings.integer("PARALLEL", 4),
                         idle_seconds=workers.ARCHIVE_IDLE_SECONDS)
        self.ctx, self.spool = ctx, spool
        self.key = configured_key(ctx.settings)
        self.lookahead = ctx.settings.integer("ARCHIVE_LOOKAHEAD", 8)
        self.mark_done = ctx.settings.flag("ARCHIVE_MARK_DONE", True)
        self.codec = ctx.settings.compression
        self.level = wal_level(self.codec, ctx.settings.integer("COMPRESSION_LEVEL"))
        self.backlog = 0  # .ready segments at the last look: faster levels while it is long
        self.segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
        self.compressors = ThreadPoolExecutor(max_workers=self.parallel + 1)
        # Read by the threads, replaced (never changed) by the loop.
        self.identities: frozenset[str] = frozenset()
        self.asked: frozenset[str] = frozenset()
        self.done: set[str] = set()     # stored, or failed ahead: not stored again
        self.waiting: set[str] = set()  # stored ahead, not yet asked for
        self.last_call = 0.0
        self.directories: set[str] = set()

    def heard(self, kind: str, wal_name: str, payload: str) -> None:
        self.last_call = time.time()
        if kind == "want":
            self.directories.add(os.path.dirname(payload))
            self.asked = self.asked | {wal_name}
        self.waiting.discard(wal_name)

    def ahead(self) -> list[tuple[str, str]]:
        from swiftwal.adapters.spool import ready_segments
        from swiftwal.domain.lookahead import push_plan, push_room

        # A record is gone once its call used it, or once it was marked .done.
        self.waiting = {n for n in self.waiting if self.spool.has_record(n)}
        room = push_room(parallel=self.parallel, lookahead=self.lookahead,
                         in_flight=len(self.running),
                         requested_in_flight=sum(self.running.values()),
                         waiting=len(self.waiting))
        chosen: list[tuple[str, str]] = []
        backlog = 0
        for directory in sorted(self.directories):
            status = os.path.join(directory, "archive_status")
            marked = ready_segments(status)
            backlog += len(marked)
            if room <= len(chosen):
                continue
            ready = [n for n in marked[:self.lookahead + self.parallel]
                     if self._ready_before_a_call(status, n)]
            for name in push_plan(ready, in_flight=self.running, done=self.done,
                                  room=room - len(chosen)):
                chosen.append((name, os.path.join(directory, name)))
        self.backlog = backlog
        return chosen

    def _ready_before_a_call(self, status: str, name: str) -> bool:
        """Only segments already waiting when one of our calls came: once
        archive_command changes (another store, encryption turned on) no new
        segment is stored the old way.  The mark's change time is when it was
        made or renamed to ``.ready``; file times lag the clock by up to a
        tick, hence the margin."""
        try:
            ready = os.stat(os.path.join(status, name + ".ready")).st_ctime
        except OSError:
            return False
        return ready < self.last_call - 0.05

    def keep_going(self) -> bool:
        """False once every server whose pg_wal we serve has stopped."""
        clusters = [os.path.dirname(d) for d in self.directories
                    if os.path.basename(d) == "pg_wal"]
        return not clusters or len(clusters) < len(self.directories) or any(
            os.path.exists(os.path.join(c, "postmaster.pid")) for c in clusters)

    def work(self, wal_name: str, path: str, requested: bool):
        from swiftwal.adapters.archive_status import mark_done
        from swiftwal.adapters.compression import compress_bytes
        from swiftwal.adapters.spool import fingerprint
        from swiftwal.adapters.walstore import original_digest, store_wal
        from swiftwal.domain.compression_level import level_for_backlog

        started = time.monotonic()
        with open(path, "rb") as handle:
            seen = fingerprint(os.fstat(handle.fileno()))
            data = handle.read()
            if fingerprint(os.fstat(handle.fileno())) != seen:
                raise OSError(f"{path} changed while it was read")
        level = level_for_backlog(self.codec, self.level, self.backlog)
        # Both release the GIL: compress beside hashing, on another core.
        compressing = self.compressors.submit(compress_bytes, self.codec, data, level)
        digest = original_digest(data)
        identities = set(self.identities)
        outcome, stored = store_wal(self.ctx.storage, wal_name, data, digest, codec=self.codec,
                                    segment_size=self.segment_size, path=path,
                                    identities=identities, key=self.key, level=level,
                                    compressed=compressing.result())
        marked = False
        if not requested:
            self.spool.record(wal_name, seen, digest, stored, outcome)
            # Marked .done, it is never asked for: its record would only wait for the sweep.
            marked = self.mark_done and mark_done(os.path.dirname(path), wal_name, seen,
                                                  lambda name: name in self.asked)
            if marked:
                self.spool.forget(wal_name)
        self.ctx.log.debug(outcome, wal_name=wal_name, bytes=len(data), stored_bytes=stored,
                           requested=requested, marked_done=marked, compression_level=level,
                           duration_s=round(time.monotonic() - started, 3))
        return seen, stored, outcome, frozenset(identities), marked

    def finished(self, wal_name: str, asked: bool, result, error) -> None:
        self.asked = self.asked - {wal_name}
        if error is not None:
            from swiftwal import events

            self.done.add(wal_name)  # never retried ahead: no worker spins on it; a call may
            self.ctx.log.warning(events.WAL_ARCHIVE_FAILED, wal_name=wal_name, worker="failed",
                                 requested=asked, error=error.__class__.__name__)
            return
        _, _, _, identities, marked = result
        self.identities = self.identities | identities
        self.done.add(wal_name)
        if not asked and not marked:
            self.waiting.add(wal_name)

    def reply(self, result) -> str:
        seen, stored, outcome, _, _ = result
        return f"done\t{stored}\t{outcome}\t{' '.join(map(str, seen))}"
