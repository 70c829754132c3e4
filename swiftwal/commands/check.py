"""check: is the server set up to archive into this store, and does the store do what
swiftwal needs?  Phases: ask the server, judge its settings
(``swiftwal.domain.server_settings``), probe the store, then archive one segment for
real.  One finding per line with a hint; exit 1 on a failure.
``--nagios`` is another check altogether: ``swiftwal.commands.check_nagios``."""
from __future__ import annotations

import io
import json
import os
import time
import uuid
from typing import Dict, List, Optional

from swiftwal.adapters import postgres
from swiftwal.domain import errors, layout
from swiftwal.domain.server_settings import (FAIL, OK, WARN, Finding, judge_archive_call,
                                             judge_server, read_archive_command,
                                             skip_archive_test, store_of, unusable_config)

PROBE_PREFIX = "swiftwal-check/"
_QUERY = ("SELECT current_setting('archive_mode'), current_setting('archive_command'), "
          "current_setting('wal_level'), current_setting('max_wal_senders'), "
          "(SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user), "
          "current_setting('server_version_num'), pg_is_in_recovery()")


def add_arguments(commands, name: str) -> None:
    parser = commands.add_parser(name, help="check the server's archiving set-up and the store")
    parser.add_argument("--username", "-U", help="connect as this user")
    parser.add_argument("--host", "-H", help="connect to this host or socket directory")
    parser.add_argument("--port", "-p", help="connect to this port")
    parser.add_argument("--dbname", "-d", default="postgres", help="database to connect to")
    parser.add_argument("--timeout", type=float, metavar="SECONDS",
                        help="how long to wait for the test segment to reach the store "
                             "(default 60)")
    parser.add_argument("--no-archive-test", action="store_true",
                        help="skip the end-to-end test (it switches to a new WAL segment)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--nagios", action="store_true",
                        help="only judge the ages of the last archived WAL and the newest backup "
                        "(CHECK_* settings) as a Nagios/Icinga plugin: one status line, exit 0-3")
    parser.set_defaults(handler=run)


def run(ctx, args) -> int:
    if args.no_archive_test and args.timeout is not None:
        raise errors.UsageError("--timeout has no effect with --no-archive-test",
                                hint="it bounds the wait of the archive test")
    if args.nagios:
        from swiftwal.commands import check_nagios

        return check_nagios.run(ctx, args)
    findings: List[Finding] = []
    server = _ask_server(ctx, args, findings)
    if server is not None:
        findings.extend(judge_server(
            server, judge_archive_command(str(server["archive_command"]), ctx.settings)))
    store_ok = _probe_store(ctx, findings)
    skipped = skip_archive_test(args.no_archive_test, server, store_ok)
    findings.append(_archive_test(ctx, args) if skipped is None else skipped)
    failed = any(f.status == FAIL for f in findings)
    if args.json:
        ctx.print(json.dumps({"ok": not failed, "findings": [f.to_json_dict() for f in findings]},
                             indent=2))
    else:
        for finding in findings:
            ctx.print(finding.line())
    return 1 if failed else 0


# -- the server ----------------------------------------------------------------------------

def _run_sql(ctx, args, *commands: str) -> postgres.Answer:
    server = postgres.Server.configured(ctx.settings, args.host, args.port, args.username)
    return postgres.run_psql(server, *commands, dbname=args.dbname)


def _ask_server(ctx, args, findings: List[Finding]) -> Optional[Dict[str, object]]:
    try:
        done = _run_sql(ctx, args, _QUERY)
    except errors.SwiftwalError as exc:  # no psql, or it did not start or answer
        findings.append(Finding("server", FAIL, f"cannot run psql: {exc}"))
        return None
    fields = done.stdout.rstrip("\n").split(postgres.SEPARATOR)
    if done.returncode != 0 or len(fields) != 7:
        findings.append(Finding("server", FAIL, f"cannot query the server: {done.first_error()}",
                                "give -H/-p/-U as for backup; the user must be able to log in"))
        return None
    mode, command, level, senders, replication, version, recovery = fields
    findings.append(Finding("server", OK, f"connected, PostgreSQL {int(version) // 10000}"
                            + (" (in recovery)" if recovery == "t" else "")))
    return {"archive_mode": mode, "archive_command": command, "wal_level": level,
            "max_wal_senders": int(senders), "replication": replication == "t",
            "version": int(version), "in_recovery": recovery == "t"}


def judge_archive_command(command: str, settings) -> Finding:
    """archive_command judged (``swiftwal.domain.server_settings``) after a
    look at the swiftwal it runs and a read of the config file it gives it."""
    call = read_archive_command(command)
    if isinstance(call, Finding):
        return call
    tool_runs = not os.path.isabs(call.tool) or os.access(call.tool, os.X_OK)
    theirs = None
    if tool_runs and call.config_file is not None:
        from swiftwal.config import load_settings

        try:
            theirs = store_of(load_settings({}, call.config_file, {}))
        except errors.ConfigError as exc:
            theirs = unusable_config(exc.message, exc.hint)
    return judge_archive_call(call, tool_runs, theirs, store_of(settings))


# -- the store -----------------------------------------------------------------------------

def _probe_store(ctx, findings: List[Finding]) -> bool:
    try:
        storage = ctx.storage
        capabilities = storage.capabilities()
    except errors.SwiftwalError as exc:
        findings.append(Finding("store", FAIL, exc.message, exc.hint))
        return False
    if capabilities is not None:
        missing = [name.replace("_", " ") for name, offered in capabilities.items() if not offered]
        if missing:
            findings.append(Finding("store-capabilities", WARN, "the cluster does not offer "
                                    + ", ".join(missing), "backups larger than one object and "
                                    "fast deletes need them"))
        else:
            findings.append(Finding("store-capabilities", OK, "large objects and bulk delete"))
    name = f"{PROBE_PREFIX}{uuid.uuid4().hex}"
    try:
        storage.put(name, io.BytesIO(b"probe"), create_only=True, size=5)
        try:
            storage.put(name, io.BytesIO(b"probe"), create_only=True, size=5)
            findings.append(Finding("store-create-only", FAIL, "a second create-only put "
                                    "replaced the object", "archive-wal relies on it to never "
                                    "overwrite WAL: is If-None-Match supported?"))
        except errors.AlreadyExists:
            findings.append(Finding("store-create-only", OK,
                                    f"writes in {storage.describe()}; a repeated put answers 'exists'"))
        finally:
            storage.delete([name])
    except errors.SwiftwalError as exc:
        findings.append(Finding("store", FAIL, exc.message, exc.hint))
        return False
    return True


def _archive_test(ctx, args) -> Finding:
    name = "archive-test"
    try:
        done = _run_sql(ctx, args, "SELECT txid_current()", "SELECT pg_walfile_name(pg_switch_wal())")
    except errors.SwiftwalError as exc:
        return Finding(name, FAIL, f"cannot switch WAL: {exc}")
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) < 2:
        return Finding(name, FAIL, f"cannot switch WAL: {done.first_error()}",
                       "run check as a superuser or grant EXECUTE on pg_switch_wal()")
    segment = lines[-1]
    timeout = 60 if args.timeout is None else args.timeout
    deadline = time.monotonic() + timeout
    candidates = layout.wal_candidates(segment, ctx.settings.compression)
    while True:
        for candidate in candidates:
            try:
                ctx.storage.stat(candidate.object_name)
                return Finding(name, OK, f"{segment} reached the store")
            except errors.ObjectNotFound:
                pass
        if time.monotonic() > deadline:
            return Finding(name, FAIL, f"{segment} did not reach the store within "
                           f"{timeout:g} s", "see the server log and pg_stat_archiver")
        time.sleep(0.5)
