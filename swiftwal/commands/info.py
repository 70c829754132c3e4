"""info / status: one screen on the state of the archive (newest backup and its age,
WAL archived up to where and when, sizes, gaps, what the next prune would delete);
--json for monitoring.  Phases: load the catalogue, summarise (``swiftwal.domain.summary``),
show."""
from __future__ import annotations

import datetime
import json
from typing import Optional

from swiftwal.commands import catalog
from swiftwal.domain.errors import UsageError
from swiftwal.domain.keep_days import window_of
from swiftwal.domain.prune import PrunePolicy
from swiftwal.domain.summary import prune_preview, render, summarise
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="the state of the archive on one screen",
                                 aliases=["status"] if name == "info" else [])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--keep-backups", type=int, metavar="N",
                        help="show what 'prune --keep-backups N' would delete")
    parser.add_argument("--keep-wals", type=int, metavar="N")
    parser.add_argument("--keep-days", type=float, metavar="N")
    parser.add_argument("--prometheus", metavar="FILE",
                        help="write the report to FILE for node_exporter's textfile collector "
                        "(replaced atomically) instead of showing it")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    unused = [flag for flag, value in (("--keep-wals", args.keep_wals),
                                       ("--keep-days", args.keep_days)) if value is not None]
    if unused and args.keep_backups is None:
        raise UsageError(f"{unused[0]} has no effect without --keep-backups",
                         hint="it shapes the preview of 'prune --keep-backups N'")
    if args.prometheus:
        from swiftwal.adapters import metrics

        metrics.require_client()
        metrics.check_target(args.prometheus)
    storage = ctx.storage
    now = datetime.datetime.now(datetime.timezone.utc)
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    backups = catalog.load_backups(storage)
    wal = catalog.load_wal(storage, segment_size)
    from swiftwal.adapters.crypto import configured_key

    histories = catalog.load_histories(storage, wal, configured_key(ctx.settings))
    report = summarise(backups, wal, now, segment_size, histories)
    report["store"] = storage.describe()
    report["prune"] = _prune_preview(args, backups, wal, now, segment_size, histories)
    if args.prometheus:
        verified = _newest_verified(storage, backups, wal, histories,
                                    configured_key(ctx.settings), now)
        metrics.publish(ctx, {**report, "newest_verified": verified}, args.prometheus)
    if args.json:
        ctx.print(json.dumps(report, indent=2))
    elif not args.prometheus:
        for line in render(report):
            ctx.print(line)
    return 0


def _newest_verified(storage, backups, wal, histories, key, now) -> Optional[dict]:
    """The newest backup that verifies as ``verify`` without ``--full`` checks it (its
    objects there at their recorded sizes, the WAL to make it consistent archived)."""
    from swiftwal.adapters.verification import verify_records

    for record in reversed(backups):
        (report,) = verify_records(storage, [record], wal, histories, False, key, backups)
        if report.ok:
            end = record.finished_at or record.key.time
            return {"key": str(record.key), "finished_at": end.isoformat(),
                    "age_s": round((now - end).total_seconds(), 1)}
    return None


def _prune_preview(args, backups, wal, now, segment_size, histories) -> Optional[dict]:
    if args.keep_backups is None or not backups:
        return None
    policy = PrunePolicy(keep_backups=args.keep_backups, keep_wals=args.keep_wals or 0,
                         recovery_window=window_of(args.keep_days), now=now)
    return prune_preview(backups, wal, policy, segment_size, histories)
