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
    """An external program (pg_basebackup, pigz, zstd, tar) failed."""

    code = "tool-failed"

    def __init__(self, tool: str, exit_code: int | None, stderr_tail: str = "",
                 hint: str | None = None) -> None:
        detail = f": {stderr_tail.strip().splitlines()[-1]}" if stderr_tail.strip() else ""
        status = f"exit status {exit_code}" if exit_code is not None else "could not start"
        super().__init__(f"{tool} failed ({status}){detail}", hint)
        self.tool = tool
        self.exit_code = exit_code
        self.stderr_tail = stderr_tail


class InvariantViolated(SwiftwalError):
    """A safety rule would be broken (for example deleting every backup)."""

    code = "invariant-violated"
