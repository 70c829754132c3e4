"""Marking a segment the archive worker stored ahead as archived, in
PostgreSQL's ``pg_wal/archive_status``, as its archiver does after a
successful ``archive_command``: ``NAME.ready`` renamed ``NAME.done``.

Called only for a segment whose upload the store confirmed and whose
record the spool holds (``swiftwal.commands.archive_async``), and done only
if the segment file is still the very file that was read (its
``spool.fingerprint``), its ``.ready`` still exists and
``swiftwal.domain.done_marking.may_mark_done`` allows it.  The rename is
atomic and followed by an fsync of ``archive_status``.  Whatever happens
around it loses nothing: killed before the rename, the segment stays
``.ready`` and PostgreSQL asks for it (its call finds the record, or
stores it again as already archived); a rename lost in a crash before the
fsync has the same outcome.  Any failure only leaves the segment to its
call: ``mark_done`` never raises for one.

For tests, ``SWIFTWAL_STOP_AT`` (read once, when this module is imported)
names a point at which the process stops itself with SIGSTOP, so that a
test can kill it exactly there: ``before-rename`` (the segment stored,
recorded and found fit to mark) or ``before-fsync`` (renamed, the directory
not yet flushed).
"""
from __future__ import annotations

import os
import signal
import threading

from swiftwal.domain.done_marking import may_mark_done

_STOP_AT = os.environ.get("SWIFTWAL_STOP_AT", "")
_READY, _DONE = ".ready", ".done"


def mark_done(wal_dir: str, wal_name: str, seen: tuple[int, ...], is_requested) -> bool:
    """Rename ``wal_name``'s ``.ready`` to ``.done`` and flush the directory;
    whether it was renamed.  ``seen``: the segment's fingerprint when it was
    read; ``is_requested(wal_name)``: whether a call waits for it now."""
    from swiftwal.adapters.spool import fingerprint

    status = os.path.join(wal_dir, "archive_status")
    try:
        # While its .ready exists PostgreSQL neither recycles nor removes the
        # segment, so the file compared here is the one the rename speaks for.
        if fingerprint(os.stat(os.path.join(wal_dir, wal_name))) != tuple(seen):
            return False
        ready = [entry[:-len(_READY)] for entry in os.listdir(status) if entry.endswith(_READY)]
        if not may_mark_done(wal_name, ready, is_requested(wal_name)):
            return False
        _stop_if("before-rename")
        os.rename(os.path.join(status, wal_name + _READY), os.path.join(status, wal_name + _DONE))
    except OSError:
        return False
    _stop_if("before-fsync")
    try:
        fd = os.open(status, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass  # renamed all the same; lost in a crash, it only means a call again
    return True


def _stop_if(point: str) -> None:
    if _STOP_AT == point:
        # Sent to this thread: a signal sent to the process is taken by another
        # thread, and this one went on (past the rename) before the stop reached it.
        signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
