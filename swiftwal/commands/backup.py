"""backup: pg_basebackup (tar to stdout) -> compress -> (encrypt) -> stream into
the store, then the metadata object, written create-only and last: a backup
exists only once it is complete."""
from __future__ import annotations

import datetime
import io
import json
import time

from swiftwal import events
from swiftwal.adapters import crypto, postgres
from swiftwal.adapters.cluster_identity import ensure_cluster_identity
from swiftwal.domain import errors, layout
from swiftwal.domain.backup import BackupKey, BackupRecord, parse_backup_label
from swiftwal.domain.segment_size import infer_segment_size
from swiftwal.domain.walnames import Segment

KEY_ATTEMPTS = 5


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="take a base backup with pg_basebackup into the store")
    parser.add_argument("--xlog", "-x", action="store_true",
                        help="include the WAL the backup needs (pg_basebackup --wal-method=fetch)")
    parser.add_argument("--checkpoint", "-c", choices=("fast", "spread"),
                        help="start at once (fast) or after a normal checkpoint (spread)")
    parser.add_argument("--progress", "-P", action="store_true",
                        help="show bytes, rate and time left; off a terminal, log "
                             "backup.progress events")
    parser.add_argument("--label", "-l", default="pg_basebackup (via swiftwal)", help="backup label")
    parser.add_argument("--username", "-U", help="connect as this (REPLICATION) user")
    parser.add_argument("--host", "-H", help="connect to this host or socket directory")
    parser.add_argument("--port", "-p", help="connect to this port")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    from swiftwal.adapters.basebackup import BasebackupOptions, run_basebackup

    started = time.monotonic()
    storage = ctx.storage_to_write()
    codec = ctx.settings.compression
    secret = crypto.configured_key(ctx.settings)  # a bad key file fails before pg_basebackup
    key = _free_key(storage)
    data_name = layout.backup_data_name(key, codec)
    ctx.log.info(events.BACKUP_STARTED, backup=str(key), store=storage.describe())
    if ctx.verbose:
        ctx.print(f"Creating backup {key} in {storage.describe()}")
    options = BasebackupOptions(
        host=args.host, port=args.port, username=args.username, label=args.label,
        checkpoint=args.checkpoint,
        wal_method="fetch" if args.xlog else "none", pg_bin_dir=postgres.bin_dir(ctx.settings))

    # A backup of the wrong cluster is refused before anything is uploaded
    # when psql can tell; the check after the upload applies anyway.
    identity = postgres.cluster_identity(options.server)
    if identity is not None:
        ensure_cluster_identity(storage, identity[0], identity[1])

    progress = _progress(ctx, key, options, args.progress)

    def upload(stream):
        metadata = {"backup": str(key), "compression": codec}
        if secret is not None:
            # chunk by chunk as the compressed stream comes: memory stays bounded
            stream = crypto.EncryptingReader(stream, secret)
            metadata.update(crypto.object_metadata(secret))
        # The store hashes what it reads: the record's SHA-256 is that one.
        return storage.put(data_name, stream, metadata=metadata, expect_large=True)

    try:
        stored, result = run_basebackup(options, codec, upload, on_read=progress.add)
    finally:
        progress.close()
    if stored.sha256 is None:
        raise errors.InvariantViolated(f"{storage.describe()} returned no SHA-256 for {data_name}")
    if result.system_identifier:
        ensure_cluster_identity(storage, result.system_identifier, result.pg_version)
    label = parse_backup_label(result.backup_label_text)
    segment_size = infer_segment_size(label)
    record = BackupRecord(
        key=key, label=label.label or args.label, start_lsn=label.start_lsn, stop_lsn=result.stop_lsn,
        timeline=label.timeline, start_segment=label.start_segment,
        stop_segment=Segment.from_lsn(result.stop_timeline or label.timeline, result.stop_lsn, segment_size)
        if result.stop_lsn is not None else None,
        pg_version=result.pg_version, system_identifier=result.system_identifier,
        segment_size=segment_size, raw_size=result.raw_size, stored_size=stored.size,
        data_object=data_name, compression=codec, sha256=stored.sha256,
        wal_included=args.xlog, finished_at=datetime.datetime.now(datetime.timezone.utc),
        encryption=crypto.ALGORITHM if secret is not None else None,
        encryption_key_id=crypto.key_id(secret) if secret is not None else None)
    payload = json.dumps(record.to_json_dict(), indent=2, sort_keys=True).encode()
    storage.put(layout.backup_metadata_name(key), io.BytesIO(payload), create_only=True,
                size=len(payload), metadata={"backup": str(key)})
    if ctx.verbose:
        ctx.print(result.backup_label_text.rstrip())
    ctx.log.info(events.BACKUP_COMPLETED, backup=str(key), bytes=result.raw_size,
                 stored_bytes=stored.size, start_lsn=str(label.start_lsn), stop_lsn=str(result.stop_lsn),
                 timeline=label.timeline, duration_s=round(time.monotonic() - started, 3))
    return 0


def _progress(ctx, key: BackupKey, options, events_wanted: bool):
    """What pg_basebackup has sent against the size of the databases, as
    restore shows it: on a terminal always, elsewhere as events with
    ``--progress``."""
    from swiftwal.adapters.basebackup import database_size
    from swiftwal.adapters.progress import Progress

    def report(numbers: dict) -> None:
        ctx.log.info(events.BACKUP_PROGRESS, backup=str(key), **numbers)

    progress = Progress(f"backup {key}", report=report if events_wanted else None)
    if progress.enabled or progress.report is not None:
        progress.total = database_size(options)
    return progress


def _free_key(storage) -> BackupKey:
    """Keys have one-second resolution; a key already used (even by an
    interrupted backup) is never reused."""
    for _ in range(KEY_ATTEMPTS):
        key = BackupKey.from_datetime(datetime.datetime.now(datetime.timezone.utc))
        if next(iter(storage.list(layout.backup_prefix(key))), None) is None:
            return key
        time.sleep(1.0)
    raise errors.AlreadyExists("could not find a free backup key", hint="is another backup running?")
