"""verify [KEY|--all] [--full] [--json]: can this backup be restored?

A backup verifies when its data object exists with the recorded size (and,
with ``--full``, the recorded SHA-256 of every stored byte), and every WAL
segment recovery reads from the backup's start onwards, along the latest
timeline that passes through the backup, is in the archive with no gap up
to the last archived segment.  The WAL plan and the report are the domain's
(``swiftwal.domain.verification``); ``swiftwal.adapters.verification`` reads the store.

An incremental backup verifies with its whole chain (each backup it is built on
must be there and pass the same checks); with ``--full`` the chain is also
restored into a temporary directory (under ``TMPDIR``): ``pg_verifybackup``
checks each backup extracted against its stored manifest, then the combined
directory against the manifest ``pg_combinebackup`` wrote.

Encrypted objects: ``--full`` decrypts them too, so a tampered object is
reported even when its recorded checksums were rewritten with it; a missing
or wrong key is a configuration error (exit 3), not a verdict on the backup.
"""
from __future__ import annotations

import json

from swiftwal import events
from swiftwal.adapters import verification
from swiftwal.commands import catalog
from swiftwal.domain import errors
from swiftwal.domain.verification import BackupReport
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="check that a backup and the WAL it needs can be restored")
    parser.add_argument("key", nargs="?",
                        help="the backup to check (default: latest)")
    parser.add_argument("--all", action="store_true", help="check every backup")
    parser.add_argument("--full", action="store_true",
                        help="read back every object and check its SHA-256 (slow: downloads everything)")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(handler=run)


def verify_backups(storage, records, full: bool, segment_size: int,
                   key: bytes | None = None, catalogue=None) -> list[BackupReport]:
    """One report per record; the store is listed once for all of them.
    ``key`` decrypts encrypted objects (timeline histories; with ``full``, all);
    ``catalogue``: every backup, where incremental ones find their chain."""
    wal = catalog.load_wal(storage, segment_size)
    histories = catalog.load_histories(storage, wal, key)
    return verification.verify_records(storage, records, wal, histories, full, key,
                                       catalogue)


def run(ctx, args) -> int:
    if args.all and args.key is not None:
        raise errors.UsageError(f"the backup key {args.key} has no effect with --all",
                                hint="give a backup key or --all")
    storage = ctx.storage
    backups = catalog.load_backups(storage)
    if args.all or (args.key or "latest") == "latest":
        if not backups:
            raise errors.BackupNotFound(f"there is no backup in {storage.describe()}")
        records = backups if args.all else backups[-1:]
    else:
        records = [catalog.find_backup_in(backups, args.key, storage)]
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    from swiftwal.adapters.crypto import configured_key, encrypted, record_metadata

    key = configured_key(ctx.settings)
    if args.full:  # no key, or another key: say so, rather than call every backup corrupt
        for record in records:
            encrypted(record.data_object, key, record_metadata(record))
    reports = verify_backups(storage, records, args.full, segment_size, key, backups)
    if args.full:
        reports = [_verify_restored(ctx, storage, record, backups, report, key)
                   if record.incremental and report.ok else report
                   for record, report in zip(records, reports)]
    failed = [r for r in reports if not r.ok]
    ctx.log.info(events.VERIFY_COMPLETED, backups=len(reports), failed=len(failed), full=args.full)
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


def _verify_restored(ctx, storage, record, backups, report: BackupReport, key) -> BackupReport:
    """The chain of ``record`` restored into a temporary directory and checked there
    by ``pg_verifybackup``: a problem added to ``report`` if anything fails.  Without
    a suitable pg_combinebackup, or the room to restore, there is no verdict."""
    import os
    import tempfile

    from swiftwal.adapters import postgres
    from swiftwal.adapters.chain_restore import (check_combine_tool, check_free_space,
                                                 member_unpacker, restore_chain)
    from swiftwal.adapters.manifests import fetch_manifest
    from swiftwal.adapters.tablespace_restore import MAP_FILE, prepare_targets
    from swiftwal.domain.chains import chain_of

    chain = chain_of(record, backups)
    server = postgres.Server.configured(ctx.settings)
    tool_major = check_combine_tool(server, record)
    problems = []

    def against_stored_manifest(member, path):
        if member.manifest_object is None:
            return
        manifest = os.path.join(os.path.dirname(path), f"{member.key}.backup_manifest")
        fetch_manifest(storage, member, key, manifest)
        failure = postgres.verify_backup(server, path, parse_wal=False, manifest=manifest)
        if failure is not None:
            problems.append(f"pg_verifybackup of {member.key} ({member.backup_type}) of its "
                            f"chain, extracted, against its stored manifest: {failure}")

    with tempfile.TemporaryDirectory(prefix="swiftwal-verify-") as scratch:
        directory = os.path.join(scratch, "data")
        spaces = prepare_targets(record, directory, {}, os.path.join(scratch, "tablespaces")
                                 if record.tablespaces else None)
        check_free_space(directory, chain, spaces)
        try:
            restore_chain(chain, directory, server, tool_major, member_unpacker(storage, key),
                          ctx.settings.integer("PARALLEL", 4), against_stored_manifest, spaces)
        except (errors.IntegrityError, errors.UnsafeArchive, errors.ToolFailed) as exc:
            return report.with_problems(*problems,
                                        f"restoring its chain failed: {exc.message}")
        # restore points tablespace_map at where the tablespaces went
        failure = postgres.verify_backup(server, directory, parse_wal=record.wal_included,
                                         ignore=[MAP_FILE] if spaces else [])
    if failure is not None:
        problems.append(f"pg_verifybackup of its restored chain: {failure}")
    return report.with_problems(*problems)
