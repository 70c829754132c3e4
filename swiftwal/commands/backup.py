"""backup: pg_basebackup (tar to stdout) -> compress -> (encrypt) -> stream into
the store, then the metadata object, written create-only and last: a backup
exists only once it is complete.  A cluster with tablespaces streams over the
replication protocol instead, one object per tablespace
(``swiftwal.adapters.tablespace_backup``)."""
from __future__ import annotations

import datetime
import io
import json
import time

from swiftwal import events
import attrs

from swiftwal.adapters import crypto, postgres
from swiftwal.adapters.cluster_identity import ensure_cluster_identity
from swiftwal.adapters.streams import RateLimitedReader, RateLimiter
from swiftwal.domain import errors, layout
from swiftwal.domain.backup import (BACKUP_FROM, BackupKey, BackupRecord, TablespaceBackup,
                                    parse_backup_label)
from swiftwal.domain.rates import KILOBYTE, max_rate
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
    parser.add_argument("--max-rate", "-r", metavar="RATE",
                        help="the most the server may read and send, in kB/s or with a k or "
                             "M suffix (pg_basebackup --max-rate)")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="segments of a large object sent at once (PARALLEL)")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    from swiftwal.adapters.basebackup import (BasebackupOptions, TablespacesFound, has_tablespaces,
                                              run_basebackup)

    started = time.monotonic()
    max_rate = _max_rate(args.max_rate)
    ctx.override_parallel(args.parallel)
    upload_rate = ctx.settings.typed.get("MAX_UPLOAD_RATE")
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
        wal_method="fetch" if args.xlog else "none", pg_bin_dir=postgres.bin_dir(ctx.settings),
        max_rate=max_rate)

    # A backup of the wrong cluster is refused before anything is uploaded
    # when psql can tell; the check after the upload applies anyway.
    identity = postgres.cluster_identity(options.server)
    if identity is not None:
        ensure_cluster_identity(storage, identity[0], identity[1])

    progress = _progress(ctx, key, options, args.progress)

    limiter = RateLimiter(upload_rate * KILOBYTE) if upload_rate else None

    def upload_as(name):
        def upload(stream):
            metadata = {"backup": str(key), "compression": codec}
            if limiter is not None:
                stream = RateLimitedReader(stream, limiter)
            if secret is not None:
                # chunk by chunk as the compressed stream comes: memory stays bounded
                stream = crypto.EncryptingReader(stream, secret)
                metadata.update(crypto.object_metadata(secret))
            # The store hashes what it reads: the record's SHA-256 is that one.
            stored = storage.put(name, stream, metadata=metadata, expect_large=True)
            if stored.sha256 is None:
                raise errors.InvariantViolated(f"{storage.describe()} returned no SHA-256 "
                                               f"for {name}")
            return stored
        return upload

    tablespaces = ()
    try:
        if has_tablespaces(options):
            stored, result, tablespaces = _with_tablespaces(options, codec, key, upload_as,
                                                            progress)
        else:
            try:
                stored, result = run_basebackup(options, codec, upload_as(data_name),
                                                on_read=progress.add)
            except TablespacesFound:  # created since it was asked, or psql could not tell
                stored, result, tablespaces = _with_tablespaces(options, codec, key, upload_as,
                                                                progress)
    finally:
        progress.close()
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
        encryption_key_id=crypto.key_id(secret) if secret is not None else None,
        tablespaces=tablespaces, backup_from=_backup_from(label.backup_from))
    payload = json.dumps(record.to_json_dict(), indent=2, sort_keys=True).encode()
    storage.put(layout.backup_metadata_name(key), io.BytesIO(payload), create_only=True,
                size=len(payload), metadata={"backup": str(key)})
    if ctx.verbose:
        ctx.print(result.backup_label_text.rstrip())
    ctx.log.info(events.BACKUP_COMPLETED, backup=str(key), bytes=record.total_raw_size,
                 stored_bytes=record.total_stored_size, start_lsn=str(label.start_lsn),
                 stop_lsn=str(result.stop_lsn), timeline=label.timeline,
                 tablespaces=len(tablespaces), backup_from=record.backup_from,
                 duration_s=round(time.monotonic() - started, 3))
    return 0


def _backup_from(text):
    """backup_label's BACKUP FROM (``primary`` or ``standby``, PostgreSQL 9.6+)."""
    value = (text or "").strip().lower()
    return value if value in BACKUP_FROM else None


def _max_rate(text):
    if text is None:
        return None
    try:
        return max_rate(text)
    except errors.InvalidInput as exc:
        raise errors.UsageError(f"--max-rate: {exc.message}") from None


def _with_tablespaces(options, codec: str, key: BackupKey, upload_as, progress):
    """Every tablespace's archive in an object of its own, the data directory's last."""
    from swiftwal.adapters.tablespace_backup import run_tablespace_backup

    if getattr(options, "incremental", None) is not None:
        raise errors.ConfigError("incremental backups of a cluster with tablespaces are not "
                                 "supported yet", hint="take a full backup")

    def consume(tablespace, stream):
        name = (layout.backup_data_name(key, codec) if tablespace.oid is None
                else layout.backup_tablespace_name(key, tablespace.oid, codec))
        return upload_as(name)(stream)

    archives, result = run_tablespace_backup(options, codec, consume, on_read=progress.add)
    base = [a for a in archives if a.tablespace.oid is None][0]
    tablespaces = tuple(
        TablespaceBackup(oid=a.tablespace.oid, location=a.tablespace.location,
                         data_object=a.value.name, raw_size=a.raw_size,
                         stored_size=a.value.size, sha256=a.value.sha256)
        for a in archives if a.tablespace.oid is not None)
    return base.value, attrs.evolve(result, raw_size=base.raw_size), tablespaces


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
