"""info / status: one screen on the state of the archive (newest backup and its age,
WAL archived up to where and when, sizes, gaps, what the next prune would delete);
--json for monitoring.  Phases: load the catalogue, summarise (pure), show."""
from __future__ import annotations

import datetime
import json
from typing import Dict, List, Mapping, Optional

from swiftwal.commands import catalog
from swiftwal.commands.listing import human_size
from swiftwal.domain.errors import SwiftwalError, UsageError
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walchain import wal_chain
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment, wal_order_key

INFO_FORMAT = 1


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
        metrics.publish(ctx, report, args.prometheus)
    if args.json:
        ctx.print(json.dumps(report, indent=2))
    elif not args.prometheus:
        for line in render(report):
            ctx.print(line)
    return 0


def _age(moment: Optional[datetime.datetime], now: datetime.datetime) -> Optional[float]:
    return None if moment is None else round((now - moment).total_seconds(), 1)


def summarise(backups, wal, now: datetime.datetime, segment_size: int,
              histories: Optional[Mapping[int, TimelineHistory]] = None) -> Dict[str, object]:
    """The report as JSON-ready data (no I/O)."""
    newest = backups[-1] if backups else None
    newest_end = None if newest is None else (newest.finished_at or newest.key.time)
    segments = sorted((w for w in wal if isinstance(w.wal_file, Segment)),
                      key=lambda w: wal_order_key(w.wal_file))
    last = segments[-1] if segments else None
    return {
        "format": INFO_FORMAT,
        "now": now.isoformat(),
        "recovery_window": windows_json(backups, segments, histories or {}, segment_size),
        "backups": {
            "count": len(backups),
            "stored_bytes": sum(b.stored_size or 0 for b in backups),
            "newest": None if newest is None else {
                "key": str(newest.key), "finished_at": newest_end.isoformat(),
                "age_s": _age(newest_end, now), "legacy": newest.legacy},
            "oldest": None if not backups else str(backups[0].key),
        },
        "wal": {
            "count": len(wal),
            "stored_bytes": sum(w.size for w in wal),
            "last_segment": None if last is None else str(last.wal_file),
            "last_archived_at": None if last is None or last.last_modified is None
            else last.last_modified.isoformat(),
            "age_s": None if last is None else _age(last.last_modified, now),
        },
        "gaps": (backup_gaps(backups, [w.wal_file for w in segments], histories or {},
                             segment_size)
                 if backups else find_gaps([w.wal_file for w in segments], 0, segment_size)),
    }


def windows_json(backups, segments, histories: Mapping[int, TimelineHistory],
                 segment_size: int) -> List[dict]:
    """Per timeline, the earliest and latest point in time recovery can reach now."""
    from swiftwal.domain.recoverable import recoverable_windows

    stored = {w.wal_file: w.last_modified for w in segments}
    return [w.to_json_dict() for w in recoverable_windows(backups, stored, histories,
                                                          segment_size)]


def backup_gaps(backups, segments: List[Segment], histories: Mapping[int, TimelineHistory],
                segment_size: int) -> List[dict]:
    """Every gap that stops recovery from some backup short of the end of the
    archive, along the timeline it follows (what ``verify --all`` reports)."""
    found = []
    for record in backups:  # oldest first: a newer backup's gap is a tail of an older one's
        try:
            chain = wal_chain(record, histories, segments)
        except SwiftwalError:
            continue  # a history verify reports as unreadable: not a gap
        for gap in chain.gaps:
            if not any(gap.last == seen.last
                       and seen.first.number(segment_size) <= gap.first.number(segment_size)
                       for seen in found):
                found.append(gap)
    found.sort(key=lambda g: (g.first.number(segment_size), g.first.timeline))
    return [{"timeline": g.first.timeline, "first": str(g.first), "last": str(g.last),
             "count": g.count} for g in found]


def find_gaps(segments: List[Segment], from_number: int, segment_size: int) -> List[dict]:
    """Missing segments inside each timeline's archived range, from ``from_number`` on
    (older WAL is pruned on purpose).  A timeline's range ends at its last archived segment:
    its children start where it stopped."""
    by_timeline: Dict[int, List[int]] = {}
    for segment in segments:
        number = segment.number(segment_size)
        if number >= from_number:
            by_timeline.setdefault(segment.timeline, []).append(number)
    gaps = []
    for timeline, numbers in sorted(by_timeline.items()):
        numbers.sort()
        for before, after in zip(numbers, numbers[1:]):
            if after - before > 1:
                gaps.append({"timeline": timeline,
                             "first": str(Segment.from_number(timeline, before + 1, segment_size)),
                             "last": str(Segment.from_number(timeline, after - 1, segment_size)),
                             "count": after - before - 1})
    return gaps


def _prune_preview(args, backups, wal, now, segment_size, histories) -> Optional[dict]:
    if args.keep_backups is None or not backups:
        return None
    from swiftwal.commands.prune import window_of
    from swiftwal.domain.prune import PrunePolicy, plan_prune

    policy = PrunePolicy(keep_backups=args.keep_backups, keep_wals=args.keep_wals or 0,
                         recovery_window=window_of(args.keep_days), now=now)
    plan = plan_prune(backups, [w.wal_file for w in wal], policy, histories=histories,
                      segment_size=segment_size)
    doomed = set(plan.wal_to_delete)
    left = [w for w in wal if isinstance(w.wal_file, Segment) and w.wal_file not in doomed]
    kept = [d.item for d in plan.keep_backups]
    return {"delete_backups": [str(b.key) for b in plan.backups_to_delete],
            "keep_backups": [str(b.key) for b in kept],
            "delete_wal_count": len(plan.delete_wal),
            "recovery_window": windows_json(kept, left, histories, segment_size),
            "warnings": list(plan.warnings)}


def _duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "unknown"
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h ago"
    if hours:
        return f"{hours}h {minutes}m ago"
    return f"{minutes}m {secs}s ago"


def render(report: dict) -> List[str]:
    b, w = report["backups"], report["wal"]
    newest = b["newest"]
    lines = [f"Store:          {report['store']}"]
    lines.append("Newest backup:  " + ("none" if newest is None else
                 f"{newest['key']}, finished {_duration(newest['age_s'])}"
                 + (" (0.2.2 layout)" if newest["legacy"] else "")))
    lines.append(f"Backups:        {b['count']}, {human_size(b['stored_bytes'])}"
                 + (f", oldest {b['oldest']}" if b["oldest"] else ""))
    lines.append("WAL archived:   " + ("nothing" if w["last_segment"] is None else
                 f"up to {w['last_segment']}, {_duration(w['age_s'])}"))
    lines.append(f"WAL files:      {w['count']}, {human_size(w['stored_bytes'])}")
    if report["gaps"]:
        for gap in report["gaps"]:
            lines.append(f"GAP:            {gap['count']} segments missing on timeline "
                         f"{gap['timeline']}: {gap['first']} to {gap['last']}")
    else:
        lines.append("Gaps:           none")
    for window in report["recovery_window"]:
        lines.append(f"Recoverable:    {_window_text(window)}")
    prune = report["prune"]
    if prune is not None:
        shown = ", ".join(prune["delete_backups"]) or "no backup"
        lines.append(f"Next prune:     would delete {shown} and {prune['delete_wal_count']} WAL files")
        lines.append(f"                would keep {', '.join(prune['keep_backups'])}")
        for window in prune["recovery_window"]:
            lines.append(f"  afterwards:   {_window_text(window)}")
        lines.extend(f"  warning:      {warning}" for warning in prune["warnings"])
    return lines


def _window_text(window: dict) -> str:
    where = f"timeline {window['timeline']}: "
    if window["earliest"] is None:
        return where + "nothing (no backup with the WAL to become consistent)"
    latest = window["latest"] or "an unknown time"
    return (where + f"from {window['earliest']} (backup {window['earliest_backup']}) "
            f"to {latest} (WAL {window['latest_segment']})")
