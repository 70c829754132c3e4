"""What one WAL segment costs to hash and compress: CPU ms per 16 MiB segment of
real pgbench WAL for each digest (SHA-256, BLAKE2b, MD5, xxh3-64, xxh3-128) and
each zstd level (ratio, compress and decompress), medians over the segments.

Run as root with the venv that has swiftwal's dependencies:

    /opt/swiftwal/venv/bin/python bench/bench_walcodec.py [--segments 24] [--scale 10]

It starts a throwaway PostgreSQL 15 cluster (``tests/support/pg_cluster``),
runs pgbench until ``--segments`` whole segments were written after a
checkpoint (none of them ended early by a WAL switch, whose zero padding
would flatter every ratio), copies them out, stops and removes the cluster,
then measures.  CPU time is the measuring thread's (``time.thread_time``),
so other load on the machine moves the figures less than wall time would.
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.pg_cluster import PgCluster, make_reachable  # noqa: E402

LEVELS = (-5, -1, 1, 2, 3)
ROUNDS = 3  # each figure is the best of these, per segment, then the median over segments


def generate(work: Path, count: int, scale: int) -> list[bytes]:
    """``count`` whole segments of pgbench WAL, written after a checkpoint."""
    cluster = PgCluster.init(work / "pg", settings={
        "wal_level": "replica", "archive_mode": "on", "archive_command": "false",
        "max_wal_size": "4GB", "wal_keep_size": "4GB", "checkpoint_timeout": "1h"})
    try:
        cluster.start()
        cluster.wait_ready()
        cluster.pgbench_init(scale=scale)
        cluster.sql("CHECKPOINT")
        first = cluster.sql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
        names: list[str] = []
        while len(names) < count:
            cluster.pgbench(transactions=2000)
            current = cluster.sql("SELECT pg_walfile_name(pg_current_wal_insert_lsn())")
            # after the segment being written at the start, before the one being written now
            names = sorted(p.name for p in (cluster.data_dir / "pg_wal").iterdir()
                           if len(p.name) == 24 and first < p.name < current)
        return [(cluster.data_dir / "pg_wal" / name).read_bytes() for name in names[:count]]
    finally:
        cluster.destroy()


def cpu_ms(action, data) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.thread_time()
        action(data)
        best = min(best, time.thread_time() - started)
    return best * 1000


def digests():
    import xxhash

    return (("SHA-256", lambda d: hashlib.sha256(d).hexdigest()),
            ("BLAKE2b (64-byte)", lambda d: hashlib.blake2b(d).hexdigest()),
            ("MD5 (Swift's ETag)", lambda d: hashlib.md5(d).hexdigest()),
            ("xxh3-64", xxhash.xxh3_64_hexdigest),
            ("xxh3-128", xxhash.xxh3_128_hexdigest))


def measure(segments: list[bytes]) -> list[tuple[str, str, str]]:
    import zstandard

    rows = []
    size = len(segments[0])
    xxh128 = digests()[-1][1]
    for name, digest in digests():
        ms = statistics.median(cpu_ms(digest, s) for s in segments)
        rows.append(("digest of the original", name,
                     f"{ms:.2f} ms ({size / ms / 1e3:.0f} MB/s)"))
    raw = sum(len(s) for s in segments)
    for level in LEVELS:
        compressor = zstandard.ZstdCompressor(level=level, write_checksum=True)
        decompressor = zstandard.ZstdDecompressor()
        packed = [compressor.compress(s) for s in segments]
        stored = sum(len(p) for p in packed)
        compress = statistics.median(cpu_ms(compressor.compress, s) for s in segments)
        expand = statistics.median(cpu_ms(decompressor.decompress, p) for p in packed)
        xxh = statistics.median(cpu_ms(xxh128, p) for p in packed)
        rows.append(("zstd level", str(level),
                     f"ratio {raw / stored:.2f} (stored {stored / len(segments) / 2**20:.2f} MiB), "
                     f"compress {compress:.1f} ms, decompress {expand:.1f} ms, "
                     f"xxh3-128 of the stored bytes {xxh:.2f} ms"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=24)
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale (10: about 150 MB)")
    args = parser.parse_args()
    work = make_reachable(tempfile.mkdtemp(prefix="swiftwal-walcodec-"))
    try:
        segments = generate(work, args.segments, args.scale)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = measure(segments)
    print(f"\n{len(segments)} segments of pgbench WAL (scale {args.scale}), PostgreSQL 15; "
          f"CPU ms per {len(segments[0]) >> 20} MiB segment, median of the segments, "
          f"each the best of {ROUNDS}")
    width = max(len(r[1]) for r in rows)
    for part, name, value in rows:
        print(f"| {part} | {name:<{width}} | {value} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
