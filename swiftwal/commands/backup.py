"""backup: pg_basebackup (tar to stdout) -> compress -> (encrypt) -> stream into
the store, then the metadata object, written create-only and last: a backup
exists only once it is complete; its ``backup_manifest`` (the tar's last
member, taken as it goes by) is stored beside it, before the metadata.

``--incremental`` (PostgreSQL 17+): the parent is chosen and checked, and its
stored manifest fetched into a private file, before anything is uploaded;
``pg_basebackup --incremental`` then streams exactly as a full backup does.
Each refusal says why in one line; ``--incremental=auto`` takes a full backup
instead, saying so.  A cluster with tablespaces streams over the
replication protocol instead, one object per tablespace
(``swiftwal.adapters.tablespace_backup``), an incremental backup too: the
parent's manifest goes up first on the same connection (``UPLOAD_MANIFEST``)."""
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
    parser.add_argument("--incremental", nargs="?", const="on", choices=("on", "auto"),
                        metavar="auto",
                        help="only the blocks changed since the newest backup of this cluster "
                             "and timeline (PostgreSQL 17+, summarize_wal = on); =auto: a full "
                             "backup when an incremental one cannot be taken")
    parser.add_argument("--from", dest="from_key", metavar="KEY",
                        help="with --incremental: base it on this backup")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    if args.from_key is not None and args.incremental is None:
        raise errors.UsageError("--from has no effect without --incremental",
                                hint="add --incremental, or leave out --from")
    if args.incremental is None:
        return _run(ctx, args, None)
    if args.from_key is not None:
        BackupKey.parse(args.from_key)  # a mistyped key is refused before the server is asked
    import tempfile

    # the parent's manifest, for pg_basebackup to read: private, gone at the end
    with tempfile.TemporaryDirectory(prefix="swiftwal-incremental-") as workdir:
        return _run(ctx, args, workdir)


def _run(ctx, args, workdir) -> int:
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

    # asked once (psql, best effort): pg_basebackup's own refusal says so otherwise
    spaces = has_tablespaces(options)
    parent = None
    if workdir is not None:
        parent = _plan_incremental(ctx, storage, options, args, secret, workdir, spaces)
        if parent is not None:
            options = attrs.evolve(options, incremental=_manifest_file(workdir))
            if ctx.verbose:
                ctx.print(f"Backup {key} is incremental, based on {parent.key}")
    from swiftwal.adapters.manifests import ManifestSpool

    manifest = ManifestSpool()

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
        if spaces:
            stored, result, tablespaces = _with_tablespaces(options, codec, key, upload_as,
                                                            progress, manifest.write)
        else:
            try:
                stored, result = run_basebackup(options, codec, upload_as(data_name),
                                                on_read=progress.add,
                                                on_manifest=manifest.write)
            except TablespacesFound:  # created since it was asked, or psql could not tell
                stored, result, tablespaces = _with_tablespaces(options, codec, key, upload_as,
                                                                progress, manifest.write)
    finally:
        progress.close()
    if result.system_identifier:
        ensure_cluster_identity(storage, result.system_identifier, result.pg_version)
    stored_manifest = _store_manifest(storage, key, codec, secret, manifest)
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
        tablespaces=tablespaces, backup_from=_backup_from(label.backup_from),
        **_chain_fields(parent, stored_manifest))
    payload = json.dumps(record.to_json_dict(), indent=2, sort_keys=True).encode()
    storage.put(layout.backup_metadata_name(key), io.BytesIO(payload), create_only=True,
                size=len(payload), metadata={"backup": str(key)})
    if ctx.verbose:
        ctx.print(result.backup_label_text.rstrip())
    ctx.log.info(events.BACKUP_COMPLETED, backup=str(key), bytes=record.total_raw_size,
                 stored_bytes=record.total_stored_size, start_lsn=str(label.start_lsn),
                 stop_lsn=str(result.stop_lsn), timeline=label.timeline,
                 tablespaces=len(tablespaces), backup_from=record.backup_from,
                 type=record.backup_type,
                 parent=None if record.parent is None else str(record.parent),
                 duration_s=round(time.monotonic() - started, 3))
    return 0


# -- incremental backups --------------------------------------------------------------------

#: The refusals ``--incremental=auto`` answers with a full backup: what the server, its
#: settings or the store's backups rule out.  A server or store that cannot be reached
#: would fail a full backup too.
_FALL_BACK = (errors.ConfigError, errors.BackupNotFound, errors.InvariantViolated,
              errors.BrokenChain)


def _manifest_file(workdir: str) -> str:
    import os

    return os.path.join(workdir, "parent.backup_manifest")


def _plan_incremental(ctx, storage, options, args, secret, workdir, tablespaces: bool):
    """The backup a new incremental one is based on, checked, its manifest fetched
    into ``workdir``; None when ``--incremental=auto`` falls back to a full backup.
    Raises, before anything is uploaded, the refusal that says why not."""
    try:
        return _incremental_parent(storage, options, args, secret, _manifest_file(workdir),
                                   tablespaces)
    except _FALL_BACK as exc:
        if args.incremental != "auto":
            raise
        ctx.log.warning(events.BACKUP_INCREMENTAL_REFUSED, msg=f"taking a full backup: {exc.message}")
        return None


def _incremental_parent(storage, options, args, secret, manifest_path: str,
                        tablespaces: bool):
    """``tablespaces``: the backup speaks the replication protocol itself, so
    no pg_basebackup is needed."""
    from swiftwal.adapters import manifests, verification
    from swiftwal.commands import catalog
    from swiftwal.domain.chains import INCREMENTAL_SINCE, chain_of, choose_parent

    hint = "take a full backup (leave out --incremental), or use --incremental=auto"
    server = options.server
    facts = postgres.replication_facts(server)
    if facts.major < INCREMENTAL_SINCE:
        raise errors.ConfigError(f"incremental backups need PostgreSQL {INCREMENTAL_SINCE} or "
                                 f"later; the server runs PostgreSQL {facts.major}", hint=hint)
    client = None if tablespaces else postgres.basebackup_major(server)
    if client is not None and client < INCREMENTAL_SINCE:
        where = f"in {server.bin_dir}" if server.bin_dir else "on PATH"
        raise errors.ConfigError(f"incremental backups need pg_basebackup {INCREMENTAL_SINCE} "
                                 f"or later; the one {where} is of PostgreSQL {client}",
                                 hint="set PG_BIN_DIR to the server's bin directory")
    if not facts.summarize_wal:
        raise errors.ConfigError("incremental backups need summarize_wal = on; the server has "
                                 "summarize_wal = off",
                                 hint="ALTER SYSTEM SET summarize_wal = on; SELECT "
                                      "pg_reload_conf(); then take a full backup to base "
                                      "incremental ones on")
    from_key = BackupKey.parse(args.from_key) if args.from_key is not None else None
    backups = catalog.load_backups(storage)
    parent = choose_parent(backups, facts.timeline, facts.system_identifier, from_key)
    problems = verification.chain_objects_problems(storage, chain_of(parent, backups).members,
                                                   secret)
    if problems:
        raise errors.BrokenChain(f"cannot base an incremental backup on {parent.key}: "
                                 f"{problems[0]}", hint=hint)
    _check_summaries(server, parent)
    manifests.fetch_manifest(storage, parent, secret, manifest_path)
    return parent


def _check_summaries(server, parent) -> None:
    """The server's WAL summaries must reach back to the parent's start, or
    pg_basebackup refuses (they are kept for ``wal_summary_keep_time``).  Asked
    with psql when it can; else pg_basebackup says so itself."""
    # The oldest summaries go first; the newest may still be being written.
    rows = postgres.ask(server, "SELECT coalesce(min(start_lsn) > "
                                f"'{parent.start_lsn}'::pg_lsn, false) FROM "
                                f"pg_available_wal_summaries() WHERE tli = {int(parent.timeline)}",
                        dbname="postgres")
    if rows and rows[0] and rows[0][0] == "t":
        raise errors.ConfigError(f"the server's WAL summaries no longer reach back to the start "
                                 f"of backup {parent.key} ({parent.start_lsn}): summarize_wal "
                                 "was off then, or it is older than wal_summary_keep_time",
                                 hint="take a full backup (or use --incremental=auto)")


def _store_manifest(storage, key: BackupKey, codec: str, secret, spool):
    """The backup_manifest taken from the stream, stored after the data object;
    None when there was none (PostgreSQL 12, the replication-protocol path)."""
    from swiftwal.adapters.manifests import store_manifest

    try:
        if spool.size == 0:
            return None
        return store_manifest(storage, layout.backup_manifest_name(key, codec), spool, codec,
                              secret, str(key))
    finally:
        spool.close()


def _chain_fields(parent, stored_manifest) -> dict:
    from swiftwal.domain.backup import FULL, INCREMENTAL

    fields = {"backup_type": FULL}
    if parent is not None:
        fields.update(backup_type=INCREMENTAL, parent=parent.key,
                      chain=(*parent.chain, parent.key))
    if stored_manifest is not None:
        fields.update(manifest_object=stored_manifest.name, manifest_size=stored_manifest.size,
                      manifest_sha256=stored_manifest.sha256)
    return fields


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


def _with_tablespaces(options, codec: str, key: BackupKey, upload_as, progress,
                      on_manifest=None):
    """Every tablespace's archive in an object of its own, the data directory's last."""
    from swiftwal.adapters.tablespace_backup import run_tablespace_backup

    def consume(tablespace, stream):
        name = (layout.backup_data_name(key, codec) if tablespace.oid is None
                else layout.backup_tablespace_name(key, tablespace.oid, codec))
        return upload_as(name)(stream)

    archives, result = run_tablespace_backup(options, codec, consume, on_read=progress.add,
                                             on_manifest=on_manifest)
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
