"""``info``'s report on the archive: the newest backup and its age, WAL archived up
to where and when, sizes, gaps, what can be recovered, what the next prune would
delete; as JSON-ready data (``summarise``, ``prune_preview``) and as the screen
that shows it (``render``).

The dict is a contract: ``info --json`` prints it (``docs/schemas``) and
``info --prometheus`` (``swiftwal.adapters.metrics``) reads it.
"""
from __future__ import annotations

import datetime
from typing import Dict, List, Mapping, Optional

from swiftwal.domain.chains import chain_groups, restorable
from swiftwal.domain.gaps import backup_gaps, find_gaps
from swiftwal.domain.monitoring import duration
from swiftwal.domain.prune import PrunePolicy, plan_prune
from swiftwal.domain.recoverable import recoverable_windows
from swiftwal.domain.sizes import human_size
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walnames import Segment, wal_order_key

INFO_FORMAT = 1


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
        "recovery_window": windows_json(restorable(backups), segments, histories or {},
                                        segment_size),
        "backups": {
            "count": len(backups),
            "stored_bytes": sum(b.total_stored_size or 0 for b in backups),
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
        # a full backup with the incremental ones built on it, and what they take together
        "chains": [group.to_json_dict(backups) for group in chain_groups(backups)],
    }


def windows_json(backups, segments, histories: Mapping[int, TimelineHistory],
                 segment_size: int) -> List[dict]:
    """Per timeline, the earliest and latest point in time recovery can reach now."""
    stored = {w.wal_file: w.last_modified for w in segments}
    return [w.to_json_dict() for w in recoverable_windows(backups, stored, histories,
                                                          segment_size)]


def prune_preview(backups, wal, policy: PrunePolicy, segment_size: int,
                  histories: Mapping[int, TimelineHistory]) -> dict:
    """What ``prune`` with ``policy`` would delete and keep, and what could be
    recovered afterwards."""
    plan = plan_prune(backups, [w.wal_file for w in wal], policy, histories=histories,
                      segment_size=segment_size)
    doomed = set(plan.wal_to_delete)
    left = [w for w in wal if isinstance(w.wal_file, Segment) and w.wal_file not in doomed]
    kept = [d.item for d in plan.keep_backups]
    return {"delete_backups": [str(b.key) for b in plan.backups_to_delete],
            "keep_backups": [str(b.key) for b in kept],
            "delete_wal_count": len(plan.delete_wal),
            "recovery_window": windows_json(restorable(kept), left, histories, segment_size),
            "warnings": list(plan.warnings)}


def _duration(seconds: Optional[float]) -> str:
    return "unknown" if seconds is None else f"{duration(max(0, int(seconds)))} ago"


def render(report: dict) -> List[str]:
    """The report as ``info`` shows it on a screen."""
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
    for chain in report.get("chains", ()):
        if chain["incremental"]:  # a full backup alone is shown by the lines above
            lines.append(f"Chain:          {chain['full']} and {chain['incremental']} "
                         f"incremental, {human_size(chain['stored_bytes'])}"
                         + ("" if chain["complete"] else " (BROKEN: see verify)"))
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
