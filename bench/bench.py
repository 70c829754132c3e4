"""Side-by-side figures: swiftwal, WAL-E 1.1.1 and pgBackRest 2.45 on this machine.

Run as root through ``bash bench/run`` (see bench/README.md).  Everything runs
in one process tree: a single-node Swift and a PostgreSQL 15 cluster started
here and stopped at the end, tools interleaved in rotated order, medians.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.pg_cluster import PgCluster, make_reachable  # noqa: E402
from tests.support.swift_server import SwiftServer  # noqa: E402
from bench_cpu import enter_run_group, leave_run_group, run_cpu_seconds  # noqa: E402
from bench_restore import Archives, part_first_restore, part_standby  # noqa: E402
from bench_targets import report  # noqa: E402
from bench_workers import Workers, part_idle_worker, wait_for_argv_gone  # noqa: E402

SWIFTWAL = os.environ.get("SWIFTWAL_BIN", "/opt/swiftwal/venv/bin/swiftwal")
#: Another installed swiftwal (an earlier version) timed in the same run, beside SWIFTWAL,
#: in the one-call part: figures of two runs are not comparable on a shared machine.
BASELINE = os.environ.get("SWIFTWAL_BASELINE_BIN")
WALE = os.environ.get("WALE_BIN", "/opt/wal-e-venv/bin/wal-e")
PGBACKREST = shutil.which("pgbackrest")
SWIFT_CLI = os.path.join(os.path.dirname(SWIFTWAL), "swift")
RUNUSER = ["runuser", "-u", "postgres", "--"]


def as_postgres(argv, cwd="/", env=None, check=True):
    result = subprocess.run([*RUNUSER, *argv], cwd=cwd, capture_output=True, text=True,
                            env={"PATH": os.environ["PATH"], **(env or {})})
    if check and result.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exited {result.returncode}: {result.stderr[-800:]}")
    return result


def give(path: Path, mode: int = 0o700) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, "postgres", "postgres")
    os.chmod(path, mode)
    return path


def write_secret(path: Path, text: str, mode: int = 0o700) -> str:
    path.write_text(text)
    os.chmod(path, mode)
    shutil.chown(path, "postgres", "postgres")
    return str(path)


class Tools:
    """How each tool archives and fetches, as shell commands PostgreSQL can run."""

    def __init__(self, work: Path, swift: SwiftServer, cluster: PgCluster | None):
        self.work, self.swift, self.cluster = work, swift, cluster
        self.cache = give(work / "cache")
        self.workers = Workers(work, self.cache, [SWIFTWAL, BASELINE])

    def swiftwal_config(self, kind: str, binary: str = SWIFTWAL, **extra) -> str:
        lines = {"CACHE_DIR": str(self.cache), **extra}
        if kind == "swift":
            lines.update({"OS_AUTH_URL": self.swift.auth_url, "OS_USERNAME": self.swift.user,
                          "OS_PASSWORD": self.swift.key, "CONTAINER": "b-" + uuid.uuid4().hex[:10]})
        else:
            lines["STORAGE"] = "file://" + str(give(self.work / ("local-" + uuid.uuid4().hex[:8])))
        path = self.work / f"swiftwal-{uuid.uuid4().hex[:8]}.conf"
        write_secret(path, "".join(f"{k}={v}\n" for k, v in lines.items()), 0o600)
        return f"{binary} --config={path}"

    def wale(self) -> str | None:
        if not os.access(WALE, os.X_OK):
            return None
        prefix = f"swift://w-{uuid.uuid4().hex[:10]}/wal"
        script = self.work / f"wale-{uuid.uuid4().hex[:8]}"
        write_secret(script, "#!/bin/sh\n"
                     f"export WALE_SWIFT_PREFIX={prefix} SWIFT_AUTHURL={self.swift.auth_url} "
                     f"SWIFT_USER={self.swift.user} SWIFT_PASSWORD={self.swift.key} "
                     "SWIFT_AUTH_VERSION=1 WALE_LOG_DESTINATION=stderr\n"
                     f"exec {WALE} \"$@\"\n")
        # WAL-E puts into an existing container only.
        subprocess.run([SWIFT_CLI, "post", prefix.split("/")[2]], check=True, capture_output=True,
                       env={"PATH": os.environ["PATH"], "ST_AUTH": self.swift.auth_url,
                            "ST_USER": self.swift.user, "ST_KEY": self.swift.key})
        return str(script)

    def pgbackrest(self, compress: str = "zst", asynchronous: bool = True) -> str | None:
        if not PGBACKREST or self.cluster is None:
            return None
        name = uuid.uuid4().hex[:8]
        repo, spool = give(self.work / f"pgbr-{name}"), give(self.work / f"pgbr-spool-{name}")
        conf = self.work / f"pgbackrest-{name}.conf"
        c = self.cluster
        write_secret(conf, f"[global]\nrepo1-path={repo}\nspool-path={spool}\n"
                     f"compress-type={compress}\nprocess-max=2\n"
                     f"archive-async={'y' if asynchronous else 'n'}\nlog-level-console=warn\n"
                     f"log-level-file=off\nlock-path={spool}\n"
                     f"[bench]\npg1-path={c.data_dir}\npg1-socket-path={c.socket_dir}\n"
                     f"pg1-port={c.port}\n", 0o600)
        as_postgres([PGBACKREST, f"--config={conf}", "--stanza=bench", "stanza-create"])
        return f"{PGBACKREST} --config={conf} --stanza=bench"


def median_ms(values):
    return round(statistics.median(values) * 1000, 1)


def timed(argv_shell: str, cwd: str, ok: tuple = (0,)) -> float:
    """Seconds ``argv_shell`` took, run as postgres in ``cwd``; an exit status not in ``ok``
    raises."""
    started = time.monotonic()
    result = subprocess.run([*RUNUSER, "sh", "-c", argv_shell], cwd=cwd, capture_output=True,
                            text=True, env={"PATH": os.environ["PATH"]})
    elapsed = time.monotonic() - started
    if result.returncode not in ok:
        raise RuntimeError(f"{argv_shell[:80]} exited {result.returncode}: {result.stderr[-600:]}")
    return elapsed


def part_one_call(tools: Tools, segments: list[Path], calls: int, rows: list) -> None:
    """Median wall time of single archive calls on distinct segments (idle server).

    Every swiftwal worker of the run is stopped before each sample, of any tool: no call
    finds one left over from an earlier call, and no tool is timed beside one.  The
    "worker running" rows are the exception they name: an archive-wal of another segment
    into the same store, just before, has started the worker the timed call finds."""
    plain = give(tools.work / "one-call")
    give(plain / "archive_status")  # empty: look-ahead (swiftwal's, WAL-E's) has nothing to do
    sample = [_owned_copy(seg, plain) for seg in segments[:calls]]
    primers = [_owned_copy(seg, plain) for seg in segments[calls:2 * calls]]
    contenders = {
        "cp floor": lambda: (lambda p: f"cp {p} {give(tools.work / 'cp-dest')}/"),
        "swiftwal (swift, zstd)": lambda: _swiftwal_push(tools, "swift", "zstd"),
        "swiftwal (swift, gzip)": lambda: _swiftwal_push(tools, "swift", "gzip"),
        "swiftwal (local, zstd)": lambda: _swiftwal_push(tools, "local", "zstd"),
        "pgBackRest archive-push (zst, sync)": lambda: _pgbr_push(tools, "zst"),
        "pgBackRest archive-push (gz, sync)": lambda: _pgbr_push(tools, "gz"),
        "WAL-E wal-push": lambda: _wale_push(tools),
    }
    warm = {f"swiftwal ({kind}, zstd, worker running)":
            (lambda kind=kind: _swiftwal_push(tools, kind, "zstd")) for kind in ("swift", "local")}
    if BASELINE:
        contenders["swiftwal baseline (swift, zstd)"] = \
            lambda: _swiftwal_push(tools, "swift", "zstd", BASELINE)
        contenders["swiftwal baseline (local, zstd)"] = \
            lambda: _swiftwal_push(tools, "local", "zstd", BASELINE)
    commands = {}
    for name, make in {**contenders, **warm}.items():
        try:
            command = make()
        except Exception as exc:  # a peer that cannot run here is reported, not fatal
            rows.append(("one archive call", name, f"unavailable: {exc}"[:90]))
            continue
        if command is not None:
            commands[name] = command
    times = {name: [] for name in commands}
    order = list(commands)
    for index, seg in enumerate(sample):
        order = order[1:] + order[:1]  # rotate so no tool always runs first
        for name in order:
            tools.workers.stop()
            if name in warm:
                if index >= len(primers):
                    continue
                timed(commands[name](primers[index]), str(plain))
            times[name].append(timed(commands[name](seg), str(plain)))
    tools.workers.stop()
    for name in commands:
        if times[name]:
            rows.append(("one archive call, median ms", name, median_ms(times[name]),
                         f"({len(times[name])} calls)" if name in warm else ""))
    # The same segments fetched back, each into a directory of its own: a
    # single restore_command call on an idle server, nothing fetched ahead.
    fetch = {name: command for name, command in commands.items()
             if name != "cp floor" and name not in warm}
    times = {name: [] for name in fetch}
    for index, seg in enumerate(sample):
        order = order[1:] + order[:1]
        for name in [n for n in order if n in fetch]:
            alone = give(tools.work / f"one-restore-{uuid.uuid4().hex[:8]}")
            give(alone / "pg_wal")
            argv = fetch[name](seg).rsplit(" ", 1)[0].replace("archive-wal", "restore-wal")
            argv = argv.replace("archive-push", "archive-get").replace("wal-push", "wal-fetch")
            # A swiftwal call's prefetch worker goes on fetching the following segments
            # for a recovery that will never ask: the next sample would be timed beside it.
            tools.workers.stop()
            times[name].append(timed(f"{argv} {seg.name} {alone}/pg_wal/RECOVERYXLOG", str(alone)))
    tools.workers.stop()
    for name in fetch:
        label = name.replace("archive-push", "archive-get").replace("wal-push", "wal-fetch")
        rows.append(("one restore call, median ms", label, median_ms(times[name])))


def _owned_copy(segment: Path, directory: Path) -> Path:
    shutil.copy(segment, directory / segment.name)
    shutil.chown(directory / segment.name, "postgres", "postgres")
    return directory / segment.name


def _swiftwal_push(tools, kind, codec, binary=SWIFTWAL):
    base = tools.swiftwal_config(kind, binary, COMPRESSION=codec)
    return lambda p: f"{base} archive-wal {p}"


def _pgbr_push(tools, compress):
    base = tools.pgbackrest(compress, asynchronous=False)
    if base is None:
        raise RuntimeError("pgbackrest is not installed")
    return lambda p: f"{base} archive-push {p}"


def _wale_push(tools):
    script = tools.wale()
    if script is None:
        raise RuntimeError(f"{WALE} is not installed")
    return lambda p: f"{script} wal-push {p}"


def part_backlog(tools: Tools, cluster: PgCluster, count: int, rows: list,
                 run: str = "", index: int = 0) -> tuple[dict, list[str]]:
    """Segments per second when PostgreSQL's own archiver drains ``count`` .ready files;
    ``run`` names the run in the rows when the part is repeated, the ``index``-th, which
    starts with the ``index``-th tool, so that no tool always drains first."""
    status = cluster.data_dir / "pg_wal" / "archive_status"
    contenders = {
        "swiftwal (swift, zstd, look-ahead)": (
            lambda: tools.swiftwal_config("swift", COMPRESSION="zstd"), "archive-wal %p",
            "restore-wal {name} {dest}"),
        "swiftwal (local, zstd, look-ahead)": (
            lambda: tools.swiftwal_config("local", COMPRESSION="zstd"), "archive-wal %p",
            "restore-wal {name} {dest}"),
        "pgBackRest (zst, async, 2 processes)": (
            lambda: _some(tools.pgbackrest("zst")), "archive-push %p",
            "archive-get {name} {dest}"),
        "WAL-E (default pool)": (lambda: _some(tools.wale()), "wal-push %p",
                                 "wal-fetch --prefetch 8 {name} {dest}"),
        "cp floor (cp %p into a directory)": (
            lambda: "cp", f"%p {give(tools.work / 'cp-backlog')}/%f",
            f"{tools.work / 'cp-backlog'}/{{name}} {{dest}}"),
    }
    fetchers = {}
    speed_rows: list = []
    cpu_rows: list = []
    names = list(contenders)
    for name in names[index % len(names):] + names[:index % len(names)]:
        make, push, fetch = contenders[name]
        try:
            base = make()
        except Exception as exc:
            rows.append((f"backlog{run}", name, f"unavailable: {exc}"[:90]))
            continue
        command = f"{base} {push}"
        fetchers[name] = f"{base} {fetch}"
        segments = _reset_backlog(cluster, status, count)
        cluster.configure({"archive_command": command})
        started, busy_before, cpu_before = time.monotonic(), busy_cpu_seconds(), run_cpu_seconds()
        cluster.reload()
        deadline = started + 600
        while not all((status / f"{n}.done").exists() for n in segments):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: backlog not drained in 600 s")
            time.sleep(0.02)
        elapsed, busy = time.monotonic() - started, busy_cpu_seconds() - busy_before
        cpu = busy if cpu_before is None else run_cpu_seconds() - cpu_before
        cluster.configure({"archive_command": "false"})
        cluster.reload()
        tools.workers.stop()  # the next tool is not timed beside this one's idle worker
        speed_rows.append((f"backlog{run}, segments/s", name, round(len(segments) / elapsed, 1)))
        cpu_rows.append((f"backlog{run}, CPU ms per segment", name,
                         round(cpu / len(segments) * 1000, 1),
                         f"({'machine' if cpu_before is None else 'run'}; machine busy "
                         f"{busy / elapsed / os.cpu_count():.0%})"))
    order = {name: position for position, name in enumerate(names)}
    rows.extend(sorted(speed_rows, key=lambda row: order[row[1]]))
    rows.extend(sorted(cpu_rows, key=lambda row: order[row[1]]))
    rows.append((f"backlog{run}, segments/s",
                 "ceiling: raw parallel PUTs (swiftclient, 4 threads)",
                 _raw_puts(tools, [cluster.data_dir / "pg_wal" / n for n in segments])))
    return fetchers, segments


def busy_cpu_seconds() -> float:
    """CPU time the whole machine spent on anything but idling, from /proc/stat:
    the tool, its workers, PostgreSQL and the local Swift alike."""
    with open("/proc/stat") as stat:
        ticks = [int(v) for v in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # idle, iowait


def _raw_puts(tools: Tools, paths: list[Path]) -> float:
    """Segments per second for plain PUTs of the uncompressed files, 4 at a
    time, one connection per thread, outside PostgreSQL's archiver."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import swiftclient

    local = threading.local()
    swift = tools.swift
    container = f"raw-{uuid.uuid4().hex[:8]}"

    def conn():
        if not hasattr(local, "conn"):
            local.conn = swiftclient.Connection(authurl=swift.auth_url, user=swift.user,
                                                key=swift.key, auth_version="1")
        return local.conn

    conn().put_container(container)
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda p: conn().put_object(container, p.name, p.read_bytes()), paths))
    return round(len(paths) / (time.monotonic() - started), 1)


def part_feed(tools: Tools, fetchers: dict, names: list[str], rows: list) -> None:
    """Segments per second when fetched one call at a time in recovery's order."""
    for label, command in fetchers.items():
        data_dir = give(tools.work / f"feed-{uuid.uuid4().hex[:8]}")
        give(data_dir / "pg_wal")
        dest = data_dir / "pg_wal" / "RECOVERYXLOG"
        started = time.monotonic()
        try:
            for name in names:
                timed(command.format(name=name, dest=dest), str(data_dir))
            rows.append(("recovery feed, segments/s", label,
                         round(len(names) / (time.monotonic() - started), 1)))
        except RuntimeError as exc:
            rows.append(("recovery feed, segments/s", label, f"failed: {exc}"[:90]))
        # Fetching ahead past the end, for nobody: the next tool is not timed beside it.
        tools.workers.stop()
        wait_for_argv_gone(str(data_dir))


def _some(value):
    if value is None:
        raise RuntimeError("not installed")
    return value


def _reset_backlog(cluster: PgCluster, status: Path, count: int) -> list[str]:
    """Mark the same ``count`` segments ``.ready`` again (archive_command is ``false``)."""
    names = sorted(p.name for p in (cluster.data_dir / "pg_wal").iterdir()
                   if len(p.name) == 24)[:count]
    time.sleep(0.5)
    for name in names:
        for suffix in (".done",):
            if (status / f"{name}{suffix}").exists():
                os.rename(status / f"{name}{suffix}", status / f"{name}.ready")
    return names


def part_compression(segments: list[Path], rows: list) -> None:
    import zlib

    import zstandard

    data = [p.read_bytes() for p in segments[:16]]
    raw = sum(len(d) for d in data)
    for name, compress in (("gzip -6 (zlib)", lambda d: zlib.compress(d, 6)),
                           ("zstd -3", zstandard.ZstdCompressor(level=3).compress)):
        started = time.process_time()
        stored = sum(len(compress(d)) for d in data)
        cpu = time.process_time() - started
        rows.append(("WAL compression (16 pgbench segments)", name,
                     f"ratio {raw / stored:.2f}, {raw / cpu / 1e6:.0f} MB/s CPU"))


WAL_PARTS = ("compression", "one", "backlog", "feed", "first-restore", "standby", "idle")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--backlog", type=int, default=64)
    parser.add_argument("--runs", type=int, default=1,
                        help="how many times the backlog part runs (each run's ratios shown)")
    parser.add_argument("--parts", default=",".join((*WAL_PARTS, "backup", "prune")))
    parser.add_argument("--scale", type=int, default=100,
                        help="pgbench scale of the backup and incremental parts' database "
                             "(100: about 1.5 GB)")
    parser.add_argument("--prune-names", type=int, default=1_000_000)
    parser.add_argument("--prune-backups", type=int, default=1000)
    args = parser.parse_args()
    parts = args.parts.split(",")
    if args.calls < 2 or args.runs < 1:
        parser.error("--calls must be 2 or more, --runs 1 or more")
    runs = [""] if args.runs == 1 else [f" (run {k} of {args.runs})"
                                        for k in range(1, args.runs + 1)]
    work = make_reachable(tempfile.mkdtemp(prefix="swiftwal-bench-"))
    swift = None
    clusters: list = []
    rows: list = []
    load = os.getloadavg()
    grouped = enter_run_group()
    try:
        if any(part in parts for part in (*WAL_PARTS, "backup")):
            swift = SwiftServer.start(work / "swift")
        if any(part in parts for part in WAL_PARTS):
            _wal_parts(work, swift, parts, args, runs, rows, clusters)
        if "backup" in parts:
            from bench_backup import part_backup

            part_backup(lambda c: Tools(work, swift, c), work, args.scale, rows)
        if "incremental" in parts:
            from bench_incremental import part_incremental

            part_incremental(lambda: Tools(work, swift, None).swiftwal_config("local"), work,
                             args.scale, rows)
        if "prune" in parts:
            from bench_prune import part_prune

            part_prune(args.prune_names, args.prune_backups, 3, rows)
        load_after = os.getloadavg()
    finally:
        for cluster in clusters:
            cluster.destroy()
        if swift is not None:
            swift.stop()
        shutil.rmtree(work, ignore_errors=True)
        leave_run_group()
    print(f"\nload average before {load[0]:.1f}, after {load_after[0]:.1f} "
          f"({os.cpu_count()} CPUs); PostgreSQL 15, local single-node Swift; CPU per segment "
          + ("of this run's processes (a cpuacct group)" if grouped else "of the whole machine"))
    width = max(len(r[1]) for r in rows)
    for part, name, value, *note in rows:
        shown = " ".join(str(v) for v in (value, *note) if v != "")
        print(f"| {part} | {name:<{width}} | {shown} |")
    targets = report(rows, runs)
    if targets:
        print("\nIssue 16's targets, swiftwal over its peer in this run:\n")
        print("| target | figures | bound | verdict |\n|---|---|---|---|")
        for line in targets:
            print("| " + " | ".join(line) + " |")
    return 0


def _wal_parts(work: Path, swift: SwiftServer, parts: list, args, runs: list, rows: list,
               clusters: list) -> None:
    cluster = PgCluster.init(work / "pg", settings={
        "wal_level": "replica", "archive_mode": "on", "archive_command": "false",
        "wal_keep_size": "4GB", "max_wal_size": "4GB", "checkpoint_timeout": "1h"})
    clusters.append(cluster)
    cluster.start()
    cluster.wait_ready()
    cluster.pgbench_init(scale=6)
    while len([p for p in (cluster.data_dir / "pg_wal").iterdir()
               if len(p.name) == 24]) < args.backlog + 2:
        cluster.pgbench(transactions=2000)
        cluster.switch_wal()
    segments = sorted(p for p in (cluster.data_dir / "pg_wal").iterdir()
                      if len(p.name) == 24)[:args.backlog]
    sample = give(work / "sample")
    copies = []
    for seg in segments:
        shutil.copy(seg, sample / seg.name)
        copies.append(sample / seg.name)
    tools = Tools(work, swift, cluster)
    if "compression" in parts:
        part_compression(copies, rows)
    if "one" in parts:
        part_one_call(tools, copies, args.calls, rows)
    if "backlog" in parts or "feed" in parts:
        for index, run in enumerate(runs if "backlog" in parts else [""]):
            fetchers, names = part_backlog(tools, cluster, args.backlog, rows, run, index)
        if "feed" in parts:
            part_feed(tools, fetchers, names, rows)
    if "idle" in parts:
        plain = give(work / "idle")
        give(plain / "archive_status")
        part_idle_worker(tools, lambda command: timed(command, str(plain)),
                         [_owned_copy(seg, plain) for seg in copies[-2:]], 10.0, rows)
    if "first-restore" in parts or "standby" in parts:
        archives = Archives(work, lambda c: Tools(work, swift, c), as_postgres)
        clusters.append(archives.cluster)
        if "first-restore" in parts:
            part_first_restore(archives, timed, min(args.calls, 5), rows)
        if "standby" in parts:
            part_standby(archives, timed, args.calls, rows)


if __name__ == "__main__":
    sys.exit(main())
