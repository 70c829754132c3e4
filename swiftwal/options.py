"""The options every command takes (before or after it), and how a worker
process gets its command line: what the CLI (``swiftwal.cli``) and the
workers behind archive-wal and restore-wal (``swiftwal.adapters.workers``)
share about the command line.  The CLI sits on top and runs the commands;
they never import it.

Imported on the fast path of archive_command and restore_command: standard
library only, and nothing it does not need there.
"""
from __future__ import annotations

import sys
TYPE_CHECKING = False  # typing itself costs archive_command time

if TYPE_CHECKING:
    from typing import Sequence

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
CHOICES = {"COMPRESSION": ("gzip", "zstd"), "LOG_FORMAT": ("console", "json")}
METAVARS = {"OS_AUTH_URL": "URL", "OS_USERNAME": "USER", "OS_PASSWORD": "KEY",
            "OS_TENANT_NAME": "TENANT", "OS_AUTH_VERSION": "VERSION", "OS_CLOUD": "CLOUD"}


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
        elif key in CHOICES and value not in CHOICES[key]:
            return None
        else:
            values[key] = value
    if any(word.startswith("-") for word in argv[index + 1:]):
        return None
    return values, config_file, switches, list(argv[index:])


# -- a worker's command line -----------------------------------------------------------
# A worker is the swiftwal command line run with a worker command and its
# caller's options.  They reach it on stdin, never as arguments: they may
# hold a password, which ps would show.

#: What a new interpreter runs to become a worker (``python -c WORKER_START``).
WORKER_START = "from swiftwal.cli import worker_main; worker_main()"


def worker_command_line(command: str, options: Sequence[str]) -> bytes:
    """What a worker reads on stdin: ``command`` with the caller's ``options``."""
    return "\0".join([command, *options]).encode("utf-8", "surrogateescape")


def read_worker_command_line() -> list[str]:
    """The worker's argv (options, then its command), read from stdin."""
    command, *options = sys.stdin.buffer.read().decode("utf-8", "surrogateescape").split("\0")
    sys.stdin.close()
    return [*options, command]
