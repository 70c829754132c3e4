"""info --prometheus FILE: info's report as metrics for node_exporter's textfile
collector, rendered by prometheus-client (the optional ``prometheus`` extra,
imported only here) and written whole or not at all.

The collector reads ``*.prom`` files whenever it is scraped, so a file written
in place could be read half written: it is written beside, under a hidden name
the collector ignores, fsynced, then renamed over the old one.

Ages are given as asked for, but alert on the ``_timestamp_seconds`` metrics
(``time() - metric``) where you can: a file no timer refreshes any more keeps
its ages frozen, while ``time()`` goes on.
"""
from __future__ import annotations

import datetime
import os
from typing import Iterator, Mapping, Optional

from swiftwal.domain import errors

EXTRA_HINT = "install swiftwal with its prometheus extra: pip install 'swiftwal[prometheus]'"


def require_client() -> None:
    """Raise a configuration error naming the extra unless prometheus-client is there."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError:
        raise errors.ConfigError("info --prometheus needs the prometheus-client package",
                                 hint=EXTRA_HINT) from None


def check_target(path: str) -> None:
    """Refuse a FILE that cannot be written, before the store is read."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise errors.UsageError(f"--prometheus {path} is a directory", hint="give a file name "
                                "ending in .prom in node_exporter's textfile directory")
    if not os.path.isdir(directory):
        raise errors.UsageError(f"--prometheus {path}: no directory {directory}")


def exposition(report: Mapping, archiver=None) -> bytes:
    """``report`` (what ``info --json`` prints) and ``archiver``
    (``swiftwal.adapters.postgres.ArchiverStats`` or None: not known) in the text format."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Report(report, archiver))
    return generate_latest(registry)


def write(path: str, data: bytes) -> None:
    """``data`` at ``path``, replaced by a rename, readable by node_exporter's user."""
    from swiftwal.adapters.atomic import remove_stale_temp_files, temp_beside, write_atomically

    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temp_files(directory)  # left by a run killed mid-write
    try:
        write_atomically(path, data, temp_beside(path), mode=0o644)
    except OSError as exc:
        raise errors.SwiftwalError(f"cannot write {path}: {exc.strerror or exc}") from None


class _Report:
    """A collector of one report: prometheus-client asks it for its families."""

    def __init__(self, report: Mapping, archiver) -> None:
        self.report = report
        self.archiver = archiver

    def collect(self) -> Iterator:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        backups, wal = self.report["backups"], self.report["wal"]
        newest = backups.get("newest") or {}

        def gauge(name: str, text: str, value: Optional[float]):
            if value is not None:
                yield GaugeMetricFamily(name, text, value=value)

        yield from gauge("swiftwal_wal_last_archived_age_seconds",
                         "Seconds since the last WAL segment (in timeline and LSN order) was "
                         "stored, when info ran.", wal.get("age_s"))
        yield from gauge("swiftwal_wal_last_archived_timestamp_seconds",
                         "Unix time the last WAL segment was stored.",
                         _unix(wal.get("last_archived_at")))
        verified = ("Not necessarily verified: this is the newest complete backup "
                    "(see swiftwal_backup_newest_verified_*).")
        yield from gauge("swiftwal_backup_newest_age_seconds",
                         f"Seconds since the newest backup finished, when info ran. {verified}",
                         newest.get("age_s"))
        yield from gauge("swiftwal_backup_newest_finished_timestamp_seconds",
                         f"Unix time the newest backup finished. {verified}",
                         _unix(newest.get("finished_at")))
        good = self.report.get("newest_verified") or {}
        checks = ("The newest backup that verifies as 'swiftwal verify' does without --full: "
                  "its objects present at their recorded sizes, the WAL to make it consistent "
                  "archived.")
        yield from gauge("swiftwal_backup_newest_verified_age_seconds",
                         f"Seconds since it finished, when info ran. {checks}",
                         good.get("age_s"))
        yield from gauge("swiftwal_backup_newest_verified_finished_timestamp_seconds",
                         f"Unix time it finished. {checks}", _unix(good.get("finished_at")))
        yield from gauge("swiftwal_backups", "Complete backups in the store.", backups["count"])
        yield from gauge("swiftwal_backups_stored_bytes",
                         "Bytes the backups take in the store (compressed).",
                         backups["stored_bytes"])
        yield from gauge("swiftwal_wal_files", "WAL files in the store (segments, timeline "
                         "histories, backup history files, partial segments).", wal["count"])
        yield from gauge("swiftwal_wal_stored_bytes",
                         "Bytes the WAL files take in the store (compressed).", wal["stored_bytes"])
        yield from gauge("swiftwal_wal_gaps", "Runs of WAL segments missing from the store "
                         "that stop recovery from some backup short of the end.",
                         len(self.report.get("gaps", ())))
        yield from self._recovery_window(GaugeMetricFamily)
        if self.archiver is not None:
            failures = CounterMetricFamily(
                "swiftwal_archive_failures", "Failed archive_command runs, as counted by "
                "PostgreSQL (pg_stat_archiver.failed_count, since its last reset).")
            failures.add_metric([], self.archiver.failed_count)
            yield failures
            yield from gauge("swiftwal_archive_last_failure_timestamp_seconds",
                             "Unix time of the last failed archive_command "
                             "(pg_stat_archiver.last_failed_time); 0: none since its last reset.",
                             self.archiver.last_failed_at or 0)

    def _recovery_window(self, family) -> Iterator:
        window = self.report.get("recovery_window")
        if not window:
            return
        start = family("swiftwal_recovery_window_start_timestamp_seconds",
                       "Earliest Unix time recovery can reach on this timeline.",
                       labels=["timeline"])
        end = family("swiftwal_recovery_window_end_timestamp_seconds",
                     "Latest Unix time recovery can reach on this timeline.", labels=["timeline"])
        for item in window:
            for metric, moment in ((start, item.get("earliest")), (end, item.get("latest"))):
                if moment is not None:
                    metric.add_metric([str(item["timeline"])], _unix(moment))
        yield from (family for family in (start, end) if family.samples)


def _unix(moment: Optional[str]) -> Optional[float]:
    if moment is None:
        return None
    # fromisoformat reads "Z" only from Python 3.11 on
    parsed = datetime.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.timezone.utc)
    return parsed.timestamp()


def publish(ctx, report: Mapping, path: str) -> None:
    """Add what PostgreSQL knows of archive failures (``pg_stat_archiver``: nothing
    in the store records them) to ``report`` and write it to ``path``.  A server
    that cannot be asked only leaves those metrics out, with a warning."""
    from swiftwal import events
    from swiftwal.adapters import postgres

    try:
        archiver, missed = postgres.archiver_stats(postgres.Server.configured(ctx.settings)), None
    except errors.SwiftwalError as exc:
        archiver, missed = None, exc.message
    data = exposition(report, archiver)
    write(path, data)
    if missed is None:
        ctx.log.info(events.METRICS_WRITTEN, path=path, bytes=len(data))
    else:
        ctx.log.warning(events.METRICS_WRITTEN, path=path, bytes=len(data),
                        msg=f"archive failure metrics left out: psql: {missed}")
