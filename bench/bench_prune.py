"""Part ``prune``: one prune plan over many synthetic WAL names and backups.

The archive is one timeline of ``names`` consecutive 16 MiB segments with
``backups`` backups spread evenly over it; the policy keeps the newest 7
backups and 10 extra segments.  Times: parsing the names (what ``prune``
does with a listing) and planning, each the best of ``rounds``.
"""
from __future__ import annotations

import datetime
import time

SEGMENT = 16 << 20


def synthetic(names: int, backups: int):
    from swiftwal.domain.backup import BackupKey, BackupRecord
    from swiftwal.domain.lsn import Lsn
    from swiftwal.domain.walnames import Segment

    per_log = (1 << 32) // SEGMENT
    wal = [f"00000001{n // per_log:08X}{n % per_log:08X}" for n in range(1, names + 1)]
    epoch = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    records = []
    for i in range(backups):
        number = 1 + (i * names) // backups
        start, stop = Lsn(number * SEGMENT + 40), Lsn(number * SEGMENT + 4000)
        key = BackupKey(epoch + datetime.timedelta(hours=i))
        records.append(BackupRecord(
            key=key, label="", start_lsn=start, stop_lsn=stop, timeline=1,
            start_segment=Segment.holding(1, start, SEGMENT),
            stop_segment=Segment.from_lsn(1, stop, SEGMENT), pg_version="15.4",
            system_identifier="7300000000000000001", segment_size=SEGMENT, raw_size=1,
            stored_size=1, data_object=f"backups/{key}/base.tar.zst", compression="zstd",
            sha256=None, wal_included=False, finished_at=key.time))
    return wal, records


def part_prune(names: int, backups: int, rounds: int, rows: list) -> None:
    from swiftwal import PrunePolicy, plan_prune
    from swiftwal.domain.walnames import parse_wal_filename

    wal, records = synthetic(names, backups)
    best_parse = best_plan = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        files = [parse_wal_filename(n, SEGMENT) for n in wal]
        best_parse = min(best_parse, time.perf_counter() - started)
        started = time.perf_counter()
        plan = plan_prune(records, files, PrunePolicy(keep_backups=7, keep_wals=10),
                          segment_size=SEGMENT)
        best_plan = min(best_plan, time.perf_counter() - started)
    kept = len(plan.keep_wal)
    assert len(plan.delete_backups) == backups - 7 and kept + len(plan.delete_wal) == names
    what = f"{names:,} WAL names, {backups:,} backups"
    rows.append(("prune planning, s (target <= 5)", f"plan_prune over {what}",
                 f"{best_plan:.2f} s (keeps {kept:,} segments)"))
    rows.append(("prune planning, s", f"parsing the {names:,} names", f"{best_parse:.2f} s"))
