"""The local-directory store: one file per object under a root directory.

A name's ``/`` separators become subdirectories.  Writes go to a hidden temp
file in the object's directory, are fsynced, then renamed (or, create-only,
hard-linked, which fails atomically if the name exists) and the directory is
fsynced, so a crash never leaves a partial object under its name.

Metadata (and the content's MD5) live in the ``user.swiftwal`` extended
attribute of the data file, so they are part of the same atomic rename.  On
file systems without user xattrs they go to a hidden sidecar named after the
data file's inode (``.swiftwal-meta.<inode>``): a racing writer's sidecar can
never be mistaken for the winner's.  Hidden files start with ``.swiftwal-``,
a component prefix that ``check_name`` refuses, so ``list`` can skip them.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import json
import os
import uuid
from typing import BinaryIO, Iterable, Iterator, Mapping

from swiftwal.adapters.storage.port import (
    RESERVED_COMPONENT_PREFIX, ObjectInfo, Part, check_metadata, check_name)
from swiftwal.domain.errors import (AlreadyExists, ConfigError, InvalidInput, ObjectNotFound,
                                    StorageError)

_XATTR = "user.swiftwal"
_TMP = RESERVED_COMPONENT_PREFIX + "tmp."
_SIDECAR = RESERVED_COMPONENT_PREFIX + "meta."
_CHUNK = 1 << 20
# Errors meaning "this file system cannot hold that xattr": fall back to a sidecar.
_NO_XATTR = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.E2BIG, errno.ENOSPC, errno.ERANGE, errno.EPERM}


class _FileReader:
    def __init__(self, file: BinaryIO, info: ObjectInfo) -> None:
        self._file = file
        self.info = info

    def read(self, size: int = -1) -> bytes:
        return self._file.read(size)


class LocalStorage:
    """Objects as files under ``root``.

    ``must_exist``: ``root`` is checked now, and again whenever an object or
    a listing is not found, and its absence raises ``ConfigError`` ("no such
    store"): a mistyped path must never read as an empty archive, nor a WAL
    file as "not in the archive".  Otherwise (commands that write) a missing
    ``root`` reads as empty and is created by the first write."""

    def __init__(self, root: str, *, use_xattrs: bool = True, must_exist: bool = False) -> None:
        self.root = os.path.abspath(root)
        self._use_xattrs = use_xattrs and hasattr(os, "setxattr")
        self._must_exist = must_exist
        self._check_root()

    def _check_root(self) -> None:
        if self._must_exist and not os.path.isdir(self.root):
            raise ConfigError(f"no such store: {self.root}",
                              hint="check STORAGE; archive-wal and backup create the directory")

    def describe(self) -> str:
        return f"file://{self.root}"

    def capabilities(self) -> None:
        return None

    def _path(self, name: str) -> str:
        return os.path.join(self.root, *check_name(name).split("/"))

    def put(self, name: str, stream: BinaryIO, *, metadata: Mapping[str, str] | None = None,
            create_only: bool = False, size: int | None = None,
            expect_large: bool = False) -> ObjectInfo:
        path = self._path(name)
        meta = check_metadata(metadata)
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise _error("create directory for", name, exc) from exc
        tmp = os.path.join(directory, f"{_TMP}{uuid.uuid4().hex}")
        sidecar = None
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise _error("write", name, exc) from exc
        try:
            try:
                md5, sha256, written = _copy(stream, fd)
                if size is not None and written != size:
                    raise StorageError(f"stream for {name} gave {written} bytes, expected {size}")
                record = {"md5": md5, "metadata": meta}
                sidecar = self._write_metadata(fd, directory, record)
                os.fsync(fd)
            finally:
                os.close(fd)
            if create_only:
                try:
                    os.link(tmp, path)
                except FileExistsError:
                    raise AlreadyExists(f"{name} already exists in {self.describe()}") from None
                os.unlink(tmp)
            else:
                old_sidecar = self._sidecar_of(path)
                os.rename(tmp, path)
                if old_sidecar:
                    _unlink_quietly(old_sidecar)
        except BaseException as exc:
            _unlink_quietly(tmp)
            if sidecar:
                _unlink_quietly(sidecar)
            if isinstance(exc, OSError):
                raise _error("write", name, exc) from exc
            raise
        try:
            _fsync_dir(directory)
            st = os.stat(path)
        except OSError as exc:
            raise _error("write", name, exc) from exc
        return ObjectInfo(name=name, size=written, etag=md5, metadata=meta, sha256=sha256,
                          last_modified=_mtime(st))

    def _write_metadata(self, fd: int, directory: str, record: dict) -> str | None:
        """Attach ``record`` to the open file; return the sidecar path if one was used."""
        data = json.dumps(record, sort_keys=True).encode()
        if self._use_xattrs:
            try:
                os.setxattr(fd, _XATTR, data)
                return None
            except OSError as exc:
                if exc.errno not in _NO_XATTR:
                    raise
        sidecar = os.path.join(directory, f"{_SIDECAR}{os.fstat(fd).st_ino}")
        _write_file(sidecar, data)
        return sidecar

    def _sidecar_of(self, path: str) -> str | None:
        try:
            ino = os.lstat(path).st_ino
        except FileNotFoundError:
            return None
        return os.path.join(os.path.dirname(path), f"{_SIDECAR}{ino}")

    def _read_metadata(self, fd: int, path: str) -> dict:
        data = None
        if hasattr(os, "getxattr"):
            try:
                data = os.getxattr(fd, _XATTR)
            except OSError as exc:
                if exc.errno not in _NO_XATTR and exc.errno != errno.ENODATA:
                    raise
        if data is None:
            sidecar = os.path.join(os.path.dirname(path), f"{_SIDECAR}{os.fstat(fd).st_ino}")
            try:
                with open(sidecar, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                return {"md5": None, "metadata": {}}
        return json.loads(data)

    def _open(self, name: str) -> tuple[BinaryIO, ObjectInfo]:
        path = self._path(name)
        try:
            file = open(path, "rb")  # noqa: SIM115 (closed by the caller)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            self._check_root()
            raise ObjectNotFound(f"{name} not found in {self.describe()}") from None
        except OSError as exc:
            raise _error("read", name, exc) from exc
        try:
            st = os.fstat(file.fileno())
            record = self._read_metadata(file.fileno(), path)
        except BaseException:
            file.close()
            raise
        return file, ObjectInfo(name=name, size=st.st_size, last_modified=_mtime(st),
                                etag=record.get("md5"), metadata=record.get("metadata", {}))

    @contextlib.contextmanager
    def get(self, name: str) -> Iterator[_FileReader]:
        file, info = self._open(name)
        with file:
            yield _FileReader(file, info)

    def stat(self, name: str) -> ObjectInfo:
        file, info = self._open(name)
        file.close()
        return info

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._check_root()
        return self._walk(self.root, "", prefix)

    def _walk(self, directory: str, base: str, prefix: str) -> Iterator[ObjectInfo]:
        try:
            with os.scandir(directory) as it:
                entries = [e for e in it if not e.name.startswith(RESERVED_COMPONENT_PREFIX)]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise _error("list", base or "/", exc) from exc
        # A directory sorts as "name/": every name inside it then falls in its place.
        keyed = sorted((base + e.name + ("/" if e.is_dir(follow_symlinks=False) else ""), e)
                       for e in entries)
        for key, entry in keyed:
            if key.endswith("/"):
                if key.startswith(prefix) or prefix.startswith(key):
                    yield from self._walk(entry.path, key, prefix)
            elif key.startswith(prefix) and entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                yield ObjectInfo(name=key, size=st.st_size, last_modified=_mtime(st))

    def _directory(self, prefix: str) -> str:
        """The directory holding names that start with ``prefix``."""
        parts = prefix.split("/")[:-1]
        if any(part in ("", ".", "..") or "\x00" in part for part in parts):
            raise InvalidInput(f"invalid prefix {prefix!r}")
        return os.path.join(self.root, *parts)

    def list_parts(self, prefix: str) -> Iterator[Part]:
        """Hidden files (temp files of puts, metadata sidecars) in the
        directories whose name, with a ``/`` added, starts with ``prefix``."""
        for directory, _dirs, files in os.walk(self._directory(prefix)):
            relative = os.path.relpath(directory, self.root)
            under = "" if relative == "." else relative.replace(os.sep, "/") + "/"
            if not under.startswith(prefix):
                continue
            for name in files:
                if not name.startswith(RESERVED_COMPONENT_PREFIX):
                    continue
                path = os.path.join(directory, name)
                try:
                    moment = _mtime(os.lstat(path))
                except FileNotFoundError:
                    continue
                yield Part(under, path, "metadata" if name.startswith(_SIDECAR) else "temp",
                           moment)

    def delete_parts(self, parts: Iterable[Part]) -> None:
        for part in parts:
            path = part.name
            if (not os.path.isabs(path) or not os.path.basename(path).startswith(
                    RESERVED_COMPONENT_PREFIX) or os.path.commonpath([path, self.root]) != self.root):
                raise InvalidInput(f"{path!r} is not a hidden file of {self.describe()}")
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                raise _error("delete", path, exc) from exc

    def tidy(self, prefix: str) -> None:
        """Removes the directory named by ``prefix`` if it is empty."""
        if prefix.endswith("/") and prefix != "/":
            with contextlib.suppress(OSError):
                os.rmdir(self._directory(prefix))

    def delete(self, names: Iterable[str]) -> None:
        touched = set()
        for name in names:
            path = self._path(name)
            try:
                sidecar = self._sidecar_of(path)
                # Sidecar first: a crash in between leaves an object without metadata,
                # never a sidecar that a future file with the same inode could inherit.
                if sidecar:
                    _unlink_quietly(sidecar)
                os.unlink(path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as exc:
                raise _error("delete", name, exc) from exc
            touched.add(os.path.dirname(path))
        for directory in sorted(touched):
            _fsync_dir(directory)


def _copy(stream: BinaryIO, fd: int) -> tuple[str, str, int]:
    md5, sha256, written = hashlib.md5(), hashlib.sha256(), 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return md5.hexdigest(), sha256.hexdigest(), written
        md5.update(chunk)
        sha256.update(chunk)
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]
        written += len(chunk)


def _write_file(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _mtime(st: os.stat_result) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(st.st_mtime, tz=datetime.timezone.utc)


def _error(action: str, name: str, exc: OSError) -> StorageError:
    return StorageError(f"cannot {action} {name} in the local store: {exc.strerror or exc}",
                        hint="check the directory's permissions and free space")
