"""Whole files or nothing: write a temp file beside the target, rename it.

A reader of ``path`` (PostgreSQL reading ``%p``, a later swiftwal call reading
its spool) sees the old file or the complete new one, never a prefix.  On
restore_command's fast path: standard modules beyond ``os`` cost every call.
"""
from __future__ import annotations

import os


def write_file(path: str, data, *, durable: bool = False, mode: int = 0o600) -> None:
    """``data`` into a new file ``path`` (created ``mode``, less the umask, never
    through a symbolic link); ``durable``: fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: str, data, temp: str, *, durable: bool = True,
                     mode: int = 0o600) -> None:
    """Write ``data`` to ``temp`` (same directory as ``path``) and rename it to
    ``path``; ``durable``: fsync the file before and the directory after, so
    it survives a crash.  On any failure ``temp`` is removed and the error raised."""
    try:
        write_file(temp, data, durable=durable, mode=mode)
        os.rename(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    if durable:
        dir_fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# restore-wal's temp file beside %p: "." + the file's name + ".swiftwal-" + PID
_TEMP_MARK = ".swiftwal-"


def temp_beside(path: str) -> str:
    return os.path.join(os.path.dirname(path) or ".",
                        f".{os.path.basename(path)}{_TEMP_MARK}{os.getpid()}")


def remove_stale_temp_files(directory: str) -> None:
    """Remove the temp files of ``temp_beside`` left by dead processes.

    Only hidden names are looked at (a cheap test on each name of the listing);
    a live PID's file is kept, even if that PID was reused by another process."""
    try:
        names = [n for n in os.listdir(directory) if n.startswith(".") and _TEMP_MARK in n]
    except OSError:
        return
    for name in names:
        stem, _, pid = name.rpartition(_TEMP_MARK)
        if len(stem) > 1 and pid.isdigit() and pid.isascii() and not _alive(int(pid)):
            try:
                os.unlink(os.path.join(directory, name))
            except OSError:
                pass


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # not a PID we wrote: leave it alone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: alive, another user's
        return True
    return True
