"""What the workers do ahead of PostgreSQL's calls, decided from data.

The archive worker stores segments PostgreSQL has marked ``.ready`` before
it asks for them; the prefetch worker fetches the segments recovery will ask
for next.  Both loops (``swiftwal.adapters.workers``) hand these functions
what they know (what is ready or wanted, what is in flight, what is done,
how many slots are free) and run what comes back.  A name is never planned
twice, the oldest comes first, and nothing is planned past a segment the
store does not have.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable

from swiftwal.domain.walnames import Segment


def push_room(*, parallel: int, lookahead: int, in_flight: int, requested_in_flight: int,
              waiting: int) -> int:
    """How many more segments to start storing ahead: upload slots are left
    for the calls (``parallel``), and at most ``lookahead`` segments are
    stored ahead and not yet asked for, counting those in flight."""
    ahead_in_flight = in_flight - requested_in_flight
    return max(0, min(parallel - in_flight, lookahead - waiting - ahead_in_flight))


def push_plan(ready: Iterable[str], *, in_flight: Collection[str], done: Collection[str],
              room: int) -> list[str]:
    """The oldest ``room`` names of ``ready`` that are neither in flight nor
    already done (stored, or failed, by this worker)."""
    if room <= 0:
        return []
    return sorted(set(ready).difference(in_flight, done))[:room]


def wanted_after(asked: Segment, segment_size: int, count: int) -> list[Segment]:
    """The ``count`` segments after ``asked`` on its timeline, in order:
    what recovery asks for next (a timeline switch is a request of its own)."""
    wanted = []
    segment = asked
    for _ in range(count):
        try:
            segment = segment.next(segment_size)
        except ValueError:  # the end of WAL addresses
            break
        wanted.append(segment)
    return wanted


def fetch_plan(wanted: Iterable[str], *, in_flight: Collection[str], done: Collection[str],
               missing: Collection[str], room: int) -> list[str]:
    """Of ``wanted`` (in recovery's order), the first ``room`` that are
    neither in flight nor done, stopping at the first the store does not
    have: recovery cannot go past it, so nothing after it is wanted yet."""
    chosen: list[str] = []
    for name in wanted:
        if len(chosen) >= room or name in missing:
            break
        if name not in in_flight and name not in done and name not in chosen:
            chosen.append(name)
    return chosen
