"""The directory a backup is restored into: absent or empty, then mode 0700.

Checked before anything is downloaded, so a mistyped path costs nothing and
an existing data directory is never mixed with a backup.
"""
from __future__ import annotations

import os

from swiftwal.domain.errors import RestoreTargetNotEmpty, UsageError

DATA_DIRECTORY_MODE = 0o700  # PostgreSQL refuses to start on a group- or world-readable one


def check_restore_target(path: str, what: str = "restore target") -> None:
    """What ``prepare_restore_target`` would refuse, without creating
    anything: so that a restore with several targets (tablespaces) is
    refused before it touches any."""
    if os.path.lexists(path):
        _refuse_unless_empty(path, what)
        if not os.access(path, os.W_OK | os.X_OK) and os.stat(path).st_uid != os.geteuid():
            raise UsageError(f"cannot write into {what} {path}: permission denied")
        return
    parent = os.path.dirname(os.path.abspath(path))
    while not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot create {what} {path}: {parent} is not writable")


def prepare_restore_target(path: str) -> None:
    """Create ``path`` (mode 0700) if absent; accept it if an empty directory
    (and set 0700); otherwise raise ``RestoreTargetNotEmpty`` naming it."""
    try:
        os.mkdir(path, DATA_DIRECTORY_MODE)
    except FileExistsError:
        _refuse_unless_empty(path, "restore target")
    except FileNotFoundError:
        # missing parents: create them the usual way, the target itself 0700
        try:
            os.makedirs(path, DATA_DIRECTORY_MODE)
        except OSError as exc:
            raise UsageError(f"cannot create restore target {path}: {exc.strerror}") from None
    except OSError as exc:
        raise UsageError(f"cannot create restore target {path}: {exc.strerror}") from None
    try:
        os.chmod(path, DATA_DIRECTORY_MODE)  # mkdir's mode went through the umask
    except OSError as exc:
        raise UsageError(f"cannot set the mode of restore target {path}: {exc.strerror}") from None


def _refuse_unless_empty(path: str, what: str) -> None:
    if not os.path.isdir(path):
        raise RestoreTargetNotEmpty(f"{what} {path} exists and is not a directory",
                                    hint="give an empty or absent directory")
    try:
        entries = os.listdir(path)
    except OSError as exc:
        raise UsageError(f"cannot read {what} {path}: {exc.strerror}") from None
    if entries:
        raise RestoreTargetNotEmpty(f"{what} {path} is not empty",
                                    hint="give an empty or absent directory")
