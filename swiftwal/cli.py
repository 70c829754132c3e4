"""The ``swiftwal`` command: parse, wire adapters, configure logging once,
map errors to exit statuses.  Each command lives in ``swiftwal.commands``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from swiftwal.domain import errors

# Exit statuses, documented in docs/exit-codes.md.  restore-wal keeps 1 for
# "not in the archive" only (PostgreSQL's restore_command contract).
EXIT_OK = 0
EXIT_NOT_IN_ARCHIVE = 1
EXIT_STATUSES: tuple[tuple[type[errors.SwiftwalError], int], ...] = (
    (errors.UsageError, 2),
    (errors.InvalidInput, 2),
    (errors.ConfigError, 3),
    (errors.StorageUnavailable, 4),
    (errors.AuthenticationFailed, 5),
    (errors.StorageError, 5),
    (errors.WalConflict, 6),
    (errors.AlreadyExists, 6),
    (errors.RestoreTargetNotEmpty, 7),
    (errors.ToolFailed, 8),
    (errors.IntegrityError, 9),
    (errors.UnsafeArchive, 10),
    (errors.InvariantViolated, 11),
    (errors.ObjectNotFound, 12),
    (errors.SwiftwalError, 13),
)
# Run once per WAL file by PostgreSQL: they log without importing structlog.
LIGHT_COMMANDS = ("archive-wal", "restore-wal")
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130
# During targeted recovery PostgreSQL ends recovery on 1..125 ("missing")
# but aborts on anything above 125: a store outage must never read as the
# end of the archive.
EXIT_ABORT_RECOVERY = 126

COMMANDS = {
    "backup": "swiftwal.commands.backup",
    "restore": "swiftwal.commands.restore",
    "list-backups": "swiftwal.commands.listing",
    "list-wal": "swiftwal.commands.listing",
    "archive-wal": "swiftwal.commands.archive_wal",
    "restore-wal": "swiftwal.commands.restore_wal",
    "prune": "swiftwal.commands.prune",
    "archive-cleanup": "swiftwal.commands.archive_cleanup",
    "verify": "swiftwal.commands.verify",
    "check": "swiftwal.commands.check",
    "info": "swiftwal.commands.info",
}


def exit_status(error: errors.SwiftwalError) -> int:
    for kind, status in EXIT_STATUSES:
        if isinstance(error, kind):
            return status
    return EXIT_INTERNAL


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise errors.UsageError(message, hint=f"see '{self.prog} --help'")


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = _Parser(prog="swiftwal", description="PostgreSQL backups, WAL archiving and "
                     "point-in-time recovery into OpenStack Swift or a local directory.")
    parser.add_argument("--container", "-C", help="container holding everything (CONTAINER)")
    parser.add_argument("--config", "-c", help="KEY=value config file")
    parser.add_argument("--verbose", "-v", action="store_true", help="extra output and longer reports")
    parser.add_argument("--storage", help="swift (default) or file:///path (STORAGE)")
    parser.add_argument("--os-auth-url", metavar="URL")
    parser.add_argument("--os-username", metavar="USER")
    parser.add_argument("--os-password", metavar="KEY",
                        help="visible to other users in ps: prefer the config file or OS_PASSWORD")
    parser.add_argument("--os-tenant-name", metavar="TENANT")
    parser.add_argument("--os-auth-version", metavar="VERSION")
    parser.add_argument("--os-cloud", metavar="CLOUD", help="a cloud of clouds.yaml (OS_CLOUD)")
    parser.add_argument("--compression", choices=("gzip", "zstd"))
    parser.add_argument("--log-format", choices=("console", "json"))
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for name, module in _commands_to_register(argv).items():
        importlib.import_module(module).add_arguments(commands, name)
    return parser


def _commands_to_register(argv: Sequence[str] | None) -> dict[str, str]:
    """Only the commands named in ``argv`` (all of them for help or a typo):
    importing every command costs archive_command time on each WAL file."""
    named = {word: COMMANDS[word] for word in (argv or ()) if word in COMMANDS}
    return named or COMMANDS


def _cli_settings(args: argparse.Namespace) -> dict[str, str | None]:
    return {
        "CONTAINER": args.container, "STORAGE": args.storage, "OS_AUTH_URL": args.os_auth_url,
        "OS_USERNAME": args.os_username, "OS_PASSWORD": args.os_password,
        "OS_TENANT_NAME": args.os_tenant_name, "OS_AUTH_VERSION": args.os_auth_version,
        "OS_CLOUD": args.os_cloud,
        "COMPRESSION": args.compression, "LOG_FORMAT": args.log_format,
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    status = EXIT_INTERNAL
    try:
        status = _run(argv)
    except errors.SwiftwalError as error:
        status = _report(error, debug, argv)
    except KeyboardInterrupt:
        print("swiftwal: error: interrupted", file=sys.stderr)
        status = EXIT_INTERRUPTED
    except BrokenPipeError:
        status = EXIT_OK
    except Exception as error:  # a bug: still one line unless --debug
        if debug:
            raise
        print(f"swiftwal: internal error: {error.__class__.__name__}: {error}"
              " (run with --debug for details)", file=sys.stderr)
        status = EXIT_INTERNAL
    return status


def _run(argv: list[str]) -> int:
    from swiftwal import config, events, logs
    from swiftwal.commands.context import Context

    args = build_parser(argv).parse_args(argv)
    settings = config.load_settings(_cli_settings(args), args.config, os.environ)
    fmt = settings.log_format or "console"
    logs.configure(fmt, args.verbose or args.debug, light=args.command in LIGHT_COMMANDS)
    context = Context(settings=settings, verbose=args.verbose, debug=args.debug)
    for warning in settings.warnings:
        context.log.warning(events.CONFIG_WARNING, msg=warning)
    try:
        return args.handler(context, args)
    except errors.SwiftwalError as error:
        if fmt == "json":
            context.log.error(events.COMMAND_FAILED, command=args.command,
                              error_code=error.code, msg=error.message)
        raise


def _report(error: errors.SwiftwalError, debug: bool, argv: list[str]) -> int:
    import traceback

    if debug:
        traceback.print_exc()
    hint = f" (hint: {error.hint})" if error.hint else ""
    print(f"swiftwal: error: {printable(error.message)}{printable(hint)}", file=sys.stderr)
    return getattr(error, "exit_status", None) or exit_status(error)


def printable(text: str) -> str:
    """User input in a message must not break the one-line error."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


if __name__ == "__main__":
    sys.exit(main())
