"""list-backups and list-wal: the short and --verbose reports of 0.2.2, and --json."""
from __future__ import annotations

import json

from swiftwal.commands import catalog
from swiftwal.domain.sizes import human_size
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, wal_order_key


def add_arguments(commands, name: str) -> None:
    helps = {"list-backups": "list the backups in the store", "list-wal": "list the archived WAL files"}
    parser = commands.add_parser(name, help=helps[name])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=list_backups if name == "list-backups" else list_wal)


def list_backups(ctx, args) -> int:
    backups = catalog.load_backups(ctx.storage)
    if args.json:
        ctx.print(json.dumps({"backups": [b.to_json_dict() for b in backups]}, indent=2))
        return 0
    if not ctx.verbose:
        for record in backups:
            ctx.print(str(record.key))
        return 0
    rows = [(human_size(b.total_stored_size), str(b.key), b.backup_type,
             str(b.parent) if b.parent is not None else "", b.data_object) for b in backups]
    _table(ctx, ("Size", "Timestamp", "Type", "Parent", "Object Name"), rows)
    ctx.print()
    ctx.print(f"Total Size: {human_size(sum(b.total_stored_size or 0 for b in backups))}")
    return 0


def list_wal(ctx, args) -> int:
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    wal = sorted(catalog.load_wal(ctx.storage, segment_size), key=lambda w: wal_order_key(w.wal_file))
    if args.json:
        ctx.print(json.dumps({"wal": [{
            "name": str(w.wal_file), "object": w.stored.object_name, "stored_size": w.size,
            "compression": w.stored.compression, "legacy": w.stored.legacy,
            "last_modified": w.last_modified.isoformat() if w.last_modified else None,
        } for w in wal]}, indent=2))
        return 0
    if not ctx.verbose:
        for item in wal:
            ctx.print(str(item.wal_file))
        return 0
    rows = [(human_size(w.size), w.last_modified.strftime("%Y%m%dT%H%M%SZ") if w.last_modified else "?",
             w.stored.object_name) for w in wal]
    _table(ctx, ("Size", "Timestamp", "Object Name"), rows)
    ctx.print()
    ctx.print(f"Total Size: {human_size(sum(w.size for w in wal))}")
    return 0


def _table(ctx, header, rows) -> None:
    widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    ctx.print(line(header))
    ctx.print(line(["=" * w for w in widths]))
    for row in rows:
        ctx.print(line(row))
