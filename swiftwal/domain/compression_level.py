"""The compression level of the next WAL segment: the configured one, and
faster ones while segments wait to be archived.

PostgreSQL marks each finished segment ``.ready`` and waits for archiving;
when segments arrive faster than they are compressed and uploaded the
``.ready`` files pile up, and ``pg_wal`` with them.  Compressing a segment
costs most of the CPU of archiving it, so under a backlog each doubling of
the waiting segments beyond ``CALM`` takes one level faster, down to the
codec's fastest: archiving speeds up exactly while it is behind, and comes
back to the configured level once the backlog is gone.

``bench/bench_walcodec.py`` on 24 segments of pgbench WAL, CPU per 16 MiB
segment on a 2-core machine: zstd level 3 compressed in 58 ms to a ratio of
4.04, level 2 in 42 ms (4.04), level 1 in 37 ms (4.09: the default), level -1
in 31 ms (3.73), level -5 in 25 ms (2.72); decompressing took 10 to 17 ms.
Each rung below costs some ratio for a sixth less CPU or more.
"""
from __future__ import annotations

#: Segments that may wait without changing anything: the archiver's own
#: look-ahead keeps a few ``.ready`` at any time under a steady load.
CALM = 4
#: The levels a backlog steps down through, slowest first; the last is the
#: fastest a backlog reaches.  Each is clearly faster than the one before it
#: (zstd's level 0 is its default, 3, not a faster one).
LADDERS = {"zstd": (3, 1, -1, -5), "gzip": (6, 3, 1)}


def level_for_backlog(codec: str, configured: int, waiting: int) -> int:
    """The level to compress the next segment with, ``waiting`` segments
    being ``.ready``: ``configured`` up to ``CALM`` of them, then for each
    doubling one rung down ``LADDERS[codec]`` from the configured level,
    never past the last rung, never slower than ``configured``."""
    level, limit = configured, CALM
    for rung in LADDERS[codec]:
        if waiting <= limit:
            break
        if rung < level:
            level, limit = rung, limit * 2
    return level
