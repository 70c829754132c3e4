"""Safe, streaming extraction of a base backup's tar into a restore target.

Nothing is ever written outside the target, whatever the archive says:
every name is checked before anything is written for it; files are opened
with ``O_NOFOLLOW | O_EXCL`` under directories checked not to be symlinks;
symlinks are made only at the very end, once no more files will be written,
and each must resolve inside the target.  (Python 3.11.2, Debian 12's, has
no ``tarfile.data_filter``.)

``PG_VERSION`` and ``global/pg_control`` are written under temporary names
and renamed last, after everything is on disk: a restore interrupted at any
point leaves a directory that PostgreSQL refuses to start.
"""
from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from typing import BinaryIO, Callable, List, Optional, Set, Tuple

import attrs

from swiftwal.adapters.compression import CHUNK, decompressing_reader
from swiftwal.domain.errors import IntegrityError, SwiftwalError, UnsafeArchive

__all__ = ["ExtractStats", "HELD_BACK", "decompressing_reader", "flush_to_disk",
           "fsync_directory", "safe_extract"]

# renamed into place in this order, PG_VERSION last: pg_ctl looks for it first
HELD_BACK = ("global/pg_control", "PG_VERSION")
HOLD_SUFFIX = ".swiftwal-incomplete"
FILE_MODE = 0o600
# Small writes from a buffer that stays in the CPU cache: with 1 MiB ones, copying
# into the page cache took three times the kernel time (perf, a 1.5 GB restore).
WRITE_CHUNK = 64 << 10
DIR_MODE = 0o700


@attrs.frozen
class ExtractStats:
    files: int
    directories: int
    symlinks: int
    hardlinks: int
    bytes: int


def safe_extract(stream: BinaryIO, target: str, *,
                 before_commit: Optional[Callable[[], None]] = None) -> ExtractStats:
    """Extract the uncompressed tar ``stream`` into the existing directory ``target``.

    Refuses (``UnsafeArchive`` naming the member) absolute names, ``..``,
    links leaving the target, devices, fifos and names that clash.  A corrupt
    or truncated stream raises ``IntegrityError``.  ``before_commit`` runs
    once the stream is read to its end and every file is synced, before the
    held-back files get their names: it may verify a checksum and raise.
    """
    extractor = _Extractor(target)
    try:
        with tarfile.open(fileobj=stream, mode="r|", bufsize=CHUNK) as archive:
            while True:
                member = archive.next()
                if member is None:
                    break
                extractor.add(member, archive)
                # a stream-mode TarFile keeps every member it has seen: forget
                # them, or memory grows with the number of files in the backup
                archive.members.clear()
    except (tarfile.TarError, EOFError) as exc:
        raise IntegrityError(f"corrupt or truncated tar archive: {exc}") from None
    except OSError as exc:  # a full disk or a file-size limit: the target is incomplete
        raise SwiftwalError(f"cannot write into the restore target {target}: {exc.strerror}; "
                            "it is incomplete and PostgreSQL will refuse to start it",
                            hint="free space, empty the directory and restore again") from None
    # the rest is padding; reading it lets the decompressor check its end
    while stream.read(CHUNK):
        pass
    extractor.make_symlinks()
    try:
        extractor.sync()
    except OSError as exc:
        raise SwiftwalError(f"cannot flush the restore target {target} to disk: {exc.strerror}; "
                            "it is incomplete and PostgreSQL will refuse to start it",
                            hint="check the file system, empty the directory and "
                                 "restore again") from None
    if before_commit is not None:
        before_commit()
    extractor.commit()
    return extractor.stats()


def _relative_name(member: tarfile.TarInfo) -> str:
    """The member's name as a clean relative path ("" for the root itself)."""
    raw = member.name
    if "\0" in raw:
        raise UnsafeArchive(f"unsafe archive member {raw!r}: nul byte in its name")
    if raw.startswith("/"):
        raise UnsafeArchive(f"unsafe archive member {raw!r}: absolute path")
    parts = [part for part in raw.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(f"unsafe archive member {raw!r}: '..' in its path")
    return "/".join(parts)


def _kind(member: tarfile.TarInfo) -> str:
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "fifo"
    return f"member of type {member.type!r}"


class _Extractor:
    def __init__(self, target: str) -> None:
        self.root = os.path.realpath(target)
        if not os.path.isdir(self.root):
            raise UnsafeArchive(f"restore target {target} is not a directory")
        self._dirs: Set[str] = {""}
        self._symlinks: List[Tuple[str, str, str]] = []
        self._held: List[str] = []
        self.files = self.directories = self.hardlinks = self.bytes = 0

    def _path(self, name: str) -> str:
        path = os.path.normpath(os.path.join(self.root, name)) if name else self.root
        if not self._inside(path):  # names are checked already; this guards every use
            raise UnsafeArchive(f"unsafe archive member {name!r}: outside the target")
        return path

    def _on_disk(self, name: str) -> str:
        """Where a regular file member is written: held-back ones under a temp name."""
        return self._path(name + HOLD_SUFFIX if name in HELD_BACK else name)

    def add(self, member: tarfile.TarInfo, archive: tarfile.TarFile) -> None:
        name = _relative_name(member)
        if name in HELD_BACK and not member.isreg():
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: not a regular file")
        if member.isdir():
            self._directory(name, member.name)
        elif not name:
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: names the target itself")
        elif member.isreg():
            self._directory(posixpath.dirname(name), member.name)
            self._file(name, member, archive)
        elif member.issym():
            self._check_symlink(name, member)
            self._directory(posixpath.dirname(name), member.name)
            self._symlinks.append((name, member.linkname, member.name))
        elif member.islnk():
            self._directory(posixpath.dirname(name), member.name)
            self._hardlink(name, member)
        else:
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: {_kind(member)}")

    def _directory(self, name: str, shown: str) -> None:
        """Make ``name`` and its parents real directories (never through a symlink)."""
        if name in self._dirs:
            return
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in self._dirs:
                continue
            path = self._path(prefix)
            try:
                os.mkdir(path, DIR_MODE)
            except FileExistsError:
                # never chmod what this extraction did not create
                if not stat.S_ISDIR(os.lstat(path).st_mode):
                    raise UnsafeArchive(f"unsafe archive member {shown!r}: {prefix} is not a "
                                        "directory") from None
            else:
                os.chmod(path, DIR_MODE)  # mkdir's mode went through the umask
                self.directories += 1
            self._dirs.add(prefix)

    def _file(self, name: str, member: tarfile.TarInfo, archive: tarfile.TarFile) -> None:
        path = self._on_disk(name)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         FILE_MODE)
        except FileExistsError:
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: the name is already "
                                "taken (duplicate member)") from None
        try:
            source = archive.extractfile(member)
            while True:
                chunk = source.read(WRITE_CHUNK)
                if not chunk:
                    break
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
            os.fchmod(fd, FILE_MODE)
            os.utime(fd, (member.mtime, member.mtime))
        finally:
            os.close(fd)
        if name in HELD_BACK:
            self._held.append(name)
        self.files += 1
        self.bytes += member.size

    def _check_symlink(self, name: str, member: tarfile.TarInfo) -> None:
        link = member.linkname
        if not link or "\0" in link or link.startswith("/"):
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: symlink to {link!r} "
                                "outside the target")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), link))
        if resolved == ".." or resolved.startswith("../"):
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: symlink to {link!r} "
                                "outside the target")

    def _hardlink(self, name: str, member: tarfile.TarInfo) -> None:
        try:
            source = _relative_name(tarfile.TarInfo(member.linkname))
        except UnsafeArchive:
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: hard link to "
                                f"{member.linkname!r} outside the target") from None
        source_path = self._on_disk(source)
        try:
            is_file = stat.S_ISREG(os.lstat(source_path).st_mode)
        except FileNotFoundError:
            is_file = False
        if not is_file or not source:
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: hard link to "
                                f"{member.linkname!r}, not an extracted regular file")
        try:
            os.link(source_path, self._on_disk(name), follow_symlinks=False)
        except FileExistsError:
            raise UnsafeArchive(f"unsafe archive member {member.name!r}: the name is already "
                                "taken (duplicate member)") from None
        if name in HELD_BACK:
            self._held.append(name)
        self.hardlinks += 1

    def make_symlinks(self) -> None:
        for name, link, shown in self._symlinks:
            try:
                os.symlink(link, self._path(name))
            except FileExistsError:
                raise UnsafeArchive(f"unsafe archive member {shown!r}: the name is already "
                                    "taken (duplicate member)") from None
        escaping = [(name, shown) for name, _, shown in self._symlinks
                    if not self._inside(os.path.realpath(self._path(name)))]
        for name, _ in escaping:
            os.unlink(self._path(name))
        if escaping:
            raise UnsafeArchive(f"unsafe archive member {escaping[0][1]!r}: symlink resolves "
                                "outside the target")

    def _inside(self, path: str) -> bool:
        return path == self.root or path.startswith(self.root.rstrip("/") + "/")

    def sync(self) -> None:
        flush_to_disk(self.root)

    def commit(self) -> None:
        for name in HELD_BACK:
            if name in self._held:
                os.rename(self._on_disk(name), self._path(name))
                _fsync(os.path.dirname(self._path(name)), os.O_RDONLY | os.O_DIRECTORY)

    def stats(self) -> ExtractStats:
        return ExtractStats(files=self.files, directories=self.directories,
                            symlinks=len(self._symlinks), hardlinks=self.hardlinks,
                            bytes=self.bytes)


def flush_to_disk(root: str) -> None:
    """Every file and directory under ``root`` on disk: one ``syncfs`` of its file
    system where Linux has it, else an ``fsync`` of each."""
    if _syncfs(root):
        return
    for directory, _, files in os.walk(root):
        for file_name in files:
            path = os.path.join(directory, file_name)
            if stat.S_ISREG(os.lstat(path).st_mode):
                _fsync(path, os.O_RDONLY | os.O_NOFOLLOW)
        _fsync(directory, os.O_RDONLY | os.O_DIRECTORY)


def fsync_directory(path: str) -> None:
    _fsync(path, os.O_RDONLY | os.O_DIRECTORY)


def _syncfs(path: str) -> bool:
    """Flush the file system holding ``path`` in one call (Linux ``syncfs(2)``,
    what PostgreSQL's ``sync_method = syncfs`` does): an fsync per file costs
    seconds for the thousand files of a small data directory.  False where
    the call does not exist; a write-back error it reports is raised."""
    try:
        import ctypes

        syncfs = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), path)
    finally:
        os.close(fd)
    return True


def _fsync(path: str, flags: int) -> None:
    fd = os.open(path, flags | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
