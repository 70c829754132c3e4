"""The ``swiftwal`` command: parse, wire adapters, configure logging once,
map errors to exit statuses.  Each command lives in ``swiftwal.commands``.
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing itself costs archive_command time

from swiftwal.domain import errors

if TYPE_CHECKING:
    import argparse
    from typing import Sequence

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
# Run once per WAL file by PostgreSQL, and the workers they start on demand
# (a call may wait for one to start): they log without importing structlog.
WORKER_COMMANDS = ("archive-worker", "restore-worker")
LIGHT_COMMANDS = ("archive-wal", "restore-wal", *WORKER_COMMANDS)
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
    "archive-worker": "swiftwal.commands.archive_async",
    "restore-wal": "swiftwal.commands.restore_wal",
    "restore-worker": "swiftwal.commands.restore_async",
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


# Options before the command: (flags, settings key, help).  The key None
# marks --config, "" a switch without a value.  One table for argparse and
# for the fast path of archive_command (swiftwal.commands.archive_async).
GLOBAL_OPTIONS: tuple[tuple[tuple[str, ...], str | None, str | None], ...] = (
    (("--container", "-C"), "CONTAINER", "container holding everything (CONTAINER)"),
    (("--config", "-c"), None, "KEY=value config file"),
    (("--verbose", "-v"), "", "extra output and longer reports"),
    (("--storage",), "STORAGE", "swift (default) or file:///path (STORAGE)"),
    (("--os-auth-url",), "OS_AUTH_URL", None),
    (("--os-username",), "OS_USERNAME", None),
    (("--os-password",), "OS_PASSWORD",
     "visible to other users in ps: prefer the config file or OS_PASSWORD"),
    (("--os-tenant-name",), "OS_TENANT_NAME", None),
    (("--os-auth-version",), "OS_AUTH_VERSION", None),
    (("--os-cloud",), "OS_CLOUD", "a cloud of clouds.yaml (OS_CLOUD)"),
    (("--compression",), "COMPRESSION", None),
    (("--log-format",), "LOG_FORMAT", None),
    (("--debug",), "", "show tracebacks"),
)
_CHOICES = {"COMPRESSION": ("gzip", "zstd"), "LOG_FORMAT": ("console", "json")}
_METAVARS = {"OS_AUTH_URL": "URL", "OS_USERNAME": "USER", "OS_PASSWORD": "KEY",
             "OS_TENANT_NAME": "TENANT", "OS_AUTH_VERSION": "VERSION", "OS_CLOUD": "CLOUD"}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    import argparse
    import importlib

    read: list[argparse.Namespace] = []

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str):  # one line, no usage dump
            raise errors.UsageError(message, hint=f"see '{self.prog} --help'")

        def parse_known_args(self, args=None, namespace=None):
            namespace = argparse.Namespace() if namespace is None else namespace
            read.append(namespace)
            return super().parse_known_args(args, namespace)

        def json_requested(self) -> bool:
            """Whether --json had been read when parsing stopped (a subcommand
            parses into a namespace of its own, merged only once it succeeds)."""
            return any(getattr(namespace, "json", False) for namespace in read)

    class _Version(argparse.Action):
        # Not argparse's "version" action: it wants the text while the parser is
        # built, and reading the package metadata costs every worker's start.
        def __init__(self, option_strings, dest, **kwargs):
            super().__init__(option_strings, argparse.SUPPRESS, nargs=0, **kwargs)

        def __call__(self, parser, namespace, values, option_string=None):
            import swiftwal

            print(f"swiftwal {swiftwal.__version__}")
            parser.exit()

    parser = _Parser(prog="swiftwal", description="PostgreSQL backups, WAL archiving and "
                     "point-in-time recovery into OpenStack Swift or a local directory.")
    parser.add_argument("--version", action=_Version, default=argparse.SUPPRESS,
                        help="show the version and exit")
    _add_global_options(parser, default=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    for name, module in _commands_to_register(argv).items():
        importlib.import_module(module).add_arguments(commands, name)
    commands.choices = _ListedCommands(commands.choices)
    for command in {id(p): p for p in commands.choices.values()}.values():
        group = command.add_argument_group("options of every command (also before it)")
        _add_global_options(group, default=argparse.SUPPRESS)
    return parser


def _add_global_options(container, default) -> None:
    """GLOBAL_OPTIONS on the main parser, or after a command (``default``
    SUPPRESS: only an option given there overrides the one before the command).
    A command's own option keeps its flag: ``backup -c`` is the checkpoint."""
    import argparse

    for flags, key, text in GLOBAL_OPTIONS:
        dest = flags[0][2:].replace("-", "_")
        if key == "":
            settings = dict(action="store_true")
        else:
            settings = dict(choices=_CHOICES.get(key), metavar=_METAVARS.get(key))
        for kept in (flags, *((flag,) for flag in flags)):
            try:
                container.add_argument(*kept, dest=dest, default=default, help=text, **settings)
                break
            except argparse.ArgumentError:  # taken by the command: only the other flag
                continue


class _ListedCommands(dict):
    """The commands argparse names when one is mistyped: every command but the
    workers, which archive-wal and restore-wal start and nobody types."""

    def __iter__(self):
        return (name for name in super().__iter__() if name not in WORKER_COMMANDS)


def split_global_options(argv: Sequence[str]):
    """``(settings from options, config file, switches, the rest from the
    command on)`` without argparse, or None for anything but plain
    ``--opt value`` / ``--opt=value`` options before a command and no
    option after it (argparse decides which command's option that is)."""
    flags = {flag: (key, names[0]) for names, key, _ in GLOBAL_OPTIONS for flag in names}
    values: dict[str, str | None] = {}
    switches: set[str] = set()
    config_file = None
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        flag, equals, value = argv[index].partition("=")
        if flag not in flags:
            return None
        key, name = flags[flag]
        if key == "":
            if equals:
                return None
            switches.add(name)
            index += 1
            continue
        if not equals:
            if index + 1 >= len(argv):
                return None
            value = argv[index + 1]
            index += 1
        index += 1
        if key is None:
            config_file = value
        elif key in _CHOICES and value not in _CHOICES[key]:
            return None
        else:
            values[key] = value
    if any(word.startswith("-") for word in argv[index + 1:]):
        return None
    return values, config_file, switches, list(argv[index:])


def _commands_to_register(argv: Sequence[str] | None) -> dict[str, str]:
    """Only the commands named in ``argv`` (all of them for help or a typo):
    importing every command costs archive_command time on each WAL file."""
    named = {word: COMMANDS[word] for word in (argv or ()) if word in COMMANDS}
    return named or COMMANDS


def cli_settings(args) -> dict[str, str | None]:
    return {key: getattr(args, names[0][2:].replace("-", "_"))
            for names, key, _ in GLOBAL_OPTIONS if key}


def main(argv: Sequence[str] | None = None) -> int:
    return _main(list(sys.argv[1:] if argv is None else argv))[0]


def entry() -> None:
    """The installed ``swiftwal`` command."""
    status, answered_fast = _main(sys.argv[1:])
    if answered_fast:
        # Nothing is left to clean up after a fast-path call (no threads, no
        # temporary files, its files closed): skipping the interpreter's
        # teardown saves about 1.5 ms of each call PostgreSQL makes.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe must not change the status
                pass
        os._exit(status)
    sys.exit(status)


def _main(argv: list[str]) -> tuple[int, bool]:
    """The exit status, and whether the fast path answered."""
    debug = "--debug" in argv
    if "--nagios" in argv:  # a monitoring plugin: one status line and 0..3, whatever fails
        from swiftwal.commands import check_nagios

        if check_nagios.wanted(argv):
            return check_nagios.as_plugin(lambda: _run(argv), debug), False
    status = EXIT_INTERNAL
    fast = None
    try:
        fast = _fast_path(argv)
        status = _run(argv) if fast is None else fast
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
    return status, fast is not None


def _fast_path(argv: list[str]) -> int | None:
    """archive-wal and restore-wal answered by their workers (or None)."""
    if "archive-wal" in argv:
        from swiftwal.commands.archive_async import fast_archive as fast
    elif "restore-wal" in argv:
        from swiftwal.commands.restore_async import fast_restore as fast
    else:
        return None
    try:
        return fast(argv)
    except errors.SwiftwalError:  # the worker's final answer
        raise
    except Exception:  # never an error of its own: the full command does it all again
        if "--debug" in argv:
            raise
        return None


def _run(argv: list[str]) -> int:
    from swiftwal import config, events, logs
    from swiftwal.commands.context import Context

    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except errors.UsageError as error:
        if parser.json_requested():
            print_json_error(error)
        raise
    context = fmt = None
    try:
        settings = config.load_settings(cli_settings(args), args.config, os.environ)
        fmt = settings.log_format or "console"
        logs.configure(fmt, args.verbose or args.debug, light=args.command in LIGHT_COMMANDS)
        context = Context(settings=settings, verbose=args.verbose, debug=args.debug)
        for warning in settings.warnings:
            context.log.warning(events.CONFIG_WARNING, msg=warning)
        return args.handler(context, args)
    except errors.SwiftwalError as error:
        if args.command == "restore-wal":  # a bad setting too must not end recovery early
            from swiftwal.commands.restore_wal import failure_status

            error.exit_status = failure_status(error)
        if context is not None and fmt == "json":
            context.log.error(events.COMMAND_FAILED, command=args.command,
                              error_code=error.code, msg=error.message)
        # Standard output holds one JSON document: a report already printed
        # (verify's, naming the backups that fail) stands for the error.
        if getattr(args, "json", False) and not (context is not None and context.printed):
            print_json_error(error)
        raise


def _report(error: errors.SwiftwalError, debug: bool, argv: list[str]) -> int:
    import traceback

    if debug:
        traceback.print_exc()
    hint = f" (hint: {error.hint})" if error.hint else ""
    print(f"swiftwal: error: {printable(error.message)}{printable(hint)}", file=sys.stderr)
    return status_of(error)


def status_of(error: errors.SwiftwalError) -> int:
    return getattr(error, "exit_status", None) or exit_status(error)


def print_json_error(error: errors.SwiftwalError) -> None:
    """The error of a command run with --json, as docs/schemas/error.json."""
    import json

    print(json.dumps({"error": {"status": status_of(error), "kind": error.code,
                                "message": error.message, "hint": error.hint}}))


def printable(text: str) -> str:
    """User input in a message must not break the one-line error."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


if __name__ == "__main__":
    entry()
