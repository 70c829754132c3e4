"""Part ``incremental``: what an incremental backup stores after a 1 % change, and
what restoring a chain costs, on PostgreSQL 17 (``summarize_wal = on``).

A pgbench database of ``--scale`` (100: about 1.5 GB), backed up in full into a
local directory (zstd), then twice: 1 % of ``pgbench_accounts``' rows changed
(a contiguous range of ``aid``, about 1 % of the table's pages, and the index
pages their new versions need), ``backup --incremental``.  The figure is the
second incremental's stored bytes (data object and manifest) against the full
backup's.  Then the chain of three is restored (``restore latest``: every member
fetched, checked and combined by pg_combinebackup) and timed, and a third
incremental shows the limit of a block-level method: 1 % of the rows scattered
over the whole table (every hundredth ``aid``) changes nearly every page.
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from bench_backup import database_size, pgbench_cluster
from tests.support.pg_cluster import PgCluster, bin_dir_for


def _backup(config: str, cluster: PgCluster, *extra: str) -> str:
    from bench import as_postgres

    as_postgres([*config.split(), "backup", "-c", "fast", "-H", str(cluster.socket_dir),
                 "-p", str(cluster.port), "-U", "postgres", *extra],
                env={"SWIFTWAL_PG_BIN_DIR": str(cluster.bin_dir)})
    listed = as_postgres([*config.split(), "list-backups", "--json"]).stdout
    return json.loads(listed)["backups"][-1]


def _stored(record: dict) -> int:
    return record["stored_size"] + (record["manifest_size"] or 0)


def part_incremental(make_config, work: Path, scale: int, rows: list) -> None:
    """``make_config()`` gives ``swiftwal --config=...`` for a fresh local store."""
    from bench import as_postgres, give

    cluster = pgbench_cluster(work / f"pg-incremental-{scale}", scale,
                              bin_dir=bin_dir_for(17), summarize_wal="on")
    try:
        size = database_size(cluster)
        accounts = int(cluster.sql("SELECT count(*) FROM pgbench_accounts"))
        rows.append(("incremental", f"pgbench scale {scale}, PostgreSQL 17",
                     f"{size / 1e9:.2f} GB on disk, {accounts} accounts"))
        config = make_config()
        full = _backup(config, cluster)
        share = accounts // 100

        def change(first: int) -> None:
            cluster.sql(f"UPDATE pgbench_accounts SET abalance = abalance + 1 "
                        f"WHERE aid BETWEEN {first} AND {first + share - 1}")
            cluster.sql("CHECKPOINT")

        change(1 + accounts // 4)
        first = _backup(config, cluster, "--incremental")
        change(1 + accounts // 2)
        second = _backup(config, cluster, "--incremental")
        for label, record in (("full backup", full), ("incremental after 1 % (first)", first),
                              ("incremental after 1 % (second)", second)):
            rows.append(("incremental, stored bytes (data object + manifest)", label,
                         f"{_stored(record) / 1e6:.1f} MB ({record['raw_size'] / 1e6:.0f} MB "
                         f"of tar), {100 * _stored(record) / _stored(full):.2f} % of the full"))
        ratio = _stored(second) / _stored(full)
        rows.append(("incremental", "second incremental / full backup (target < 5 %)",
                     f"{100 * ratio:.2f} % ({'met' if ratio < 0.05 else 'NOT met'})"))

        target = give(work / "incremental-restore") / "data"
        started = time.monotonic()
        as_postgres([*config.split(), "restore", "--no-recovery-settings", "latest", str(target)],
                    env={"SWIFTWAL_PG_BIN_DIR": str(cluster.bin_dir)})
        seconds = time.monotonic() - started
        restored = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        rows.append(("incremental", "restore of the chain of 3 (pg_combinebackup 17)",
                     f"{seconds:.1f} s, {restored / 1e9:.2f} GB restored, "
                     f"{size / seconds / 1e6:.0f} MB/s of database size"))
        shutil.rmtree(target.parent, ignore_errors=True)

        cluster.sql(f"UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid % 100 = 7")
        cluster.sql("CHECKPOINT")
        scattered = _backup(config, cluster, "--incremental")
        rows.append(("incremental, stored bytes (data object + manifest)",
                     "incremental after 1 % scattered (every 100th row)",
                     f"{_stored(scattered) / 1e6:.1f} MB, "
                     f"{100 * _stored(scattered) / _stored(full):.1f} % of the full"))
    finally:
        cluster.destroy()
