"""The one error taxonomy of swiftwal.

Every error carries a stable kebab-case ``code`` (used in JSON logs and
documented), a lowercase one-line ``message`` and an optional ``hint``.
Subclasses are grouped by what the user can act on; ``swiftwal.cli`` maps
them to exit statuses in one table.  Messages must never contain secrets.
"""
from __future__ import annotations


class SwiftwalError(Exception):
    """Root of every error swiftwal raises on purpose."""

    code = "swiftwal-error"

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidInput(SwiftwalError, ValueError):
    """A value given to the domain is malformed (the documented domain error)."""

    code = "invalid-input"


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


class ConfigError(SwiftwalError):
    code = "config"


class StorageError(SwiftwalError):
    """The store answered, but refused (permissions, bad request, ...)."""

    code = "storage-error"


class StorageUnavailable(StorageError):
    """The store could not be reached or failed transiently (after retries)."""

    code = "storage-unavailable"


class AuthenticationFailed(StorageError):
    code = "authentication-failed"


class ObjectNotFound(SwiftwalError):
    code = "not-found"


class AlreadyExists(SwiftwalError):
    """A create-only write found the name taken."""

    code = "already-exists"


class WalConflict(SwiftwalError):
    """A different file is already archived under the same WAL name."""

    code = "wal-conflict"


class BackupNotFound(ObjectNotFound):
    code = "backup-not-found"


class RestoreTargetNotEmpty(SwiftwalError):
    code = "restore-target-not-empty"


class UnsafeArchive(SwiftwalError):
    """A tar member would escape the restore target or is not allowed."""

    code = "unsafe-archive"


class IntegrityError(SwiftwalError):
    """Stored bytes do not match their recorded checksum or size."""

    code = "integrity"


class ToolFailed(SwiftwalError):
    """An external program (pg_basebackup, pigz, zstd, tar) failed.

    The message ends with the last lines of its stderr (``stderr_cause``):
    the last line alone is often only a hint, as in libpq's "could not
    connect" followed by "Is the server running...?"."""

    code = "tool-failed"

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
