"""Part ``backup``: base backup and restore of one pgbench database, MB/s and
peak RSS of each tool's whole process tree, against the pipe limits.

MB/s is the database's on-disk size (``pg_database_size`` summed, as the
tools read it) divided by wall time.  Peak RSS is sampled every 20 ms as the
sum of ``VmRSS`` over the process and all its descendants (runuser's own few
MB included), so ``pg_basebackup`` and ``zstd`` children are counted.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from pathlib import Path

from tests.support.pg_cluster import PgCluster

RUNUSER = ["runuser", "-u", "postgres", "--"]


def _tree(pid: int) -> list[int]:
    found = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            kids = [int(p) for p in handle.read().split()]
    except OSError:
        return found
    for kid in kids:
        found.extend(_tree(kid))
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measured(shell: str, cwd: str = "/", env: dict | None = None) -> tuple[float, float]:
    """Run ``shell`` as postgres: (seconds, peak RSS of its process tree in MiB)."""
    started = time.monotonic()
    process = subprocess.Popen([*RUNUSER, "sh", "-c", shell], cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               env={"PATH": os.environ["PATH"], **(env or {})})
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], sum(_rss_kib(p) for p in _tree(process.pid)))
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = process.communicate()
    elapsed = time.monotonic() - started
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"exited {process.returncode}: {err.strip()[-300:]}")
    return elapsed, peak[0] / 1024


def fresh_dir(work: Path, name: str) -> Path:
    path = work / f"{name}-{uuid.uuid4().hex[:8]}"
    path.mkdir(mode=0o700)
    shutil.chown(path, "postgres", "postgres")
    return path


def pgbench_cluster(directory: Path, scale: int, bin_dir=None, **settings) -> PgCluster:
    """A started cluster holding a checkpointed pgbench database of ``scale``, archiving
    to nowhere (``archive_command = true``); the caller destroys it."""
    cluster = PgCluster.init(directory, bin_dir=bin_dir, settings={
        "wal_level": "replica", "archive_mode": "on", "archive_command": "true",
        "max_wal_size": "4GB", "checkpoint_timeout": "1h", **settings})
    try:
        cluster.start()
        cluster.wait_ready()
        cluster.pgbench_init(scale=scale)
        cluster.sql("CHECKPOINT")
    except BaseException:
        cluster.destroy()
        raise
    return cluster


def database_size(cluster: PgCluster) -> int:
    """Bytes of every database, as the MB/s figures count them."""
    return sum(int(x) for x in cluster.sql(
        "SELECT pg_database_size(oid) FROM pg_database").split())


def part_backup(make_tools, work: Path, scale: int, rows: list) -> None:
    """Back up and restore a pgbench database of ``scale`` with every tool;
    ``make_tools(cluster)`` gives the runner's ``Tools`` for that cluster."""
    cluster = pgbench_cluster(work / f"pg-backup-{scale}", scale)
    try:
        size = database_size(cluster)
        rows.append(("backup/restore database", f"pgbench scale {scale}",
                     f"{size / 1e6:.0f} MB on disk"))
        _run_all(make_tools(cluster), work, cluster, size, rows)
    finally:
        cluster.destroy()


def _run_all(tools, work: Path, cluster: PgCluster, size: int, rows: list) -> None:
    conn = f"-h {cluster.socket_dir} -p {cluster.port} -U postgres"
    pg_bin = cluster.bin_dir
    results: dict[str, tuple[float, float]] = {}

    def record(label: str, action, *args) -> None:
        try:
            seconds, rss = action(*args)
        except Exception as exc:  # a peer that cannot run here is reported, not fatal
            rows.append(("backup/restore", label, f"failed: {exc}"[:400]))
            return
        results[label] = (seconds, rss)
        rows.append(("backup/restore, MB/s (peak RSS MiB)", label,
                     f"{size / seconds / 1e6:.0f} MB/s ({rss:.0f} MiB)"))

    # Pipe limits first: the local file also feeds the restore limit.
    local = fresh_dir(work, "limit") / "base.tar.zst"
    record("limit: pg_basebackup -Ft -X fetch | zstd -T0 > /dev/null", measured,
           f"{pg_bin}/pg_basebackup {conn} -c fast -Ft -X fetch -D - | zstd -q -T0 > /dev/null")
    measured(f"{pg_bin}/pg_basebackup {conn} -c fast -Ft -X fetch -D - | zstd -q -T0 > {local}")
    target = fresh_dir(work, "untar")
    record("limit: zstd -d | tar -x (local file)", measured,
           f"zstd -q -d -c {local} | tar -x -C {target}")
    shutil.rmtree(target, ignore_errors=True)

    base = tools.swiftwal_config("swift", COMPRESSION="zstd")
    record("swiftwal backup --xlog (swift, zstd)", measured,
           f"{base} backup --xlog -c fast -H {cluster.socket_dir} -p {cluster.port} -U postgres")
    target = fresh_dir(work, "swiftwal-restore")
    record("swiftwal restore (swift, zstd)", measured,
           f"{base} restore --no-recovery-settings latest {target}")
    shutil.rmtree(target, ignore_errors=True)
    # The same into a local directory: what the local Swift's own work costs.
    local_base = tools.swiftwal_config("local", COMPRESSION="zstd")
    record("swiftwal backup --xlog (local, zstd)", measured,
           f"{local_base} backup --xlog -c fast -H {cluster.socket_dir} -p {cluster.port} "
           f"-U postgres")
    target = fresh_dir(work, "swiftwal-restore")
    record("swiftwal restore (local, zstd)", measured,
           f"{local_base} restore --no-recovery-settings latest {target}")
    shutil.rmtree(target, ignore_errors=True)

    pgbr = tools.pgbackrest("zst", asynchronous=False)
    if pgbr is None:
        rows.append(("backup/restore", "pgBackRest", "unavailable: not installed"))
    else:
        cluster.configure({"archive_command": f"{pgbr} archive-push %p"})
        cluster.reload()
        record("pgBackRest backup (posix, zst, 2 processes)", measured,
               f"{pgbr} --type=full --start-fast backup")
        target = fresh_dir(work, "pgbr-restore")
        record("pgBackRest restore (posix, zst, 2 processes)", measured,
               f"{pgbr} --pg1-path={target} restore")
        shutil.rmtree(target, ignore_errors=True)
        cluster.configure({"archive_command": "true"})
        cluster.reload()

    wale = tools.wale()
    if wale is None:
        rows.append(("backup/restore", "WAL-E", "unavailable: not installed"))
    else:
        cluster.stop()
        try:
            record("WAL-E backup-push --while-offline", measured,
                   f"{wale} backup-push --while-offline {cluster.data_dir}")
            target = fresh_dir(work, "wale-restore")
            record("WAL-E backup-fetch", measured, f"{wale} backup-fetch {target} LATEST")
            shutil.rmtree(target, ignore_errors=True)
        finally:
            cluster.start()
            cluster.wait_ready()

    def ratio(a: str, b: str, name: str) -> None:
        if a in results and b in results:
            rows.append(("backup/restore ratios", name,
                         f"{results[b][0] / results[a][0]:.2f}x"))

    ratio("swiftwal backup --xlog (swift, zstd)",
          "limit: pg_basebackup -Ft -X fetch | zstd -T0 > /dev/null",
          "swiftwal backup / pipe limit (target >= 0.8)")
    ratio("swiftwal backup --xlog (swift, zstd)", "pgBackRest backup (posix, zst, 2 processes)",
          "swiftwal backup / pgBackRest backup (target >= 1.2)")
    ratio("swiftwal restore (swift, zstd)", "limit: zstd -d | tar -x (local file)",
          "swiftwal restore / local decompress-and-untar (target >= 0.8)")
