"""Parts ``first-restore`` and ``standby``: restore_command right after a restore, and a
standby asking, again and again, for the segment past the end of the archive.

Both need base backups, so they share a small cluster of their own (pgbench scale 1) that
archives every segment into swiftwal's two stores and pgBackRest's repository at once.
Each tool's backup is taken without its WAL (swiftwal without ``--xlog``), so that the
first segment recovery asks for comes from the archive, as it does for pgBackRest.
"""
from __future__ import annotations

import re
import shutil
import statistics
from pathlib import Path

from bench_backup import fresh_dir, pgbench_cluster

_START = re.compile(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$", re.M)
SWIFTWAL_KINDS = ("swift", "local")


def first_segment(data_dir: Path) -> str:
    """The segment recovery of a restored ``data_dir`` needs first (its backup_label's)."""
    return _START.search((data_dir / "backup_label").read_text()).group(1)


class Archives:
    """A started cluster archiving into every store the parts read, with one backup each."""

    def __init__(self, work: Path, make_tools, as_postgres):
        self.work, self.as_postgres = work, as_postgres
        self.cluster = pgbench_cluster(work / "pg-restore", 1)
        try:
            self.tools = make_tools(self.cluster)
            # Each swiftwal in the chain stores its own segment only: a worker storing ahead
            # may mark what it stored .done, and the archiver would then never call the rest
            # of the chain for those segments.  Archiving is not what these parts measure.
            self.swiftwal = {kind: self.tools.swiftwal_config(kind, COMPRESSION="zstd",
                                                              ARCHIVE_LOOKAHEAD=0)
                             for kind in SWIFTWAL_KINDS}
            self.pgbr = self.tools.pgbackrest("zst", asynchronous=False)
            pushes = [f"{base} archive-wal %p" for base in self.swiftwal.values()]
            if self.pgbr:
                pushes.append(f"{self.pgbr} archive-push %p")
            self.cluster.configure({"archive_command": " && ".join(pushes)})
            self.cluster.reload()
            c = self.cluster
            for base in self.swiftwal.values():
                as_postgres(["sh", "-c", f"{base} backup -c fast -H {c.socket_dir} "
                                         f"-p {c.port} -U postgres"])
            if self.pgbr:
                as_postgres(["sh", "-c", f"{self.pgbr} --type=full --start-fast backup"])
        except BaseException:
            self.cluster.destroy()
            raise

    def restored(self, name: str, kind: str | None = None, standby: bool = False) -> Path:
        """A fresh data directory restored by swiftwal (``kind``'s store) or by pgBackRest."""
        target = fresh_dir(self.work, f"restored-{name}")
        if kind is None:
            command = f"{self.pgbr} --pg1-path={target} restore"
        else:
            command = f"{self.swiftwal[kind]} restore latest {target}" + \
                (" --standby" if standby else "")
        self.as_postgres(["sh", "-c", command])
        return target

    def destroy(self) -> None:
        self.cluster.destroy()


def part_first_restore(archives: Archives, timed, samples: int, rows: list) -> None:
    """The first restore-wal (archive-get) call in a data directory just restored, asking for
    the first segment its recovery needs; a restore per sample.  swiftwal's workers are
    stopped after each call, never between the restore and it: whatever the restore left
    running for that call is part of what is measured."""
    fetchers = {f"swiftwal ({kind}, zstd)": (kind, f"{base} restore-wal")
                for kind, base in archives.swiftwal.items()}
    if archives.pgbr:
        fetchers["pgBackRest archive-get (zst, sync)"] = (None, None)
    else:
        rows.append(("first restore call after restore", "pgBackRest", "unavailable"))
    times: dict[str, list[float]] = {name: [] for name in fetchers}
    order = list(fetchers)
    workers = archives.tools.workers
    for _ in range(samples):
        order = order[1:] + order[:1]
        for name in order:
            kind, command = fetchers[name]
            workers.stop()
            target = archives.restored("first", kind)
            if command is None:
                command = f"{archives.pgbr} --pg1-path={target} archive-get"
            segment = first_segment(target)
            times[name].append(timed(f"{command} {segment} {target}/pg_wal/RECOVERYXLOG",
                                     str(target)))
            workers.stop()
            shutil.rmtree(target, ignore_errors=True)
    for name, values in times.items():
        rows.append(("first restore call after restore, median ms", name,
                     round(statistics.median(values) * 1000, 1), f"({samples} restores)"))


def part_standby(archives: Archives, timed, calls: int, rows: list) -> None:
    """restore-wal of the segment past the end of the archive (the one the primary is still
    writing), from a standby's data directory (restored with ``--standby``), ``calls`` times
    in a row: the median of the calls after the first (which may start a worker)."""
    missing = archives.cluster.sql("SELECT pg_walfile_name(pg_current_wal_lsn())").strip()
    workers = archives.tools.workers
    for kind, base in archives.swiftwal.items():
        workers.stop()
        target = archives.restored("standby", kind, standby=True)
        assert (target / "standby.signal").exists(), "restore --standby wrote no standby.signal"
        times = [timed(f"{base} restore-wal {missing} {target}/pg_wal/RECOVERYXLOG",
                       str(target), ok=(1,)) for _ in range(calls)]
        workers.stop()
        shutil.rmtree(target, ignore_errors=True)
        rows.append(("standby, restore-wal of a missing segment, median ms after the first",
                     f"swiftwal ({kind}, zstd)", round(statistics.median(times[1:]) * 1000, 1),
                     f"(first {times[0] * 1000:.0f} ms, {calls} calls)"))
