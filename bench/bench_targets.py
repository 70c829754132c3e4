"""Issue 16's targets for the per-segment path: each as swiftwal's figure over the peer's,
taken in the same run, beside its bound (or the figure itself where the bound is absolute).

A target is (what, part, swiftwal's row, the peer's row or None, ">=" or "<=", bound); rows
are the runner's ``(part, name, value[, note])``, and only numeric values count.
"""
from __future__ import annotations

import operator

SWIFT, LOCAL = "swiftwal (swift, zstd, look-ahead)", "swiftwal (local, zstd, look-ahead)"
PGBR, WALE = "pgBackRest (zst, async, 2 processes)", "WAL-E (default pool)"
CP = "cp floor (cp %p into a directory)"
ONE = "one archive call, median ms"
FIRST = "first restore call after restore, median ms"

BACKLOG = (
    ("backlog into Swift, segments/s, vs WAL-E", "segments/s", SWIFT, WALE, ">=", 1.2),
    ("backlog into Swift, CPU per segment, vs WAL-E", "CPU ms per segment",
     SWIFT, WALE, "<=", 1.0),
    ("backlog into the local store, segments/s, vs pgBackRest async zst", "segments/s",
     LOCAL, PGBR, ">=", 1.0),
    ("backlog into the local store, segments/s, vs the cp floor", "segments/s", LOCAL, CP,
     ">=", 0.9),
)
OTHERS = (
    ("one archive-wal call into Swift, median, vs WAL-E wal-push", ONE,
     "swiftwal (swift, zstd)", "WAL-E wal-push", "<=", 0.25),
    ("one archive-wal call into the local store, median, vs pgBackRest sync zst", ONE,
     "swiftwal (local, zstd)", "pgBackRest archive-push (zst, sync)", "<=", 1.1),
    ("one archive-wal call into Swift, worker running, median, vs WAL-E wal-push", ONE,
     "swiftwal (swift, zstd, worker running)", "WAL-E wal-push", "<=", 0.2),
    ("first restore-wal after restore (local store), median, vs pgBackRest archive-get", FIRST,
     "swiftwal (local, zstd)", "pgBackRest archive-get (zst, sync)", "<=", 2.0),
    ("first restore-wal after restore (Swift), median, vs pgBackRest archive-get", FIRST,
     "swiftwal (swift, zstd)", "pgBackRest archive-get (zst, sync)", "<=", 2.0),
    ("standby, restore-wal of a missing segment (Swift), ms",
     "standby, restore-wal of a missing segment, median ms after the first",
     "swiftwal (swift, zstd)", None, "<=", 30),
    ("standby, restore-wal of a missing segment (local store), ms",
     "standby, restore-wal of a missing segment, median ms after the first",
     "swiftwal (local, zstd)", None, "<=", 30),
    ("recovery feed (local store), segments/s, vs pgBackRest zst archive-get",
     "recovery feed, segments/s", LOCAL, PGBR, ">=", 1.0),
    ("recovery feed (Swift), segments/s, vs WAL-E wal-fetch", "recovery feed, segments/s",
     SWIFT, WALE, ">=", 10.0),
    ("idle worker (Swift), CPU ms/s", "idle worker, CPU ms/s",
     "swiftwal worker after one archive-wal call (swift)", None, "<=", 1.0),
    ("idle worker (local store), CPU ms/s", "idle worker, CPU ms/s",
     "swiftwal worker after one archive-wal call (local)", None, "<=", 1.0),
)
_COMPARE = {">=": operator.ge, "<=": operator.le}


def report(rows: list, runs: list[str]) -> list[tuple[str, str, str, str]]:
    """(target, figures, bound, verdict) for each target with swiftwal's figure in ``rows``;
    ``runs`` are the backlog part's run labels.  The local store's backlog target counts
    its runs met."""
    values = {(row[0], row[1]): row[2] for row in rows
              if isinstance(row[2], (int, float))}
    seen = {(row[0], row[1]) for row in rows}
    targets = [(f"{what}{run}", f"backlog{run}, {part}", *rest)
               for run in runs for what, part, *rest in BACKLOG] + list(OTHERS)
    lines, met_runs = [], []
    for what, part, ours, theirs, compare, bound in targets:
        if (part, ours) not in seen:
            continue
        mine = values.get((part, ours))
        peer = values.get((part, theirs)) if theirs else 1.0
        if mine is None or not peer:
            lines.append((what, "no figure" if mine is None else f"{mine} vs no peer figure",
                          f"{compare} {bound}", "not measured"))
            continue
        figure = mine / peer
        met = _COMPARE[compare](figure, bound)
        shown = f"{mine} vs {peer}: {figure:.2f}x" if theirs else f"{mine}"
        lines.append((what, shown, f"{compare} {bound}{'x' if theirs else ''}",
                      "met" if met else "MISSED"))
        if theirs == PGBR and part.endswith("segments/s") and part.startswith("backlog"):
            met_runs.append(met)
    if len(runs) > 1 and met_runs:
        lines.append(("backlog into the local store vs pgBackRest, runs met",
                      f"{sum(met_runs)} of {len(met_runs)}", f"{len(runs)} of {len(runs)}",
                      "met" if all(met_runs) and len(met_runs) == len(runs) else "MISSED"))
    return lines
