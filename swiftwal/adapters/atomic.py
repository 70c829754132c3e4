"""Whole files or nothing: write a temp file beside the target, fsync, rename.

A reader of ``path`` (PostgreSQL reading ``%p``, a later swiftwal call reading
its spool) sees the old file or the complete new one, never a prefix.
"""
from __future__ import annotations

import contextlib
import os


def write_atomically(path: str, data: bytes, temp: str, *, sync_directory: bool = False) -> None:
    """Write ``data`` to ``temp`` (same directory as ``path``, created 0600 and
    never through a symbolic link), fsync it, rename it to ``path``; with
    ``sync_directory`` also fsync the directory so the rename survives a crash.
    On any failure ``temp`` is removed and the error raised."""
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if sync_directory:
        dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
