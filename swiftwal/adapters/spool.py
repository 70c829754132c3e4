"""Spool directories kept outside the data directory, between calls.

``ArchiveSpool``: the archive worker's queue and answers.  A call of
``archive-wal`` that finds no answer leaves a request (the file's path) and
waits; the worker (``swiftwal.commands.archive_async``) stores requested and
other ``.ready`` segments and, only after the store confirmed one, writes its
record: "the file of this name, device, inode, size, modification and change
time, whose SHA-256 was this, is in the store".  A later call trusts a record
only if ``stat`` of the file it is given still shows that very file,
unchanged; such a call returns without reading the segment.  Records and
requests go through a temp file and a rename, so a process killed at any
moment leaves either nothing or a complete one; one that does not parse is
ignored.  A record is used once: the call that returns success through it
removes it.  A request the worker could not serve gets a ``.failed`` marker
and its call does the work itself, reporting what goes wrong.

``PrefetchSpool``: WAL files fetched ahead of ``restore_command``.  Each is
checked against the store's checksums by the worker, then stored as
``<full WAL name>.<sha256>`` through a temp file that is flushed before it
is renamed, so a file under such a name is complete even after a crash;
serving one moves it beside ``%p`` (rather than read and hash 16 MiB again
in every call of recovery), or copies it from another file system.  Keyed
by the full name, a file of one timeline is never served for another.

Neither spool is needed for correctness: any failure to use one (a missing
home directory, a full disk) just means doing the work the plain way.  This
module is on archive_command's fast path: it imports little.
"""
from __future__ import annotations

import fcntl
import os
import time

from swiftwal.adapters.short_sha256 import sha256_hex as _key_digest

_HEX = frozenset("0123456789ABCDEF")
_TEMP = ".tmp-"
_RECORD_VERSION = "swiftwal-record-2"


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


class _WorkerLock:
    """Taken exclusively by a worker for its whole life, with its PID.

    Calls looking for a worker (``WorkerSpool.worker_serving``) hold it
    shared for an instant: a worker that finds it taken waits while only
    they hold it.  Turned away by them, a worker starting then would leave
    its call to do the work alone."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> bool:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if not self._take():
                return False
            os.ftruncate(self._fd, 0)
            os.write(self._fd, f"{os.getpid()}\n".encode())
            return True
        except BaseException:  # __exit__ is not called when __enter__ raises
            os.close(self._fd)
            raise

    def _take(self) -> bool:
        deadline = time.monotonic() + 1.0
        while not _try_flock(self._fd, fcntl.LOCK_EX):
            if not _try_flock(self._fd, fcntl.LOCK_SH):
                return False  # a worker holds it
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            if time.monotonic() > deadline:
                return False
            time.sleep(0.002)
        return True

    def __exit__(self, kind, value, traceback) -> None:
        os.close(self._fd)


def _try_flock(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def fingerprint(info: os.stat_result) -> tuple[int, ...]:
    """What changes whenever a file is replaced or written: its identity,
    size and times (a rename or a write moves ``st_ctime``)."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class WorkerSpool:
    """Requests, failure markers and the worker's lock (``swiftwal.commands.workers``)."""

    max_age = 86400.0

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._requests = os.path.join(directory, "requests")

    def _path(self, wal_name: str, suffix: str) -> str:
        return os.path.join(self.directory, wal_name + suffix)

    # -- requests and failures -------------------------------------------------------

    def request(self, wal_name: str, path: str) -> None:
        os.makedirs(self._requests, mode=0o700, exist_ok=True)
        _write_atomically(os.path.join(self._requests, wal_name),
                          path.encode("utf-8", "surrogateescape"))

    def requests(self) -> dict[str, str]:
        """``{WAL name: path}`` of the pending requests."""
        found = {}
        try:
            names = [n for n in os.listdir(self._requests) if is_segment_name(n)]
        except OSError:
            return found
        for name in names:
            with _IGNORE_OS_ERRORS:
                with open(os.path.join(self._requests, name), "rb") as handle:
                    found[name] = handle.read(8192).decode("utf-8", "surrogateescape")
        return found

    def is_requested(self, wal_name: str) -> bool:
        return os.path.exists(os.path.join(self._requests, wal_name))

    def drop_request(self, wal_name: str) -> None:
        with _IGNORE_OS_ERRORS:
            os.unlink(os.path.join(self._requests, wal_name))

    def fail(self, wal_name: str, answer: str = "") -> None:
        """The worker could not do it; ``answer``: its error, if final."""
        _write_atomically(self._path(wal_name, ".failed"), answer.encode("utf-8", "replace"))

    def take_failure(self, wal_name: str) -> str | None:
        """The answer of a failure marker (removed), or None if there is none."""
        path = self._path(wal_name, ".failed")
        try:
            with open(path, "rb") as handle:
                answer = handle.read(65536).decode("utf-8", "replace")
            os.unlink(path)
        except OSError:
            return None
        return answer

    # -- the worker ------------------------------------------------------------------

    def worker_lock(self) -> "_WorkerLock":
        """Held by the one worker of this spool for its whole life; ``with``
        gives whether it was free (then it holds our PID).  The kernel
        releases it if the worker dies."""
        return _WorkerLock(self._path("worker", ".lock"))

    def heartbeat(self) -> None:
        """The worker shows it still serves requests."""
        with _IGNORE_OS_ERRORS:
            os.utime(self._path("worker", ".lock"))

    def worker_serving(self, within: float) -> bool:
        """A worker holds the lock and showed it serves within ``within``
        seconds.  Looked at shared, writing nothing (``_WorkerLock``)."""
        try:
            fd = os.open(self._path("worker", ".lock"), os.O_RDONLY)
        except OSError:
            return False
        try:
            beat = os.fstat(fd).st_mtime
            return not _try_flock(fd, fcntl.LOCK_SH) and time.time() - beat <= within
        finally:
            os.close(fd)

    def sweep(self) -> None:
        """What nobody asked for within ``max_age`` (records whose file went
        elsewhere, prefetched files the store may have changed since) and
        requests nobody waits for any more."""
        _sweep(self.directory, self.max_age)
        _sweep(self._requests, 600.0)

class ArchiveSpool(WorkerSpool):
    def _path(self, wal_name: str, suffix: str = ".stored") -> str:
        return os.path.join(self.directory, wal_name + suffix)

    # -- records ---------------------------------------------------------------------

    def record(self, wal_name: str, seen: tuple[int, ...], sha256_hex: str,
               stored_bytes: int, outcome: str) -> None:
        """Call only once the store has confirmed it holds this content;
        ``outcome``: the event the call reports (stored, or found stored)."""
        fields = (_RECORD_VERSION, wal_name, *map(str, seen), sha256_hex, str(stored_bytes),
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


def ready_segments(status_dir: str, limit: int) -> list[str]:
    """Up to ``limit`` segment names PostgreSQL has marked ``.ready``, oldest first."""
    try:
        names = [entry[:-6] for entry in os.listdir(status_dir) if entry.endswith(".ready")]
    except OSError:
        return []
    segments = sorted(n for n in names if is_segment_name(n))
    return segments[:limit]


def _fetched_name(entry: str) -> str | None:
    """The WAL name of a fetched file, ``<WAL name>.<sha256>``; None for anything else."""
    name, dot, digest = entry.partition(".")
    return name if dot and len(digest) == 64 and is_segment_name(name) else None


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

    def put(self, wal_name: str, data: bytes, sha256: str) -> None:
        """``data`` must already be verified against the store's checksums.
        Flushed before it gets its name: a file under its name is complete."""
        _write_atomically(os.path.join(self.directory, f"{wal_name}.{sha256}"), data,
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

    def note_served(self, wal_name: str) -> None:
        """Tell the worker how far recovery has come, so it keeps fetching ahead."""
        with _IGNORE_OS_ERRORS:
            _write_atomically(os.path.join(self.directory, "served"), wal_name.encode())

    def last_served(self) -> str | None:
        try:
            with open(os.path.join(self.directory, "served"), "rb") as handle:
                name = handle.read(64).decode("ascii", "replace")
        except OSError:
            return None
        return name if is_segment_name(name) else None

    def drop_stale(self, stale) -> None:
        """Drop fetched files whose WAL name ``stale(name)`` says is no longer wanted."""
        with _IGNORE_OS_ERRORS:
            for entry in os.scandir(self.directory):
                name = _fetched_name(entry.name)
                if name is not None and stale(name):
                    with _IGNORE_OS_ERRORS:
                        os.unlink(entry.path)
