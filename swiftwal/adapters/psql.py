"""Asking the server through ``psql`` (``PG_BIN_DIR`` or ``PATH``): no driver to
install, and libpq's own defaults and environment (``PGHOST``, ``PGPORT``,
``PGUSER``, ``~/.pgpass``) apply as they do for ``pg_basebackup``.  ``-w``: a
password prompt would hang a timer or a monitoring check."""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Optional

import attrs

from swiftwal.domain import errors

SEPARATOR = "\x1f"


def psql_path(settings) -> str:
    bin_dir = settings.get("PG_BIN_DIR")
    psql = os.path.join(bin_dir, "psql") if bin_dir else shutil.which("psql")
    if not psql or not os.access(psql, os.X_OK):
        raise errors.ConfigError("psql not found", hint="install the PostgreSQL client tools "
                                 "or set PG_BIN_DIR")
    return psql


def run(settings, *commands: str, dbname: str = "postgres", host: Optional[str] = None,
        port: Optional[str] = None, username: Optional[str] = None,
        timeout: float = 60) -> subprocess.CompletedProcess:
    """Each of ``commands`` in turn; unaligned rows, fields split by ``SEPARATOR``."""
    argv = [psql_path(settings), "-X", "-A", "-t", "-w", "-v", "ON_ERROR_STOP=1",
            "-F", SEPARATOR, "-d", dbname]
    for option, value in (("--host", host), ("--port", port), ("--username", username)):
        if value:
            argv.append(f"{option}={value}")
    for command in commands:
        argv += ["-c", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def first_error(done: subprocess.CompletedProcess) -> str:
    lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return (lines[0].replace("psql: error: ", "").replace("ERROR:  ", "") if lines
            else f"psql exited {done.returncode}")


@attrs.frozen
class ArchiverStats:
    """``pg_stat_archiver``: PostgreSQL counts every archive_command that did not
    exit 0, whatever failed (the store, the config, swiftwal not even starting)."""

    failed_count: int
    last_failed_at: Optional[float]  # Unix time; None: no failure since the last reset
    last_failed_wal: Optional[str]


_ARCHIVER_QUERY = ("SELECT failed_count, coalesce(extract(epoch FROM last_failed_time)::text, ''), "
                   "coalesce(last_failed_wal, '') FROM pg_stat_archiver")


def archiver_stats(settings, timeout: float = 30) -> ArchiverStats:
    """Of the server libpq reaches by default (``PGHOST``, ``PGPORT``, ``PGUSER``;
    ``PGDATABASE``, else ``postgres``).  Raises ``ConfigError`` when psql is
    missing, ``ToolFailed`` when it cannot ask, ``SwiftwalError`` on a timeout."""
    try:
        done = run(settings, _ARCHIVER_QUERY, dbname=os.environ.get("PGDATABASE") or "postgres",
                   timeout=timeout)
    except subprocess.TimeoutExpired:
        raise errors.SwiftwalError(f"psql gave no answer within {timeout:g} s") from None
    except OSError as exc:
        raise errors.ToolFailed("psql", None, str(exc)) from None
    fields = done.stdout.rstrip("\n").split(SEPARATOR)
    if done.returncode != 0 or len(fields) != 3:
        raise errors.ToolFailed("psql", done.returncode, first_error(done))
    count, failed_at, wal = fields
    return ArchiverStats(int(count), float(failed_at) if failed_at else None, wal or None)
