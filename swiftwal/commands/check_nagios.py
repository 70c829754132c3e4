"""check --nagios: a Nagios/Icinga plugin on how long ago WAL was last archived
and the newest backup finished.  Phases: read the thresholds, list the store,
judge (``swiftwal.domain.monitoring``), print one line; the exit status is the
plugin's: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.

Whatever goes wrong still ends in one status line (``as_plugin``, which the
CLI wraps around the whole command): a store that cannot be reached or refuses
is CRITICAL (the guidelines keep UNKNOWN for the plugin's own failures, and
such a store also stops archive_command); a damaged backup record too; bad
options, settings or anything unexpected are UNKNOWN."""
from __future__ import annotations

import datetime
from typing import Callable

from swiftwal.domain import errors
from swiftwal.domain.monitoring import AgeCheck, Status, Thresholds, Verdict, failure, judge

# (warning key, default, critical key, default), in seconds.  An hour without an
# archived segment is unusual on a busy server; a daily backup is late after 26 hours
# and two are missing after 50.
ARCHIVE_THRESHOLDS = ("CHECK_ARCHIVE_WARNING", 3600, "CHECK_ARCHIVE_CRITICAL", 7200)
BACKUP_THRESHOLDS = ("CHECK_BACKUP_WARNING", 93600, "CHECK_BACKUP_CRITICAL", 180000)
_CRITICAL_ERRORS = (errors.StorageError, errors.IntegrityError)


def run(ctx, args) -> int:
    try:
        verdict = _judge_store(ctx, args)
    except errors.SwiftwalError as error:
        verdict = failure_verdict(error)
    ctx.print(verdict.line)
    return int(verdict.status)


def _judge_store(ctx, args) -> Verdict:
    from swiftwal.commands import catalog
    from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment, wal_order_key

    if args.json:
        raise errors.UsageError("--nagios and --json exclude each other")
    archive_limits = thresholds(ctx.settings, *ARCHIVE_THRESHOLDS)
    backup_limits = thresholds(ctx.settings, *BACKUP_THRESHOLDS)
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    storage = ctx.storage
    backups = catalog.load_backups(storage)
    segments = [w for w in catalog.load_wal(storage, segment_size)
                if isinstance(w.wal_file, Segment)]
    now = datetime.datetime.now(datetime.timezone.utc)
    # The segments and backup info reports as the last and the newest.
    last = max(segments, key=lambda w: wal_order_key(w.wal_file), default=None)
    archived_at = None if last is None else last.last_modified
    newest = backups[-1] if backups else None
    finished_at = None if newest is None else (newest.finished_at or newest.key.time)
    return judge([
        AgeCheck("archive_age", "WAL archived", "no WAL archived", _age(archived_at, now),
                 archive_limits),
        AgeCheck("backup_age", "newest backup finished", "no backup", _age(finished_at, now),
                 backup_limits)])


def _age(moment, now: datetime.datetime):
    return None if moment is None else (now - moment).total_seconds()


def thresholds(settings, warning_key: str, warning: int, critical_key: str,
               critical: int) -> Thresholds:
    warning = settings.integer(warning_key, warning)
    critical = settings.integer(critical_key, critical)
    if warning > critical:
        raise errors.ConfigError(f"{warning_key} ({warning}) is above {critical_key} ({critical})",
                                 hint="the warning threshold must not exceed the critical one")
    return Thresholds(warning, critical)


def failure_verdict(error: BaseException) -> Verdict:
    if isinstance(error, errors.SwiftwalError):
        hint = f" (hint: {error.hint})" if error.hint else ""
        status = Status.CRITICAL if isinstance(error, _CRITICAL_ERRORS) else Status.UNKNOWN
        return failure(status, f"{error.message}{hint}")
    if isinstance(error, KeyboardInterrupt):
        return failure(Status.UNKNOWN, "interrupted")
    return failure(Status.UNKNOWN, f"internal error: {error.__class__.__name__}: {error}")


def wanted(argv) -> bool:
    """``check --nagios`` anywhere in ``argv``: even a command line argparse refuses
    must answer as a plugin."""
    return "--nagios" in argv and "check" in argv


def as_plugin(command: Callable[[], int], debug: bool = False) -> int:
    """Run ``command`` (the whole CLI call), turning any error that escapes it,
    from parsing the options on, into one status line and a status of 0..3."""
    try:
        status = command()
        return status if status in (0, 1, 2, 3) else int(Status.UNKNOWN)
    except SystemExit as stop:  # --help
        return Status.OK if stop.code in (0, None) else _report(failure(
            Status.UNKNOWN, f"exited {stop.code}"))
    except BaseException as error:
        if debug and not isinstance(error, KeyboardInterrupt):
            import traceback

            traceback.print_exc()
        return _report(failure_verdict(error))


def _report(verdict: Verdict) -> int:
    try:
        print(verdict.line, flush=True)
    except OSError:  # a closed pipe: the status still says it
        pass
    return int(verdict.status)
