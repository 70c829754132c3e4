"""restore KEY|latest DIR [targets]: choose the backup -> check the directory ->
download, verify, decompress, safe untar -> write the recovery settings, so that
starting the server is the only step left.  An incremental backup is checked
(its chain whole, pg_combinebackup of its version, room for it) before anything
is downloaded, then every backup of its chain is unpacked and combined
(``swiftwal.adapters.chain_restore``)."""
from __future__ import annotations

import os
import shlex
import sys
import time
from pathlib import Path

from swiftwal import events
from swiftwal.adapters import crypto
from swiftwal.commands import catalog
from swiftwal.domain import errors
from swiftwal.domain.chains import require_complete
from swiftwal.domain.recovery import (TARGET_ACTIONS, RecoveryTarget, check_reachable, choose_backup,
                                      rewrite_auto_conf)
from swiftwal.domain.walnames import DEFAULT_SEGMENT_SIZE


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="unpack a backup and set up recovery (PostgreSQL 12+)")
    parser.add_argument("key", help="backup key (see list-backups) or 'latest' (the newest that "
                        "can reach the target)")
    parser.add_argument("directory", help="empty or absent directory to restore into")
    target = parser.add_argument_group("recovery target (at most one)")
    target.add_argument("--target-time", metavar="TIME", help="ISO 8601 time with its zone")
    target.add_argument("--target-name", metavar="NAME", help="a pg_create_restore_point() name")
    target.add_argument("--target-lsn", metavar="LSN", help="a WAL position like 0/3000060")
    target.add_argument("--target-xid", metavar="XID", help="a transaction id")
    parser.add_argument("--target-action", choices=TARGET_ACTIONS,
                        help="what the server does at the target (PostgreSQL's default: pause)")
    parser.add_argument("--target-timeline", metavar="latest|current|N",
                        help="timeline to follow (PostgreSQL's default: latest)")
    parser.add_argument("--standby", action="store_true",
                        help="write standby.signal: a standby that follows the archive")
    parser.add_argument("--no-recovery-settings", action="store_true",
                        help="only unpack (the 0.2.2 behaviour); you write the settings")
    parser.add_argument("--tablespace-map", action="append", default=[], metavar="OID=DIR",
                        help="restore the tablespace OID into DIR instead of where it was "
                             "(repeatable)")
    parser.add_argument("--tablespace-map-all", metavar="DIR",
                        help="restore every other tablespace into DIR/<OID>")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="segments of a large object fetched at once (PARALLEL)")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    from swiftwal.adapters.tablespace_restore import prepare_targets

    if args.no_recovery_settings:
        # A time, LSN or timeline target still chooses the backup; these only go into
        # the settings that are not written.
        unused = [flag for flag, value in (("--standby", args.standby),
                                           ("--target-action", args.target_action),
                                           ("--target-name", args.target_name),
                                           ("--target-xid", args.target_xid))
                  if value not in (None, False)]
        if unused:
            raise errors.UsageError(f"{unused[0]} has no effect with --no-recovery-settings",
                                    hint="write the recovery settings yourself, or leave out "
                                         "--no-recovery-settings")
    ctx.override_parallel(args.parallel)
    mapping = tablespace_mapping(args.tablespace_map)
    started = time.monotonic()
    target = RecoveryTarget.build(args.target_time, args.target_name, args.target_lsn,
                                  args.target_xid, args.target_action, args.target_timeline,
                                  args.standby)
    storage = ctx.storage
    key = crypto.configured_key(ctx.settings)
    record, backups = _select(ctx, storage, args.key, target, key)
    # a broken chain, no key or another key, no pg_combinebackup: refused before the
    # target directory is touched
    chain = require_complete(record, backups) if record.incremental else None
    encrypted = crypto.encrypted(record.data_object, key, crypto.record_metadata(record))
    for member in chain.members if chain is not None else ():
        crypto.encrypted(member.data_object, key, crypto.record_metadata(member))
    command = None if args.no_recovery_settings else restore_command(ctx)
    combiner = _combiner(ctx, record) if chain is not None else None
    # every target (tablespaces too) is judged before any is made or anything downloaded
    spaces = prepare_targets(record, args.directory, mapping, args.tablespace_map_all)
    if chain is None:
        stored_bytes, raw_bytes = _unpack(storage, record, args.directory, key, encrypted, spaces)
    else:
        stored_bytes, raw_bytes = _restore_chain(ctx, storage, chain, args.directory, key,
                                                 combiner, spaces)
    if command is not None:
        write_recovery_settings(args.directory, target, command)
        _fetch_ahead(ctx, record, args.directory)
    ctx.log.info(events.RESTORE_COMPLETED, backup=str(record.key), directory=args.directory,
                 stored_bytes=stored_bytes, bytes=raw_bytes, target=target.describe(),
                 chain=[str(k) for k in record.chain],
                 duration_s=round(time.monotonic() - started, 3))
    if chain is not None:
        ctx.print(f"Restored incremental backup {record.key} into {args.directory}, combined "
                  f"with its chain ({', '.join(str(m.key) for m in chain.members[:-1])})")
    else:
        ctx.print(f"Restored backup {record.key} into {args.directory}")
    if command is not None:
        ctx.print(f"Recovery to {target.describe()} is set up ({target.signal_file}, "
                  "postgresql.auto.conf): start the server")
    return 0


def _select(ctx, storage, key: str, target: RecoveryTarget, secret):
    backups = catalog.load_backups(storage)
    if key == "latest" and not backups:
        raise errors.BackupNotFound(f"there is no backup in {storage.describe()}")
    record = catalog.find_backup_in(backups, key, storage) if key != "latest" else None
    segment_size = ctx.settings.integer("WAL_SEGMENT_SIZE", DEFAULT_SEGMENT_SIZE)
    histories = catalog.load_histories(storage, catalog.load_wal(storage, segment_size), secret)
    if record is None:
        return choose_backup(backups, target, histories), backups
    check_reachable(record, target, histories)
    return record, backups


def _combiner(ctx, record):
    """pg_combinebackup of the backup's version, checked before anything is
    downloaded: (where the programs are, its major version)."""
    from swiftwal.adapters import postgres
    from swiftwal.adapters.chain_restore import check_combine_tool

    server = postgres.Server.configured(ctx.settings)
    return server, check_combine_tool(server, record)


def _restore_chain(ctx, storage, chain, directory: str, key, combiner, spaces):
    """Every member of the chain, fetched and checked, combined into ``directory``
    and the tablespaces' targets ``spaces``."""
    from swiftwal.adapters.chain_restore import check_free_space, member_unpacker, restore_chain
    from swiftwal.adapters.progress import Progress

    check_free_space(directory, chain, spaces)
    progress = Progress(f"restore {chain.backup.key} (a chain of {len(chain.members)})",
                        chain.stored_size or None)
    server, tool_major = combiner
    try:
        return restore_chain(chain, directory, server, tool_major,
                             member_unpacker(storage, key, progress),
                             ctx.settings.integer("PARALLEL", 4), spaces=spaces)
    finally:
        progress.close()


def tablespace_mapping(texts) -> dict:
    """``--tablespace-map OID=DIR`` options: OID to directory."""
    from swiftwal.domain.tablespaces import parse_mapping

    mapping = dict(parse_mapping(text) for text in texts)
    if len(mapping) != len(texts):
        raise errors.UsageError("--tablespace-map names one tablespace twice")
    return mapping


def _unpack(storage, record, directory: str, key, encrypted: bool, spaces=()):
    if spaces:
        from swiftwal.adapters.tablespace_restore import unpack_with_tablespaces

        return unpack_with_tablespaces(storage, record, directory, spaces, key, encrypted)
    from swiftwal.adapters.unpack import unpack_backup

    return unpack_backup(storage, record, directory, key, encrypted)


def _fetch_ahead(ctx, record, directory: str) -> None:
    """Fetch the segment recovery begins with, and start fetching those
    after it, while the server is not started yet, into the spool its
    restore_command calls look in first (``swiftwal.commands.restore_async``).
    Only where those calls will find it: the same settings (the config file
    the restore_command names) and the same user (the spool is under the
    user's cache directory).  Waits for that first segment (a worker start
    and one fetch), so that the server's first call is served at once;
    whatever fails here only leaves the calls to fetch for themselves."""
    from swiftwal.adapters import workers
    from swiftwal.adapters.spool import restore_spool_directory

    config_file = ctx.settings.config_file
    if (not config_file or ctx.settings.integer("RESTORE_PREFETCH", 8) <= 0
            or os.stat(directory).st_uid != os.geteuid()):
        return
    try:
        spool = restore_spool_directory(ctx.settings, directory)
    except OSError:
        return
    workers.ask(spool, str(record.start_segment), "", ["--config=" + os.path.abspath(config_file)],
                "restore-worker", cwd=directory)


def swiftwal_executable() -> str:
    """The absolute path of this swiftwal, for the server's restore_command."""
    candidates = [Path(sys.argv[0]) if sys.argv and sys.argv[0] else None,
                  Path(sys.executable).parent / "swiftwal"]
    for candidate in candidates:
        if candidate is not None and candidate.name == "swiftwal" and candidate.is_file() \
                and os.access(candidate, os.X_OK):
            return str(candidate.absolute())
    raise errors.ConfigError("cannot tell where the swiftwal command is installed",
                             hint="run swiftwal by its path, or use --no-recovery-settings")


def restore_command(ctx) -> str:
    """``restore-wal`` with the same settings: the config file by absolute path (secrets stay in
    it), or the non-secret options given, with a warning that the rest must reach the server."""
    words = [swiftwal_executable()]
    config_file = ctx.settings.config_file
    if config_file:
        words.append("--config=" + os.path.abspath(config_file))
    else:
        for key, option in (("STORAGE", "--storage"), ("CONTAINER", "--container")):
            if ctx.settings.get(key):
                words.append(f"{option}={ctx.settings.get(key)}")
        ctx.log.warning(events.CONFIG_WARNING, msg="no --config file: the server's restore_command "
                        "gets its credentials from the server's environment only")
    return " ".join(shlex.quote(word) for word in words) + " restore-wal %f %p"


def write_recovery_settings(directory: str, target: RecoveryTarget, command: str) -> None:
    """Signal file and settings, owned like the restored files (0600)."""
    data_dir = Path(directory)
    auto_conf = data_dir / "postgresql.auto.conf"
    existing = auto_conf.read_text(encoding="utf-8") if auto_conf.exists() else ""
    _write_private(auto_conf, rewrite_auto_conf(existing, target.settings(command)))
    _write_private(data_dir / target.signal_file, "")


def _write_private(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".swiftwal-tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
