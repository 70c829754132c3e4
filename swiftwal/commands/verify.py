"""verify [KEY|--all] [--full] [--json]: can this backup be restored?

A backup verifies when its data object exists with the recorded size (and,
with ``--full``, the recorded SHA-256 of every stored byte), and every WAL
segment recovery reads from the backup's start onwards, along the latest
timeline that passes through the backup, is in the archive with no gap up
to the last archived segment.  The WAL plan (``plan_wal_check``, from the
domain's ``walchain``) is pure; the rest reads the store.

Encrypted objects: ``--full`` decrypts them too, so a tampered object is
reported even when its recorded checksums were rewritten with it; a missing
or wrong key is a configuration error (exit 3), not a verdict on the backup.
"""
from __future__ import annotations

import json
from typing import Collection, Mapping, Optional

import attrs

from swiftwal.commands import catalog
from swiftwal.domain import errors
from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.timeline import TimelineHistory
from swiftwal.domain.walchain import wal_chain
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE, Segment

CHUNK = 1 << 20


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="check that a backup and the WAL it needs can be restored")
    parser.add_argument("key", nargs="?",
                        help="the backup to check (default: latest)")
    parser.add_argument("--all", action="store_true", help="check every backup")
    parser.add_argument("--full", action="store_true",
                        help="read back every object and check its SHA-256 (slow: downloads everything)")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(handler=run)


@attrs.frozen
class WalCheck:
    """What recovery from one backup would read, and what is wrong with it."""

    timeline: int
    segments: tuple[Segment, ...]
    problems: tuple[str, ...]


def plan_wal_check(record: BackupRecord, histories: Mapping[int, TimelineHistory],
                   available: Collection[Segment]) -> WalCheck:
    """The segments recovery from ``record`` reads to the end of the archive
    along the latest timeline (``walchain``), and each gap as a sentence."""
    chain = wal_chain(record, histories, available)
    problems = []
    if chain.unfinished_from is not None:
        problems.append(f"WAL needed to make the backup consistent is missing from "
                        f"{chain.unfinished_from} (the backup ends in {record.stop_segment})")
    for gap in chain.gaps:
        missing = (str(gap.first) if gap.count == 1
                   else f"{gap.first}..{gap.last} ({gap.count} segments)")
        resume = gap.last.number(record.segment_size) + 1  # a gap has archived WAL after it
        after = next(s for s in chain.segments if s.number(record.segment_size) == resume)
        problems.append(f"gap in the archive on timeline {chain.timeline}: {missing} missing; "
                        f"recovery stops there, {after} and later are never read")
    return WalCheck(chain.timeline, chain.segments, tuple(problems))


@attrs.frozen
class BackupReport:
    key: str
    problems: tuple[str, ...]
    timeline: Optional[int]
    first_segment: Optional[str]
    last_segment: Optional[str]
    segment_count: int
    full: bool

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json_dict(self) -> dict:
        return {"key": self.key, "ok": self.ok, "problems": list(self.problems),
                "timeline": self.timeline, "first_segment": self.first_segment,
                "last_segment": self.last_segment, "segments": self.segment_count,
                "checked": "full" if self.full else "metadata"}

    def lines(self) -> list[str]:
        wal = (f"WAL {self.first_segment}..{self.last_segment} ({self.segment_count} segments, "
               f"timeline {self.timeline})" if self.segment_count else "no WAL")
        head = f"{self.key}: {'ok' if self.ok else 'FAILED'} ({'full' if self.full else 'metadata'} check, {wal})"
        return [head] + [f"  - {problem}" for problem in self.problems]


def verify_backups(storage, records, full: bool, segment_size: int,
                   key: bytes | None = None) -> list[BackupReport]:
    """One report per record; the store is listed once for all of them.
    ``key`` decrypts encrypted objects (timeline histories; with ``full``, all)."""
    wal = catalog.load_wal(storage, segment_size)
    histories = catalog.load_histories(storage, wal, key)
    return verify_records(storage, records, wal, histories, full, key)


def verify_records(storage, records, wal, histories, full: bool,
                   key: bytes | None = None) -> list[BackupReport]:
    """``verify_backups`` with the archive already listed (``catalog.load_wal``)."""
    segments = {w.wal_file: w for w in wal if isinstance(w.wal_file, Segment)}
    return [verify_one(storage, record, histories, segments, full, key) for record in records]


def verify_one(storage, record: BackupRecord, histories, segments, full: bool,
               key: bytes | None = None) -> BackupReport:
    problems = list(_check_data(storage, record, full, key))
    try:
        check = plan_wal_check(record, histories, segments)
    except errors.InvalidInput as exc:
        problems.append(f"cannot follow the timelines: {exc.message}")
        check = WalCheck(record.timeline, (), ())
    problems.extend(check.problems)
    if full:
        for segment in check.segments:
            problems.extend(_check_wal_object(storage, segments[segment], key))
    return BackupReport(str(record.key), tuple(problems), check.timeline,
                        str(check.segments[0]) if check.segments else None,
                        str(check.segments[-1]) if check.segments else None,
                        len(check.segments), full)


def _check_data(storage, record: BackupRecord, full: bool, key: bytes | None = None) -> list[str]:
    name = record.data_object
    try:
        info = storage.stat(name)
    except errors.ObjectNotFound:
        return [f"backup object {name} is missing"]
    if record.stored_size is not None and info.size != record.stored_size:
        return [f"backup object {name} holds {info.size} bytes, {record.stored_size} were stored"]
    if not full:
        return []
    from swiftwal.adapters import crypto
    from swiftwal.adapters.streams import HashingReader

    try:
        with storage.get(name) as reader:
            hashing = HashingReader(reader)
            source = hashing
            if crypto.encrypted(name, key, crypto.record_metadata(record), info.metadata):
                source = crypto.DecryptingReader(hashing, key, name)
            while source.read(CHUNK):
                pass
            while hashing.read(CHUNK):  # past an early end of the encrypted stream
                pass
    except errors.ObjectNotFound:
        return [f"backup object {name} disappeared while being read"]
    except errors.IntegrityError as exc:  # the decryption's verdict names the object
        return [f"backup object {exc.message}"]
    if record.stored_size is not None and hashing.size != record.stored_size:
        return [f"backup object {name}: read {hashing.size} bytes, {record.stored_size} were stored"]
    if record.sha256 is not None and hashing.sha256 != record.sha256:
        return [f"backup object {name} does not match its recorded SHA-256 (corrupted)"]
    return []


def _check_wal_object(storage, item, key: bytes | None = None) -> list[str]:
    name = item.stored.object_name
    try:
        with storage.get(name) as reader:
            stored = reader.read()
            metadata = reader.info.metadata
    except errors.ObjectNotFound:
        return [f"WAL object {name} disappeared while being read"]
    from swiftwal.commands.restore_wal import verified_original

    try:
        data, _ = verified_original(name, item.stored.compression, stored, metadata, key)
    except errors.IntegrityError as exc:  # names the object
        return [f"WAL object {exc.message}"]
    if metadata.get("size") and metadata["size"] != str(len(data)):
        return [f"WAL object {name} decompresses to {len(data)} bytes, not {metadata['size']}"]
    return []


def run(ctx, args) -> int:
    if args.all and args.key is not None:
        raise errors.UsageError(f"the backup key {args.key} has no effect with --all",
                                hint="give a backup key or --all")
    storage = ctx.storage
    if args.all:
        records = catalog.load_backups(storage)
        if not records:
            raise errors.BackupNotFound(f"there is no backup in {storage.describe()}")
    else:
        records = [catalog.find_backup(storage, args.key or "latest")]
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    from swiftwal.adapters.crypto import configured_key, encrypted, record_metadata

    key = configured_key(ctx.settings)
    if args.full:  # no key, or another key: say so, rather than call every backup corrupt
        for record in records:
            encrypted(record.data_object, key, record_metadata(record))
    reports = verify_backups(storage, records, args.full, segment_size, key)
    failed = [r for r in reports if not r.ok]
    ctx.log.info("verify.completed", backups=len(reports), failed=len(failed), full=args.full)
    if args.json:
        ctx.print(json.dumps({"ok": not failed, "backups": [r.to_json_dict() for r in reports]},
                             indent=2))
    else:
        for report in reports:
            for line in report.lines():
                ctx.print(line)
    if failed:
        raise errors.IntegrityError(
            f"{len(failed)} of {len(reports)} backups would not restore: "
            + ", ".join(r.key for r in failed),
            hint="see the report above")
    return 0

