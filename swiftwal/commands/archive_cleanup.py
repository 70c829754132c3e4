"""archive-cleanup %r: pg_archivecleanup's rule, applied to the store."""
from __future__ import annotations

from swiftwal import events
from swiftwal.adapters import executor
from swiftwal.commands import catalog
from swiftwal.domain.cleanup import plan_archive_cleanup
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, wal_order_key


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="remove WAL older than a restart point "
                                            "(archive_cleanup_command '... archive-cleanup %%r')")
    parser.add_argument("restart_name", help="the oldest file to keep (%%r), or a .backup file name")
    parser.add_argument("--dry-run", "-n", action="store_true", help="don't actually delete anything")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    wal = catalog.load_wal(ctx.storage, segment_size)
    plan = plan_archive_cleanup([w.wal_file for w in wal], args.restart_name, segment_size=segment_size)
    stored_names = catalog.object_names_by_wal(wal)
    deleted: list[str] = []
    if args.dry_run:
        for wal_file in sorted(plan.delete, key=wal_order_key):
            ctx.print(f"would remove {wal_file}")
    else:
        executor.delete_wal(ctx.storage, plan.delete, stored_names, wal_order_key, deleted.append)
    ctx.log.info(events.CLEANUP_COMPLETED, restart_name=args.restart_name,
                 wal_deleted=len(plan.delete), dry_run=args.dry_run)
    return 0
