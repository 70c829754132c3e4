"""The one error taxonomy of swiftwal.

Every error carries a stable kebab-case ``code`` (used in JSON logs and
documented), a lowercase one-line ``message``, an optional ``hint`` and the
``exit_status`` the command ends with.  Subclasses are grouped by what the
user can act on.  Messages must never contain secrets.

Each kind declares its code and its status once, here (docs/exit-codes.md is
their table, checked against this module): the CLI ends with them, a worker
passes them on to the call that asked it, restore-wal picks its own, and none
of them has to ask the CLI.  A status that depends on the situation rather
than on the kind is given to a ``RelayedError`` when it is made, never
set on an error after it was raised.
"""
from __future__ import annotations

# Statuses that are no error's, documented in docs/exit-codes.md beside the
# errors'.  restore-wal keeps 1 for "not in the archive" only (PostgreSQL's
# restore_command contract).
EXIT_OK = 0
EXIT_NOT_IN_ARCHIVE = 1
EXIT_INTERNAL = 70  # an exception that is not a SwiftwalError: a bug
EXIT_INTERRUPTED = 130
# During targeted recovery PostgreSQL ends recovery on 1..125 ("missing")
# but aborts on anything above 125: a store outage must never read as the
# end of the archive.
EXIT_ABORT_RECOVERY = 126


class SwiftwalError(Exception):
    """Root of every error swiftwal raises on purpose."""

    code = "swiftwal-error"
    exit_status = 13

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidInput(SwiftwalError, ValueError):
    """A value given to the domain is malformed (the documented domain error)."""

    code = "invalid-input"
    exit_status = 2


class InvalidWalName(InvalidInput):
    code = "invalid-wal-name"


class InvalidLsn(InvalidInput):
    code = "invalid-lsn"


class InvalidHistory(InvalidInput):
    code = "invalid-history"


class InvalidBackupKey(InvalidInput):
    code = "invalid-backup-key"


class InvalidPolicy(InvalidInput):
    code = "invalid-policy"


class UsageError(SwiftwalError):
    code = "usage"
    exit_status = 2


class ConfigError(SwiftwalError):
    code = "config"
    exit_status = 3


class StorageError(SwiftwalError):
    """The store answered, but refused (permissions, bad request, ...)."""

    code = "storage-error"
    exit_status = 5


class StorageUnavailable(StorageError):
    """The store could not be reached or failed transiently (after retries)."""

    code = "storage-unavailable"
    exit_status = 4


class AuthenticationFailed(StorageError):
    code = "authentication-failed"
    exit_status = 5


class ObjectNotFound(SwiftwalError):
    code = "not-found"
    exit_status = 12


class AlreadyExists(SwiftwalError):
    """A create-only write found the name taken."""

    code = "already-exists"
    exit_status = 6


class WalConflict(SwiftwalError):
    """A different file is already archived under the same WAL name."""

    code = "wal-conflict"
    exit_status = 6


class BackupNotFound(ObjectNotFound):
    code = "backup-not-found"


class RestoreTargetNotEmpty(SwiftwalError):
    code = "restore-target-not-empty"
    exit_status = 7


class UnsafeArchive(SwiftwalError):
    """A tar member would escape the restore target or is not allowed."""

    code = "unsafe-archive"
    exit_status = 10


class IntegrityError(SwiftwalError):
    """Stored bytes do not match their recorded checksum or size."""

    code = "integrity"
    exit_status = 9


class BrokenChain(IntegrityError):
    """An incremental backup cannot be restored: a backup of its chain is missing,
    fails verification or does not belong to it."""

    code = "broken-chain"


class ToolFailed(SwiftwalError):
    """An external program (pg_basebackup, pigz, zstd, tar) failed.

    The message ends with the last lines of its stderr (``stderr_cause``):
    the last line alone is often only a hint, as in libpq's "could not
    connect" followed by "Is the server running...?"."""

    code = "tool-failed"
    exit_status = 8

    def __init__(self, tool: str, exit_code: int | None, stderr_tail: str = "",
                 hint: str | None = None) -> None:
        cause = stderr_cause(stderr_tail)
        status = f"exit status {exit_code}" if exit_code is not None else "could not start"
        super().__init__(f"{tool} failed ({status})" + (f": {cause}" if cause else ""), hint)
        self.tool = tool
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


#: How many of a tool's last stderr lines its one-line error shows, and at most
#: how many characters of them.
CAUSE_LINES = 3
CAUSE_CHARACTERS = 600
CAUSE_SEPARATOR = " | "


def stderr_cause(stderr: str) -> str:
    """The last ``CAUSE_LINES`` non-blank lines of ``stderr`` on one line:
    ``visible``, joined by ``CAUSE_SEPARATOR``, and cut at the front to
    ``CAUSE_CHARACTERS``."""
    lines = [visible(line.rstrip()) for line in stderr.replace("\r\n", "\n").replace("\r", "\n")
             .split("\n") if line.strip()]
    text = CAUSE_SEPARATOR.join(lines[-CAUSE_LINES:])
    return text if len(text) <= CAUSE_CHARACTERS else "..." + text[-(CAUSE_CHARACTERS - 3):]


def visible(text: str) -> str:
    """``text`` with every unprintable character shown as printable text:
    ASCII control characters in caret notation (a tab is ``^I``, an escape
    ``^[``, DEL ``^?``, as ``cat -v`` and ``less`` show them), any other as
    ``<U+XXXX>``.  Another program's output must not break a one-line error
    or play tricks on a terminal."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _shown(c) for c in text)


def _shown(character: str) -> str:
    code = ord(character)
    if code < 0x20 or code == 0x7F:
        return "^" + chr(code ^ 0x40)
    return f"<U+{code:04X}>"


class InvariantViolated(SwiftwalError):
    """A safety rule would be broken (for example deleting every backup)."""

    code = "invariant-violated"
    exit_status = 11


class RelayedError(SwiftwalError):
    """An error passed on with the exit status its situation gives it rather
    than its kind's: a worker's final answer, which the call that asked
    reports as its own (``swiftwal.adapters.workers``), or restore-wal's
    failure during targeted recovery (``EXIT_ABORT_RECOVERY``, see
    ``swiftwal.adapters.recovery_signals``).  It keeps the code, message and
    hint it was given."""

    def __init__(self, message: str, hint: str | None = None, *,
                 code: str = SwiftwalError.code,
                 exit_status: int = SwiftwalError.exit_status) -> None:
        super().__init__(message, hint)
        self.code = code
        self.exit_status = exit_status

    @classmethod
    def of(cls, error: SwiftwalError, exit_status: int) -> RelayedError:
        return cls(error.message, error.hint, code=error.code, exit_status=exit_status)


def exit_status(error: BaseException) -> int:
    """The status a command that failed with ``error`` ends with: its own, or
    ``EXIT_INTERNAL`` for an exception that is not ours."""
    return error.exit_status if isinstance(error, SwiftwalError) else EXIT_INTERNAL


def _kinds() -> list[type[SwiftwalError]]:
    """Every error kind (a class that declares its own ``code``; a
    ``RelayedError`` takes another's), each before its bases."""
    found, waiting = [], [SwiftwalError]
    while waiting:
        kind = waiting.pop()
        waiting.extend(kind.__subclasses__())
        if "code" in vars(kind):
            found.append(kind)
    return sorted(found, key=lambda kind: len(kind.__mro__), reverse=True)


#: ``(kind, exit status)`` of every error kind, the most specific first (the
#: first kind an error is an instance of gives its status): the table
#: docs/exit-codes.md documents.
EXIT_STATUSES: tuple[tuple[type[SwiftwalError], int], ...] = tuple(
    (kind, kind.exit_status) for kind in _kinds())
