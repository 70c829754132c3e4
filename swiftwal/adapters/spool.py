"""Spool directories kept outside the data directory, between calls.

``ArchiveSpool``: one record per WAL file that a look-ahead stored durably
("this content, of this size and SHA-256, is in this store").  A record is
written only after the store confirmed the upload, through a temp file and
an atomic rename, so a process killed at any moment leaves either no record
or a complete one; a record that does not parse, or whose size or hash
differs from the file PostgreSQL hands us, is ignored.  A record is used
once: the call that returns success through it removes it.

``PrefetchSpool``: WAL files fetched ahead of ``restore_command``.  Each is
stored as ``<full WAL name>.<sha256>`` (the hash of its verified content)
through a temp file and a rename; serving one re-hashes it first.  Keyed by
the full name, a file of one timeline is never served for another.

Neither spool is needed for correctness: any failure to use one (a missing
home directory, a full disk) just means doing the work the plain way.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import time
from typing import Iterator

from swiftwal.adapters.atomic import write_atomically

_SEGMENT = re.compile(r"[0-9A-F]{24}\Z")
_TEMP = ".tmp-"


def cache_root(configured: str | None) -> str:
    """``CACHE_DIR``, else ``$XDG_CACHE_HOME/swiftwal``, else ``~/.cache/swiftwal``."""
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "swiftwal")


def spool_directory(root: str, kind: str, *keys: str) -> str:
    """A private directory (mode 0700) under ``root`` for ``kind`` and ``keys``."""
    digest = hashlib.sha256("\x00".join(keys).encode("utf-8", "surrogateescape")).hexdigest()
    path = os.path.join(root, kind, digest[:24])
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def _write_atomically(path: str, data: bytes) -> None:
    name = f"{_TEMP}{os.getpid()}-{os.path.basename(path)}"
    write_atomically(path, data, os.path.join(os.path.dirname(path), name))


def _sweep(directory: str, max_age: float, now: float | None = None) -> None:
    now = time.time() if now is None else now
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            with contextlib.suppress(OSError):
                if entry.is_file(follow_symlinks=False) and entry.name != "lock" and (
                        now - entry.stat(follow_symlinks=False).st_mtime > max_age):
                    os.unlink(entry.path)


class ArchiveSpool:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _path(self, wal_name: str) -> str:
        return os.path.join(self.directory, wal_name + ".stored")

    def record(self, wal_name: str, size: int, sha256: str, object_name: str) -> None:
        """Call only once the store has confirmed ``object_name`` holds this content."""
        payload = json.dumps({"wal_name": wal_name, "size": size, "sha256": sha256,
                              "object": object_name}).encode()
        _write_atomically(self._path(wal_name), payload)

    def matches(self, wal_name: str, size: int, sha256: str) -> bool:
        try:
            with open(self._path(wal_name), "rb") as handle:
                record = json.loads(handle.read(4096))
            return (record["wal_name"] == wal_name and record["size"] == size
                    and record["sha256"] == sha256)
        except (OSError, ValueError, KeyError, TypeError):
            return False

    def forget(self, wal_name: str) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._path(wal_name))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive between processes; released by the kernel if we die."""
        fd = os.open(os.path.join(self.directory, "lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def sweep(self, max_age: float = 86400.0) -> None:
        """Records nobody asked for within a day (their file went elsewhere)."""
        _sweep(self.directory, max_age)


def ready_segments(status_dir: str, exclude: str, limit: int) -> list[str]:
    """Up to ``limit`` segment names PostgreSQL has marked ``.ready``, oldest first."""
    try:
        names = [entry[:-6] for entry in os.listdir(status_dir) if entry.endswith(".ready")]
    except OSError:
        return []
    segments = sorted(n for n in names if _SEGMENT.match(n) and n != exclude)
    return segments[:limit]


class PrefetchSpool:
    def __init__(self, directory: str) -> None:
        self.directory = directory

    def _entries(self, wal_name: str) -> list[str]:
        prefix = wal_name + "."
        try:
            return [n for n in os.listdir(self.directory) if n.startswith(prefix)
                    and len(n) == len(prefix) + 64]
        except OSError:
            return []

    def has(self, wal_name: str) -> bool:
        return bool(self._entries(wal_name))

    def put(self, wal_name: str, data: bytes, sha256: str) -> None:
        """``data`` must already be verified against the store's checksums."""
        _write_atomically(os.path.join(self.directory, f"{wal_name}.{sha256}"), data)

    def take(self, wal_name: str, max_age: float = 600.0) -> bytes | None:
        """The verified content of ``wal_name`` (removed from the spool), or None.
        Files older than ``max_age`` seconds are not served: the store may have changed."""
        for entry in self._entries(wal_name):
            path = os.path.join(self.directory, entry)
            try:
                with open(path, "rb") as handle:
                    if time.time() - os.fstat(handle.fileno()).st_mtime > max_age:
                        continue
                    data = handle.read()
            except OSError:
                continue
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            if hashlib.sha256(data).hexdigest() == entry[len(wal_name) + 1:]:
                return data
        return None

    def sweep(self, stale, max_age: float = 600.0) -> None:
        """Drop files whose WAL name ``stale(name)`` says is no longer wanted,
        and anything older than ``max_age`` seconds (a store may change)."""
        now = time.time()
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.directory):
                name = entry.name.split(".", 1)[0]
                with contextlib.suppress(OSError):
                    if entry.name == "lock":
                        continue
                    if not name or stale(name) or now - entry.stat().st_mtime > max_age:
                        os.unlink(entry.path)
