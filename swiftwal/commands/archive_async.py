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

from swiftwal.commands.workers import FastCall, PoolWorker, serve


def fast_archive(argv: list[str]) -> int | None:
    """The exit status of ``archive-wal PATH`` if it was answered here, or
    None: then the full command runs and does everything itself."""
    from swiftwal import events
    from swiftwal.adapters.spool import ArchiveSpool, is_segment_name

    call = FastCall.parse(argv, "archive-wal", 1, "ARCHIVE_LOOKAHEAD")
    if call is None:
        return None
    (path,) = call.args
    wal_name = os.path.basename(path)
    if not is_segment_name(wal_name) or not os.path.isfile(path):
        return None  # history, .partial, backup-history and missing files: done in place
    try:
        spool = ArchiveSpool(archive_spool_directory(call.settings))
    except OSError:
        return None
    stored = spool.stored(wal_name, path) or call.ask(
        spool, wal_name, os.path.abspath(path), "archive-worker",
        lambda: spool.stored(wal_name, path))
    if stored is None:
        return None
    spool.forget(wal_name)
    stored_bytes, outcome = stored
    known = (events.WAL_ARCHIVED, events.WAL_ALREADY_ARCHIVED)
    return call.done(outcome if outcome in known else events.WAL_ARCHIVED, wal_name=wal_name,
                     bytes=os.stat(path).st_size, stored_bytes=stored_bytes,
                     compression=call.settings.compression, worker=True)


def archive_spool_directory(settings) -> str:
    from swiftwal.adapters.spool import cache_root, spool_directory

    return spool_directory(cache_root(settings.get("CACHE_DIR")), "archive",
                           settings.public_key())


# -- the worker command ----------------------------------------------------------------


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name)  # started by archive-wal, not listed in the help
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    from swiftwal.adapters.spool import ArchiveSpool

    spool = ArchiveSpool(archive_spool_directory(ctx.settings))
    return serve(ctx, spool, lambda: _ArchiveWorker(ctx, spool))


class _ArchiveWorker(PoolWorker):
    def __init__(self, ctx, spool) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE

        ctx.share_tokens()  # as PoolWorker will ask, so that the store is opened once
        ctx.storage_to_write()  # opened to write before PoolWorker uses it
        super().__init__(spool, ctx.settings.integer("PARALLEL", 4), ctx)
        self.lookahead = ctx.settings.integer("ARCHIVE_LOOKAHEAD", 8)
        self.mark_done = ctx.settings.flag("ARCHIVE_MARK_DONE", True)
        self.codec = ctx.settings.compression
        self.segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
        self.compressors = ThreadPoolExecutor(max_workers=self.parallel + 1)
        self.identities: set[str] = set()
        self.stored: set[str] = set()   # recorded by this worker: not stored again
        self.waiting: set[str] = set()  # stored ahead, not yet asked for
        self.last_call = 0.0
        self.directories: set[str] = set()

    def ahead(self, running: dict) -> list[tuple[str, str]]:
        from swiftwal.adapters.spool import ready_segments

        self.directories.update(os.path.dirname(p) for p in self.requested.values())
        waiting = {n for n in list(self.waiting) if self.spool.has_record(n)}
        if self.requested or waiting != self.waiting:
            self.last_call = time.time()  # a call asked, or used what was stored ahead
        self.waiting = waiting
        in_hand = sum(1 for name in running if name not in self.requested)
        room = min(self.parallel - len(running), self.lookahead - len(self.waiting) - in_hand)
        chosen: list[tuple[str, str]] = []
        if room <= 0:
            return chosen
        for directory in sorted(self.directories):
            status = os.path.join(directory, "archive_status")
            for name in ready_segments(status, self.lookahead + self.parallel):
                if (name in running or name in self.stored or name in self.skipped
                        or not self._ready_before_a_call(status, name)):
                    continue
                chosen.append((name, os.path.join(directory, name)))
                if len(chosen) >= room:
                    return chosen
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

    def work(self, wal_name: str, path: str, requested: bool) -> None:
        import hashlib

        from swiftwal.adapters.archive_status import mark_done
        from swiftwal.adapters.compression import compress_bytes
        from swiftwal.adapters.spool import fingerprint
        from swiftwal.adapters.walstore import store_wal

        started = time.monotonic()
        with open(path, "rb") as handle:
            seen = fingerprint(os.fstat(handle.fileno()))
            data = handle.read()
            if fingerprint(os.fstat(handle.fileno())) != seen:
                raise OSError(f"{path} changed while it was read")
        # Both release the GIL: compress beside hashing, on another core.
        compressing = self.compressors.submit(compress_bytes, self.codec, data)
        digest = hashlib.sha256(data).hexdigest()
        outcome, stored = store_wal(self.ctx.storage, wal_name, data, digest, codec=self.codec,
                                    segment_size=self.segment_size, path=path,
                                    identities=self.identities, key=self.key,
                                    compressed=compressing.result())
        self.spool.record(wal_name, seen, digest, stored, outcome)
        self.stored.add(wal_name)
        # Marked .done, it is never asked for: its record would only wait for the sweep.
        marked = not requested and self.mark_done and mark_done(
            os.path.dirname(path), wal_name, seen, self.spool.is_requested)
        if marked:
            self.spool.forget(wal_name)
        elif not requested:
            self.waiting.add(wal_name)
        self.ctx.log.debug(outcome, wal_name=wal_name, bytes=len(data), stored_bytes=stored,
                           requested=requested, marked_done=marked,
                           duration_s=round(time.monotonic() - started, 3))

    def failed(self, wal_name: str, requested: bool, error: Exception) -> None:
        from swiftwal import events

        self.ctx.log.warning(events.WAL_ARCHIVE_FAILED, wal_name=wal_name, worker="failed",
                             requested=requested, error=error.__class__.__name__)
