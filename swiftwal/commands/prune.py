"""prune --keep-backups N --keep-wals N [--keep-days N] [--dry-run]."""
from __future__ import annotations

import datetime
import json

from swiftwal import events
from swiftwal.adapters import executor
from swiftwal.commands import catalog
from swiftwal.domain import errors
from swiftwal.domain.prune import PrunePolicy, plan_prune
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, wal_order_key


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="remove old backups and the WAL no kept backup needs",
                                 aliases=["cleanup"] if name == "prune" else [])
    parser.add_argument("--keep-backups", type=int, required=True, metavar="N",
                        help="how many of the most recent backups to keep (at least 1)")
    parser.add_argument("--keep-wals", type=int, default=0, metavar="N",
                        help="extra WAL segments kept before the oldest kept backup (0: only what PITR needs)")
    parser.add_argument("--keep-days", type=float, metavar="N",
                        help="also keep every backup newer than N days")
    parser.add_argument("--dry-run", "-n", action="store_true", help="don't actually delete anything")
    parser.add_argument("--json", action="store_true", help="print the plan as JSON")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    storage = ctx.storage
    now = datetime.datetime.now(datetime.timezone.utc)
    policy = PrunePolicy(
        keep_backups=args.keep_backups, keep_wals=args.keep_wals,
        keep_newer_than=datetime.timedelta(days=args.keep_days) if args.keep_days is not None else None,
        now=now)
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    backups = catalog.load_backups(storage)
    if not backups:
        raise errors.InvariantViolated(f"there is no backup in {storage.describe()}; nothing can be pruned safely",
                                       hint="take a backup first")
    wal = catalog.load_wal(storage, segment_size)
    histories = catalog.load_histories(storage, wal, _decompress)
    plan = plan_prune(backups, [w.wal_file for w in wal], policy, histories=histories,
                      segment_size=segment_size)
    ctx.log.info(events.PRUNE_PLANNED, delete_backups=len(plan.delete_backups),
                 delete_wal=len(plan.delete_wal), dry_run=args.dry_run)
    if args.json:
        ctx.print(json.dumps(plan_json(plan, args.dry_run), indent=2))
    else:
        for line in plan.report_lines(verbose=ctx.verbose):
            ctx.print(line)
    if args.dry_run:
        return 0
    stored_names = catalog.object_names_by_wal(wal)
    deleted = []
    executor.delete_backups(storage, [d.item for d in plan.delete_backups], deleted.append)
    executor.delete_wal(storage, [d.item for d in plan.delete_wal], stored_names, wal_order_key, deleted.append)
    ctx.log.info(events.PRUNE_COMPLETED, objects_deleted=len(deleted),
                 backups_deleted=len(plan.delete_backups), wal_deleted=len(plan.delete_wal))
    return 0


def plan_json(plan, dry_run: bool) -> dict:
    def items(decisions):
        return [{"name": str(getattr(d.item, "key", d.item)), "reason": d.reason} for d in decisions]

    return {"dry_run": dry_run,
            "backups": {"delete": items(plan.delete_backups), "keep": items(plan.keep_backups)},
            "wal": {"delete": items(plan.delete_wal), "keep": items(plan.keep_wal)}}


def _decompress(codec: str, data: bytes) -> bytes:
    from swiftwal.adapters.compression import decompress_bytes

    return decompress_bytes(codec, data)
