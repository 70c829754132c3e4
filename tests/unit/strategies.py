"""Shared hypothesis strategies for the domain's property tests."""
from __future__ import annotations

import datetime
from typing import Dict, List, Mapping, Tuple

import attrs

from hypothesis import strategies as st

from swiftwal.domain.backup import BackupKey, BackupRecord
from swiftwal.domain.lsn import MAX_LSN, Lsn
from swiftwal.domain.timeline import HistoryEntry, TimelineHistory
from swiftwal.domain.walnames import (DEFAULT_SEGMENT_SIZE, BackupHistoryFile, HistoryFile,
                                      PartialSegment, Segment)

UTC = datetime.timezone.utc
MIB = 1024 * 1024

segment_sizes = st.sampled_from([MIB << k for k in range(11)])
timelines = st.one_of(st.integers(1, 20), st.integers(1, 0xFFFFFFFF))


@st.composite
def lsns(draw, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Lsn:
    """Any LSN, often on or next to a segment or log-id boundary."""
    near = draw(st.sampled_from([segment_size, 1 << 32]))
    boundary = draw(st.integers(0, MAX_LSN // near)) * near
    return Lsn(draw(st.one_of(
        st.integers(0, MAX_LSN),
        st.integers(-1, 1).map(lambda d: min(max(boundary + d, 0), MAX_LSN)))))


@st.composite
def segment_numbers(draw, segment_size: int) -> int:
    """A segment number (XLogSegNo), often at the start or end of a log id."""
    per_log = (1 << 32) // segment_size
    top = (MAX_LSN // segment_size)
    log = draw(st.integers(0, 0xFFFFFFFF))
    return draw(st.one_of(st.integers(0, top),
                          st.sampled_from([log * per_log, log * per_log + per_log - 1, 0, top])))


@st.composite
def segments(draw, segment_size: int = DEFAULT_SEGMENT_SIZE) -> Segment:
    return Segment.from_number(draw(timelines), draw(segment_numbers(segment_size)),
                               segment_size)


@st.composite
def wal_files(draw, segment_size: int = DEFAULT_SEGMENT_SIZE):
    """One file of every kind found in an archive."""
    kind = draw(st.sampled_from(["segment", "history", "backup", "partial"]))
    if kind == "history":
        return HistoryFile(draw(timelines))
    segment = draw(segments(segment_size))
    if kind == "backup":
        return BackupHistoryFile(segment, draw(st.integers(0, segment_size - 1)))
    if kind == "partial":
        return PartialSegment(segment)
    return segment


@st.composite
def sized_wal_files(draw):
    size = draw(segment_sizes)
    return size, draw(wal_files(size))


# PostgreSQL writes one reason per line; it is kept without surrounding blanks.
reasons = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
                  max_size=40).map(str.strip)


@st.composite
def histories(draw) -> TimelineHistory:
    """A valid history: parents in increasing order, switch points not going back."""
    parents = sorted(draw(st.sets(st.integers(1, 60), max_size=6)))
    timeline = draw(st.integers((parents[-1] + 1) if parents else 1, 64))
    switches = sorted(draw(st.lists(st.integers(0, MAX_LSN), min_size=len(parents),
                                    max_size=len(parents))))
    return TimelineHistory(timeline, tuple(
        HistoryEntry(p, Lsn(s), draw(reasons)) for p, s in zip(parents, switches)))


backup_keys = st.builds(
    lambda moment, with_seconds: BackupKey(
        moment.replace(second=moment.second if with_seconds else 0), with_seconds),
    st.datetimes(min_value=datetime.datetime(1, 1, 1), max_value=datetime.datetime(9999, 12, 31),
                 timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0)),
    st.booleans())

optional_sizes = st.none() | st.integers(0, 2**63)


@st.composite
def backup_records(draw, segment_size=None, start=None, timeline=None,
                   key=None) -> BackupRecord:
    size = segment_size if segment_size is not None else draw(segment_sizes)
    tl = timeline if timeline is not None else draw(timelines)
    if start is None:
        start = draw(lsns(size))
    finished = draw(st.booleans())
    stop = Lsn(min(MAX_LSN, start.value + draw(st.integers(0, 4 * size)))) if finished else None
    key = key if key is not None else draw(backup_keys)
    return BackupRecord(
        key=key,
        label=draw(st.text(max_size=20)),
        start_lsn=start, stop_lsn=stop, timeline=tl,
        start_segment=Segment.holding(tl, start, size),
        stop_segment=Segment.from_lsn(tl, stop, size) if stop is not None else None,
        pg_version=draw(st.none() | st.sampled_from(["15.4", "16.2", "18.0"])),
        system_identifier=draw(st.none() | st.integers(1, 2**64 - 1).map(str)),
        segment_size=size, raw_size=draw(optional_sizes), stored_size=draw(optional_sizes),
        data_object=draw(st.text(min_size=1, max_size=30)),
        compression=draw(st.sampled_from(["zstd", "gzip", "none"])),
        sha256=draw(st.none() | st.binary(min_size=32, max_size=32).map(bytes.hex)),
        wal_included=draw(st.booleans()),
        finished_at=draw(st.none() | st.datetimes(
            min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1),
            timezones=st.sampled_from([UTC, datetime.timezone(datetime.timedelta(hours=7))]))),
        legacy=not finished and draw(st.booleans()),
        **draw(incremental_fields(key)))


@st.composite
def incremental_fields(draw, key: BackupKey) -> dict:
    """The manifest and chain fields of the record of ``key``: often none (a full
    backup), else an incremental built on a chain of up to three older backups."""
    found = {}
    older = sorted(k for k in draw(st.sets(backup_keys, max_size=3)) if k < key)
    if older and draw(st.booleans()):
        found.update(backup_type="incremental", parent=older[-1], chain=tuple(older))
    if draw(st.booleans()):
        found.update(manifest_object=draw(st.text(min_size=1, max_size=30)),
                     manifest_size=draw(optional_sizes),
                     manifest_sha256=draw(st.none() | st.binary(min_size=32, max_size=32)
                                          .map(bytes.hex)))
    return found


@attrs.frozen
class Archive:
    """A generated archive: a tree of timelines, the WAL files on them and backups.

    ``histories`` holds every timeline's true history; ``known_histories`` only
    those whose history file is in ``wal_files`` (some may be missing).
    """

    segment_size: int
    histories: Mapping[int, TimelineHistory]
    known_histories: Mapping[int, TimelineHistory]
    wal_files: Tuple[object, ...]
    backups: Tuple[BackupRecord, ...]
    now: datetime.datetime


def plain_backup(key: BackupKey, timeline: int, start: Lsn, size: int) -> BackupRecord:
    stop = Lsn(start.value + size // 2)
    return BackupRecord(
        key=key, label="", start_lsn=start, stop_lsn=stop, timeline=timeline,
        start_segment=Segment.holding(timeline, start, size),
        stop_segment=Segment.from_lsn(timeline, stop, size), pg_version="15.4",
        system_identifier="7300000000000000001", segment_size=size, raw_size=1, stored_size=1,
        data_object=f"backups/{key}/base.tar.zst", compression="zstd", sha256=None,
        wal_included=False, finished_at=key.time)


@st.composite
def archives(draw, max_timelines: int = 4, max_number: int = 24) -> Archive:
    """Small archives: a few timelines branching at random points, each with a run of
    segments (with gaps) from its first segment, some .partial and .backup files, and
    backups started on those timelines."""
    size = draw(st.sampled_from([MIB, DEFAULT_SEGMENT_SIZE, 64 * MIB]))
    n_timelines = draw(st.integers(1, max_timelines))
    histories: Dict[int, TimelineHistory] = {1: TimelineHistory.root()}
    begin: Dict[int, int] = {1: 0}  # first LSN of each timeline
    for tl in range(2, n_timelines + 1):
        parent = draw(st.integers(1, tl - 1))
        low = begin[parent]
        switch = draw(st.one_of(
            st.integers(low, max(low, (max_number - 1) * size)),
            st.integers(low // size + 1, max(low // size + 1, max_number))
            .map(lambda n: n * size)))  # on a segment boundary
        switch = min(switch, max_number * size)
        histories[tl] = TimelineHistory(tl, histories[parent].entries + (
            HistoryEntry(parent, Lsn(switch), "no recovery target specified"),))
        begin[tl] = switch
    files: List[object] = []
    for tl in range(1, n_timelines + 1):
        first = begin[tl] // size
        last = draw(st.integers(first, max_number))
        # a gap where both masks have the bit set: about one segment in four
        gaps = draw(st.integers(0, 2**64 - 1)) & draw(st.integers(0, 2**64 - 1))
        for number in range(first, last + 1):
            if not gaps >> number & 1:
                files.append(Segment.from_number(tl, number, size))
        for number in draw(st.sets(st.integers(first, last), max_size=2)):
            files.append(PartialSegment(Segment.from_number(tl, number, size)))
        for number in draw(st.sets(st.integers(first, last), max_size=2)):
            files.append(BackupHistoryFile(Segment.from_number(tl, number, size), 0x28))
    known = {1: histories[1]}
    for tl in range(2, n_timelines + 1):
        if draw(st.integers(0, 4)):  # usually archived, sometimes missing
            known[tl] = histories[tl]
            files.append(HistoryFile(tl))
    base = datetime.datetime(2013, 8, 28, tzinfo=UTC)
    backups = []
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 30), max_size=6, unique=True))
    switches = sorted({begin[tl] for tl in range(2, n_timelines + 1)})
    for minute in minutes:
        tl = draw(st.integers(1, n_timelines))
        start = Lsn(draw(st.integers(begin[tl], max_number * size + size - 1)))
        later = [p for p in switches if p > begin[tl]]
        if later and draw(st.booleans()):  # running while a later timeline branched off
            start = Lsn(max(begin[tl], draw(st.sampled_from(later))
                            - draw(st.integers(1, size // 2))))
        key = BackupKey.from_datetime(base + datetime.timedelta(minutes=minute))
        backups.append(plain_backup(key, tl, start, size))
    now = base + datetime.timedelta(days=draw(st.integers(0, 40)))
    return Archive(size, histories, known, tuple(files), tuple(backups), now)


def numbered_record(start: int, stop: int, timeline: int = 1, wal_included: bool = False,
                    size: int = 16 * MIB) -> BackupRecord:
    """A backup from segment ``start`` to ``stop`` (for WAL-chain tests)."""
    return BackupRecord(
        key=BackupKey.parse("20260101T000000Z"), label="l", start_lsn=Lsn(start * size + 40),
        stop_lsn=Lsn(stop * size + 100), timeline=timeline,
        start_segment=Segment.from_number(timeline, start, size),
        stop_segment=Segment.from_number(timeline, stop, size), pg_version="15",
        system_identifier="1", segment_size=size, raw_size=1, stored_size=1,
        data_object="backups/20260101T000000Z/base.tar.zst", compression="zstd", sha256=None,
        wal_included=wal_included, finished_at=None)


def incremental_on(record: BackupRecord, parent: BackupRecord) -> BackupRecord:
    """``record`` made an incremental backup built on ``parent``."""
    return attrs.evolve(record, backup_type="incremental", parent=parent.key,
                        chain=(*parent.chain, parent.key))


@st.composite
def chained_archives(draw, max_timelines: int = 4, max_number: int = 24) -> Archive:
    """``archives`` whose backups are often incremental: each is based on the newest
    earlier backup of its timeline (what ``backup --incremental`` chooses) or, as
    ``--from`` may, on any earlier one; now and then a member of some chain is lost
    from the catalogue."""
    archive = draw(archives(max_timelines, max_number))
    built: List[BackupRecord] = []
    for backup in sorted(archive.backups, key=lambda b: b.key):
        earlier = [b for b in built if b.timeline == backup.timeline]
        if earlier and draw(st.integers(0, 2)):
            parent = earlier[-1] if draw(st.booleans()) else draw(st.sampled_from(earlier))
            backup = incremental_on(backup, parent)
        built.append(backup)
    if built and draw(st.integers(0, 3)) == 0:
        built.remove(draw(st.sampled_from(built)))
    return attrs.evolve(archive, backups=tuple(built))
