"""Which recovery PostgreSQL is in, as restore_command sees it: its working
directory is the data directory, where ``recovery.signal`` asks for targeted
recovery and ``standby.signal`` for a standby.

restore-wal's plain command, its fast path and its prefetch worker (which
runs in the caller's working directory) all end the same way on a failure:
``restore_failure``.
"""
from __future__ import annotations

import os

from swiftwal.domain import errors


def in_targeted_recovery() -> bool:
    return os.path.exists("recovery.signal") and not os.path.exists("standby.signal")


def on_standby() -> bool:
    """``standby.signal``: PostgreSQL polls at the end of the archive, for ever."""
    return os.path.exists("standby.signal")


def restore_failure(error: errors.SwiftwalError) -> errors.SwiftwalError:
    """``error`` as restore-wal reports it: during targeted recovery, whatever
    it is (the store down, no such store, a malformed setting), relayed with
    ``EXIT_ABORT_RECOVERY``, above 125, so that PostgreSQL aborts instead of
    taking it for "not in the archive" and ending recovery early, at the
    wrong point; otherwise ``error`` itself (a standby keeps polling)."""
    if in_targeted_recovery() and error.exit_status != errors.EXIT_ABORT_RECOVERY:
        return errors.RelayedError.of(error, errors.EXIT_ABORT_RECOVERY)
    return error
