"""prune --keep-backups N --keep-wals N [--keep-days D] [--dry-run] [--force].

Also removes what interrupted backups left under ``backups/<KEY>/`` (no
``backup.json``), once they are old enough that no backup can still be
writing there.  Refuses to delete the last backup that verifies.  What to
delete and whether to refuse are the domain's (``prune``, ``leftovers``,
``last_good_backup``); here the store is read, then changed.
"""
from __future__ import annotations

import datetime
import json

from swiftwal import events
from swiftwal.adapters import executor, verification
from swiftwal.commands import catalog
from swiftwal.domain import errors
from swiftwal.domain.keep_days import window_of
from swiftwal.domain.last_good_backup import losing_the_last_good_backup
from swiftwal.domain.leftovers import plan_leftovers
from swiftwal.domain.prune import PrunePolicy, plan_json, plan_prune
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, wal_order_key

#: Hours after which a backup directory without backup.json is taken for an
#: interrupted backup: a running backup writes there, and one day is far
#: longer than the gap between a backup's last write and its metadata.
DEFAULT_INTERRUPTED_HOURS = 24.0


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="remove old backups and the WAL no kept backup needs",
                                 aliases=["cleanup"] if name == "prune" else [])
    parser.add_argument("--keep-backups", type=int, required=True, metavar="N",
                        help="how many of the most recent backups to keep (at least 1)")
    parser.add_argument("--keep-wals", type=int, default=0, metavar="N",
                        help="extra WAL segments kept before the oldest kept backup (0: only what PITR needs)")
    parser.add_argument("--keep-days", type=float, metavar="D",
                        help="recovery window: keep every point in time of the last D days "
                             "recoverable (the backups started inside it, the newest one that "
                             "ended before it, and their WAL)")
    parser.add_argument("--interrupted-after", type=float, default=DEFAULT_INTERRUPTED_HOURS,
                        metavar="HOURS",
                        help="remove leftovers of backups without metadata whose last write is older "
                             f"than this (default {DEFAULT_INTERRUPTED_HOURS:g})")
    parser.add_argument("--force", action="store_true",
                        help="delete even the last backup that verifies")
    parser.add_argument("--dry-run", "-n", action="store_true", help="don't actually delete anything")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    storage = ctx.storage
    now = datetime.datetime.now(datetime.timezone.utc)
    if args.interrupted_after < 0:
        raise errors.UsageError("--interrupted-after must not be negative")
    policy = PrunePolicy(
        keep_backups=args.keep_backups, keep_wals=args.keep_wals,
        recovery_window=window_of(args.keep_days),
        now=now)
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    backups = catalog.load_backups(storage)
    if not backups:
        raise errors.InvariantViolated(f"there is no backup in {storage.describe()}; nothing can be pruned safely",
                                       hint="take a backup first")
    wal = catalog.load_wal(storage, segment_size)
    from swiftwal.adapters.crypto import configured_key

    histories = catalog.load_histories(storage, wal, configured_key(ctx.settings))
    plan = plan_prune(backups, [w.wal_file for w in wal], policy, histories=histories,
                      segment_size=segment_size)
    if plan.delete_backups and not args.force:
        refuse_losing_the_last_good_backup(storage, plan, wal, histories)
    stale, young = plan_leftovers(executor.find_backup_leftovers(storage),
                                  {str(b.key) for b in backups if not b.legacy}, now,
                                  datetime.timedelta(hours=args.interrupted_after))
    for warning in plan.warnings:
        ctx.log.warning(events.PRUNE_WARNING, msg=warning)
    ctx.log.info(events.PRUNE_PLANNED, delete_backups=len(plan.delete_backups),
                 delete_wal=len(plan.delete_wal), interrupted_backups=len(stale), dry_run=args.dry_run)
    if args.json:
        ctx.print(json.dumps({**plan_json(plan, args.dry_run), "interrupted": {
            "delete": sorted(stale), "keep": sorted(young)}}, indent=2))
    else:
        for line in plan.report_lines(verbose=ctx.verbose):
            ctx.print(line)
        for key, items in sorted(stale.items()):
            ctx.print(f"interrupted backup {key}: {len(items)} leftover objects deleted")
        for key in sorted(young):
            ctx.print(f"incomplete backup {key} kept: written to less than "
                      f"{args.interrupted_after:g} hours ago, it may still be running")
    if args.dry_run:
        return 0
    stored_names = catalog.object_names_by_wal(wal)
    deleted = []
    executor.delete_backups(storage, [d.item for d in plan.delete_backups], deleted.append)
    executor.delete_wal(storage, [d.item for d in plan.delete_wal], stored_names, wal_order_key, deleted.append)
    for items in stale.values():
        executor.delete_leftovers(storage, items, deleted.append)
    ctx.log.info(events.PRUNE_COMPLETED, objects_deleted=len(deleted),
                 backups_deleted=len(plan.delete_backups), wal_deleted=len(plan.delete_wal),
                 interrupted_backups_deleted=len(stale))
    return 0


def refuse_losing_the_last_good_backup(storage, plan, wal, histories) -> None:
    """A prune must not leave only backups that would not restore while
    deleting one that would (metadata checks, as ``verify`` without --full)."""
    kept = [d.item for d in plan.keep_backups]
    doomed = [d.item for d in plan.delete_backups]
    reports = verification.verify_records(storage, kept + doomed, wal, histories, False)
    refusal = losing_the_last_good_backup(kept, doomed, reports)
    if refusal is not None:
        raise refusal
