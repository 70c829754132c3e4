"""The ``swiftwal`` command: parse, wire adapters, configure logging once,
end with the exit status of what happened (each error declares its own:
``swiftwal.domain.errors``).  Each command lives in ``swiftwal.commands``.
"""
from __future__ import annotations

import os
import sys
TYPE_CHECKING = False  # typing itself costs archive_command time

from swiftwal import options
from swiftwal.domain import errors
from swiftwal.domain.errors import EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_OK

if TYPE_CHECKING:
    import argparse
    from typing import Sequence

# Run once per WAL file by PostgreSQL, and the workers they start on demand
# (a call may wait for one to start): they log without importing structlog.
WORKER_COMMANDS = ("archive-worker", "restore-worker")
LIGHT_COMMANDS = ("archive-wal", "restore-wal", *WORKER_COMMANDS)

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
    """``options.GLOBAL_OPTIONS`` on the main parser, or after a command (``default``
    SUPPRESS: only an option given there overrides the one before the command).
    A command's own option keeps its flag: ``backup -c`` is the checkpoint."""
    import argparse

    for flags, key, text in options.GLOBAL_OPTIONS:
        dest = flags[0][2:].replace("-", "_")
        if key == "":
            settings = dict(action="store_true")
        else:
            settings = dict(choices=options.CHOICES.get(key), metavar=options.METAVARS.get(key))
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


def _commands_to_register(argv: Sequence[str] | None) -> dict[str, str]:
    """Only the commands named in ``argv`` (all of them for help or a typo):
    importing every command costs archive_command time on each WAL file."""
    named = {word: COMMANDS[word] for word in (argv or ()) if word in COMMANDS}
    return named or COMMANDS


def cli_settings(args) -> dict[str, str | None]:
    return {key: getattr(args, names[0][2:].replace("-", "_"))
            for names, key, _ in options.GLOBAL_OPTIONS if key}


def main(argv: Sequence[str] | None = None) -> int:
    return _main(list(sys.argv[1:] if argv is None else argv))[0]


def worker_main() -> None:
    """A worker process (``swiftwal.adapters.workers.start_worker``): the
    command line it was started with arrives on stdin."""
    sys.exit(main(options.read_worker_command_line()))


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
        failure = error
        if args.command == "restore-wal":  # a bad setting too must not end recovery early
            from swiftwal.adapters.recovery_signals import restore_failure

            failure = restore_failure(error)
        if context is not None and fmt == "json":
            context.log.error(events.COMMAND_FAILED, command=args.command,
                              error_code=failure.code, msg=failure.message)
        # Standard output holds one JSON document: a report already printed
        # (verify's, naming the backups that fail) stands for the error.
        if getattr(args, "json", False) and not (context is not None and context.printed):
            print_json_error(failure)
        if failure is error:
            raise
        raise failure from error


def _report(error: errors.SwiftwalError, debug: bool, argv: list[str]) -> int:
    import traceback

    if debug:
        traceback.print_exc()
    hint = f" (hint: {error.hint})" if error.hint else ""
    print(f"swiftwal: error: {printable(error.message)}{printable(hint)}", file=sys.stderr)
    return error.exit_status


def print_json_error(error: errors.SwiftwalError) -> None:
    """The error of a command run with --json, as docs/schemas/error.json."""
    import json

    print(json.dumps({"error": {"status": error.exit_status, "kind": error.code,
                                "message": error.message, "hint": error.hint}}))


def printable(text: str) -> str:
    """User input in a message must not break the one-line error."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


if __name__ == "__main__":
    entry()
