"""Spool directories kept outside the data directory, between calls.

``ArchiveSpool``: what the archive worker (``swiftwal.commands.archive_async``)
stored ahead of the calls.  Only after the store confirmed a segment does it
write its record: "the file of this name, device, inode, size, modification
and change time, whose digest was this, is in the store".  A later call
trusts a record only if ``stat`` of the file it is given still shows that
very file, unchanged; such a call returns without reading the segment.
Records go through a temp file and a rename, so a process killed at any
moment leaves either nothing or a complete one; one that does not parse is
ignored.  A record is used once: the call that returns success through it
removes it.

``PrefetchSpool``: WAL files fetched ahead of ``restore_command``.  Each is
checked against the store's checksums by the worker, then stored as
``<full WAL name>.<digest>`` through a temp file that is flushed before it
is renamed, so a file under such a name is complete even after a crash;
serving one moves it beside ``%p`` (rather than read and hash 16 MiB again
in every call of recovery), or copies it from another file system.  Keyed
by the full name, a file of one timeline is never served for another.
On a standby a miss is remembered for ``STANDBY_MISS_SECONDS`` as
``<name>.missing``.

How calls and workers meet (the socket and lock also kept here) is
``swiftwal.adapters.workers``'s.

Neither spool is needed for correctness: any failure to use one (a missing
home directory, a full disk) just means doing the work the plain way.  This
module is on archive_command's fast path: it imports little.
"""
from __future__ import annotations

import os
import time

from swiftwal.adapters.short_sha256 import sha256_hex as _key_digest

_HEX = frozenset("0123456789ABCDEF")
_TEMP = ".tmp-"
_RECORD_VERSION = "swiftwal-record-2"
# A standby polls the end of the archive every wal_retrieve_retry_interval
# (5 s by default) and asks for the next timeline's history file as well.
STANDBY_MISS_SECONDS = 10.0


def cache_root(configured: str | None) -> str:
    """``CACHE_DIR``, else ``$XDG_CACHE_HOME/swiftwal``, else ``~/.cache/swiftwal``."""
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "swiftwal")


def spool_directory(root: str, kind: str, *keys: str) -> str:
    """A private directory (mode 0700) under ``root`` for ``kind`` and ``keys``."""
    digest = _key_digest("\x00".join(keys).encode("utf-8", "surrogateescape"))
    path = os.path.join(root, kind, digest[:24])
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def is_segment_name(name: str) -> bool:
    return len(name) == 24 and _HEX.issuperset(name)


def _is_wal_file_name(name: str) -> bool:
    """A segment or a timeline history file: what a standby polls for."""
    return is_segment_name(name) or (
        len(name) == 16 and name.endswith(".history") and _HEX.issuperset(name[:8]))


def archive_spool_directory(settings) -> str:
    """One archive spool per store."""
    return spool_directory(cache_root(settings.get("CACHE_DIR")), "archive",
                           settings.public_key())


def restore_spool_directory(settings, data_directory: str | None = None) -> str:
    """One prefetch spool per store and data directory (restore_command's
    working directory, unless given)."""
    return spool_directory(cache_root(settings.get("CACHE_DIR")), "restore",
                           settings.public_key(), os.path.realpath(data_directory or os.getcwd()))


def _write_atomically(path: str, data: bytes, durable: bool = False) -> None:
    """Records and requests are not flushed: one lost or torn in a crash only
    means doing the work again (a torn one does not parse)."""
    from swiftwal.adapters.atomic import write_atomically

    temp = os.path.join(os.path.dirname(path), f"{_TEMP}{os.getpid()}-{os.path.basename(path)}")
    write_atomically(path, data, temp, durable=durable)


def _sweep(directory: str, max_age: float, now: float | None = None) -> None:
    now = time.time() if now is None else now
    with _IGNORE_OS_ERRORS:
        for entry in os.scandir(directory):
            with _IGNORE_OS_ERRORS:
                if entry.is_file(follow_symlinks=False) and not entry.name.endswith(".lock") and (
                        now - entry.stat(follow_symlinks=False).st_mtime > max_age):
                    os.unlink(entry.path)


class _IgnoreOSErrors:
    """``contextlib.suppress(OSError)``: importing contextlib took 2 ms of a
    13 ms archive_command call."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, value, traceback) -> bool:
        return kind is not None and issubclass(kind, OSError)


_IGNORE_OS_ERRORS = _IgnoreOSErrors()


def fingerprint(info: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file is replaced or written: its identity,
    size and times (a rename or a write moves ``st_ctime``)."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class WorkerSpool:
    """A worker's spool directory (``swiftwal.adapters.workers``)."""

    max_age = 86400.0

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def sweep(self) -> None:
        """What nobody asked for within ``max_age``: records whose file went
        elsewhere, prefetched files the store may have changed since."""
        _sweep(self.directory, self.max_age)

class ArchiveSpool(WorkerSpool):
    def _path(self, wal_name: str, suffix: str = ".stored") -> str:
        return os.path.join(self.directory, wal_name + suffix)

    # -- records ---------------------------------------------------------------------

    def record(self, wal_name: str, seen: tuple[int, ...], digest: str,
               stored_bytes: int, outcome: str) -> None:
        """Call only once the store has confirmed it holds this content;
        ``outcome``: the event the call reports (stored, or found stored)."""
        fields = (_RECORD_VERSION, wal_name, *map(str, seen), digest, str(stored_bytes),
                  outcome)
        _write_atomically(self._path(wal_name), " ".join(fields).encode())

    def stored(self, wal_name: str, path: str) -> tuple[int, str] | None:
        """``(stored size, outcome)`` recorded for the file at ``path``, if the
        record is for that very file, unchanged since it was read; else None."""
        try:
            with open(self._path(wal_name), "rb") as handle:
                fields = handle.read(512).decode().split()
            current = fingerprint(os.stat(path))
        except (OSError, UnicodeDecodeError):
            return None
        if (len(fields) != 10 or fields[0] != _RECORD_VERSION or fields[1] != wal_name
                or fields[2:7] != [str(v) for v in current] or not fields[8].isdigit()):
            return None
        return int(fields[8]), fields[9]

    def forget(self, wal_name: str) -> None:
        with _IGNORE_OS_ERRORS:
            os.unlink(self._path(wal_name))

    def has_record(self, wal_name: str) -> bool:
        return os.path.exists(self._path(wal_name))

def _move_or_copy(source: str, target: str, temp: str) -> None:
    """``target`` gets ``source``'s content whole or not at all: renamed, or
    on another file system copied to ``temp`` (beside ``target``) and renamed."""
    try:
        os.rename(source, target)
        return
    except OSError:  # another file system
        pass
    with open(source, "rb") as src:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            size = os.fstat(src.fileno()).st_size
            while size > 0:
                size -= os.sendfile(fd, src.fileno(), None, size) or size
        finally:
            os.close(fd)
    os.rename(temp, target)


def ready_segments(status_dir: str, limit: int | None = None) -> list[str]:
    """The segment names PostgreSQL has marked ``.ready`` (up to ``limit``), oldest first."""
    try:
        names = [entry[:-6] for entry in os.listdir(status_dir) if entry.endswith(".ready")]
    except OSError:
        return []
    segments = sorted(n for n in names if is_segment_name(n))
    return segments[:limit]


_DIGEST = frozenset("0123456789abcdefghijklmnopqrstuvwxyz:-")


def _fetched_name(entry: str) -> str | None:
    """The WAL name of a fetched file, ``<WAL name>.<digest>`` (``walstore``'s
    digest of its content); None for anything else (temp files, markers)."""
    name, dot, digest = entry.partition(".")
    return name if (dot and 16 <= len(digest) <= 80 and _DIGEST.issuperset(digest)
                    and is_segment_name(name)) else None


class PrefetchSpool(WorkerSpool):
    max_age = 600.0  # the store may change: a fetched file is not served later than this

    def _entries(self, wal_name: str) -> list[str]:
        try:
            return [n for n in os.listdir(self.directory) if _fetched_name(n) == wal_name]
        except OSError:
            return []

    def has(self, wal_name: str) -> bool:
        return bool(self._entries(wal_name))

    def held(self) -> set[str]:
        """The WAL names that have a fetched file."""
        try:
            names = {_fetched_name(n) for n in os.listdir(self.directory)}
        except OSError:
            return set()
        names.discard(None)
        return names

    def put(self, wal_name: str, data: bytes, digest: str) -> None:
        """``data`` must already be verified against the store's checksums.
        Flushed before it gets its name: a file under its name is complete."""
        _write_atomically(os.path.join(self.directory, f"{wal_name}.{digest}"), data,
                          durable=True)

    def serve(self, wal_name: str, path: str, temp: str) -> int | None:
        """Put the content of ``wal_name`` at ``path`` and return its size;
        None if the spool has no fresh copy.  Moved when it can be (one
        rename, served once), else copied to ``temp`` beside ``path`` and
        renamed.  Files older than ``max_age`` seconds are not served: the
        store may have changed."""
        for entry in self._entries(wal_name):
            source = os.path.join(self.directory, entry)
            try:
                info = os.stat(source)
                if time.time() - info.st_mtime <= self.max_age:
                    _move_or_copy(source, path, temp)
                    return info.st_size
            except OSError:
                pass
            finally:
                for leftover in (source, temp):
                    with _IGNORE_OS_ERRORS:
                        os.unlink(leftover)
        return None

    def note_missing(self, wal_name: str) -> None:
        """A standby's miss, answered from here for ``STANDBY_MISS_SECONDS``."""
        if _is_wal_file_name(wal_name):
            with _IGNORE_OS_ERRORS:
                _write_atomically(os.path.join(self.directory, wal_name + ".missing"), b"")

    def missed_recently(self, wal_name: str) -> bool:
        if not _is_wal_file_name(wal_name):
            return False
        try:
            missed = os.stat(os.path.join(self.directory, wal_name + ".missing")).st_mtime
        except OSError:
            return False
        return 0 <= time.time() - missed <= STANDBY_MISS_SECONDS

    def drop_stale(self, stale) -> None:
        """Drop fetched files whose WAL name ``stale(name)`` says is no longer wanted."""
        with _IGNORE_OS_ERRORS:
            for entry in os.scandir(self.directory):
                name = _fetched_name(entry.name)
                if name is not None and stale(name):
                    with _IGNORE_OS_ERRORS:
                        os.unlink(entry.path)
