"""A base backup of a cluster with tablespaces: one archive per tablespace,
each compressed and handed to a consumer (its upload) in turn, over one
replication connection (``swiftwal.adapters.replication``).

    server --pump thread--> tar check, size --> compressor of the current archive
    compressor output --calling thread--> consume(tablespace, stream), one archive after another

The server sends the tablespaces' archives first and the data directory's
(``base.tar``) last, then the manifest.  Each archive's stream ends cleanly
only once the server has moved on to the next one and its tar was complete;
``base.tar`` ends only after the manifest (added as its last member, as
``pg_basebackup -D -`` does) and the server's final answer.  Any failure
makes the current stream raise, so a tablespace's object may be stored ahead
of a failure, never the whole backup.  Memory stays bounded: at most two
compressors' queues, and the manifest (a line per file) in memory up to
``MANIFEST_IN_MEMORY``, in a temporary file beyond.

An incremental backup (``options.incremental``, the parent's manifest) goes
the same way: the server sends the changed blocks of each relation file as
``INCREMENTAL.`` files inside the same archives, one per tablespace.
"""
from __future__ import annotations

import os
import queue
import socket
import tarfile
import tempfile
import threading
import time
from typing import BinaryIO, Callable, List, Optional, Tuple, TypeVar

import attrs

from swiftwal.adapters import replication
from swiftwal.adapters.basebackup import BasebackupOptions, BasebackupResult, backup_result
from swiftwal.adapters.compress_stream import CompressingPipe, PipeReader, compressing_pipe
from swiftwal.adapters.compression import CHUNK, check_codec
from swiftwal.adapters.tarscan import BLOCK, TarScanner
from swiftwal.domain.errors import IntegrityError, InvariantViolated

T = TypeVar("T")

MANIFEST_IN_MEMORY = 8 << 20
MANIFEST_TAIL = 64 << 10  # what the scanner would keep: the WAL-Ranges are at the end
END_OF_ARCHIVE = bytes(2 * BLOCK)
#: only the data directory's archive is described by its members
_NOTHING = {}


@attrs.frozen
class StoredArchive:
    """One archive as it went out: its tablespace, what ``consume`` returned,
    its size as a tar and compressed."""

    tablespace: replication.Tablespace
    value: object
    raw_size: int
    compressed_size: int


def run_tablespace_backup(options: BasebackupOptions, codec: str,
                          consume: Callable[[replication.Tablespace, BinaryIO], T],
                          on_read: Optional[Callable[[int], None]] = None,
                          on_manifest: Optional[Callable[[bytes], None]] = None
                          ) -> Tuple[List[StoredArchive], BasebackupResult]:
    """Back up every tablespace, handing each compressed archive to ``consume``
    (in this thread, each read to its end before the next), ``base.tar`` last.
    Raises ``BaseBackupFailed`` (the server failed or could not be reached;
    nothing was consumed if it never started), ``ConfigError`` (no psycopg or
    libpq), ``IntegrityError`` (an archive was not a complete tar).
    ``on_manifest`` is given the manifest piece by piece (in another thread)."""
    check_codec(codec)
    connection = replication.Connection(options.server)
    try:
        pump = _Pump(connection, _backup_options(options), codec, on_read, on_manifest)
    except BaseException:
        connection.close()
        raise
    stored: List[StoredArchive] = []
    try:
        while True:
            archive = pump.next_archive()
            if archive is None:
                break
            # a pipe ends only once the pump finished its archive
            stream = PipeReader(archive.pipe, lambda: pump.error)
            value = consume(archive.tablespace, stream)
            if not stream.finished:
                raise InvariantViolated(f"the stream of {archive.tablespace.archive_name} "
                                        "was not read to its end")
            stored.append(StoredArchive(archive.tablespace, value, archive.size, stream.size))
        pump.join()
        if pump.result is None:
            raise InvariantViolated("the base backup ended without its data directory")
        return stored, pump.result
    except BaseException as exc:
        failure = pump.stop(exc)
        if failure is not None and failure is not exc:
            raise failure from exc
        raise
    finally:
        pump.close()


def _backup_options(options: BasebackupOptions) -> replication.BackupOptions:
    return replication.BackupOptions(
        label=options.label or "swiftwal", checkpoint=options.checkpoint,
        wal=options.wal_method == "fetch", manifest=options.manifest,
        max_rate=options.max_rate, incremental=options.incremental)


class _ArchiveWriter:
    """One tablespace's tar on its way to its compressor: checked member by
    member, the server's end-of-archive marker (15 and later send one) held
    back so that the manifest can still be added, then ended here."""

    def __init__(self, tablespace: replication.Tablespace, codec: str) -> None:
        self.tablespace = tablespace
        self.pipe: CompressingPipe = compressing_pipe(codec)
        self.scanner = TarScanner() if tablespace.oid is None else TarScanner(_NOTHING)
        self.size = 0
        self._held = b""
        self._forwarded = 0

    def write(self, data) -> None:
        if self.scanner.ended:
            return  # what follows the marker is padding
        buffer = self._held + bytes(data) if self._held else data
        self.scanner.feed(data)
        take = self.scanner.settled - self._forwarded
        if take:
            self.pipe.write(buffer[:take])
            self.size += take
            self._forwarded += take
        self._held = b"" if self.scanner.ended else bytes(buffer[take:])

    def finish(self, members: Tuple[Tuple[str, BinaryIO, int], ...] = ()) -> None:
        """End the archive: ``members`` (name, content, size) added, then the marker."""
        if self._held or not self.scanner.between_members:
            raise IntegrityError(f"{self.tablespace.archive_name} from the server is a "
                                 "truncated tar")
        for name, content, size in members:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = size, 0o600, int(time.time())
            self._emit(info.tobuf(format=tarfile.USTAR_FORMAT))
            for chunk in iter(lambda: content.read(CHUNK), b""):
                self._emit(chunk)
            self._emit(bytes(-size % BLOCK))
        self._emit(END_OF_ARCHIVE)
        self.pipe.finish()

    def _emit(self, data: bytes) -> None:
        self.pipe.write(data)
        self.size += len(data)


class _Pump(threading.Thread):
    """Reads the server's events, feeds each archive to its compressor and
    announces it to the calling thread; ends each archive only once it is
    known complete."""

    def __init__(self, connection: replication.Connection, options: replication.BackupOptions,
                 codec: str, on_read: Optional[Callable[[int], None]],
                 on_manifest: Optional[Callable[[bytes], None]] = None) -> None:
        super().__init__(name="base-backup-pump", daemon=True)
        self._connection = connection
        # a second handle on the connection's socket: shutting it down is how
        # another thread breaks off a read that libpq is blocked in
        self._socket = socket.socket(fileno=os.dup(connection.socket))
        self._options = options
        self._codec = codec
        self._on_read = on_read
        self._on_manifest = on_manifest
        self._archives: "queue.Queue[object]" = queue.Queue()
        self._writer: Optional[_ArchiveWriter] = None
        self._writers: List[_ArchiveWriter] = []
        self._manifest: Optional[tempfile.SpooledTemporaryFile] = None
        self._manifest_size = 0
        self._tail = b""
        self._begun: Optional[replication.Started] = None
        self._ended: Optional[replication.Ended] = None
        self._stopping = False
        self.error: Optional[BaseException] = None
        self.result: Optional[BasebackupResult] = None
        self.start()

    def run(self) -> None:
        try:
            for event in self._connection.base_backup(self._options):
                if isinstance(event, memoryview):
                    self._data(event)
                elif isinstance(event, replication.Archive):
                    self._new_archive(event.tablespace)
                elif isinstance(event, replication.Manifest):
                    self._manifest = tempfile.SpooledTemporaryFile(MANIFEST_IN_MEMORY)
                elif isinstance(event, replication.Started):
                    self._begun = event
                elif isinstance(event, replication.Ended):
                    self._ended = event
            self._finish_base()
            self._archives.put(None)
        except BaseException as exc:  # handed to the reader, never lost
            if self._stopping:
                return
            self.error = exc
            if self._writer is not None:
                self._writer.pipe.abort(exc)
            self._archives.put(exc)
        finally:
            if self._manifest is not None:
                self._manifest.close()

    def _data(self, data: memoryview) -> None:
        if self._on_read is not None:
            self._on_read(len(data))
        if self._manifest is not None:
            self._manifest.write(data)
            self._manifest_size += len(data)
            self._tail = (self._tail + bytes(data))[-MANIFEST_TAIL:]
            if self._on_manifest is not None:
                self._on_manifest(bytes(data))
        elif self._writer is not None:
            self._writer.write(data)
        else:
            raise replication.BaseBackupFailed("data before any archive began")

    def _new_archive(self, tablespace: replication.Tablespace) -> None:
        if self._writer is not None:
            if self._writer.tablespace.oid is None:
                raise replication.BaseBackupFailed(
                    f"{tablespace.archive_name} came after the data directory's archive")
            self._writer.finish()
        self._writer = _ArchiveWriter(tablespace, self._codec)
        self._writers.append(self._writer)
        self._archives.put(self._writer)

    def _finish_base(self) -> None:
        writer = self._writer
        if writer is None or writer.tablespace.oid is not None:
            raise replication.BaseBackupFailed("the server sent no archive of the data directory")
        if self._begun is None or self._ended is None:
            raise replication.BaseBackupFailed("the server did not say where the backup "
                                               "starts and ends")
        scanner = writer.scanner
        members = ()
        if self._manifest is not None:
            self._manifest.seek(0)
            members = (("backup_manifest", self._manifest, self._manifest_size),)
            # the member is added past the scanner's view: tell it what it would have seen
            scanner.seen.add("backup_manifest")
            scanner.sizes["backup_manifest"] = self._manifest_size
            scanner.captured["backup_manifest"] = self._tail
        writer.finish(members)
        result = backup_result(scanner, str(self._ended.lsn), writer.size)
        self.result = attrs.evolve(
            result, stop_lsn=self._ended.lsn,
            stop_timeline=self._ended.timeline or result.stop_timeline or result.timeline)

    def next_archive(self) -> Optional[_ArchiveWriter]:
        item = self._archives.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def stop(self, cause: BaseException) -> Optional[BaseException]:
        """Abandon the backup (the consumer failed); returns the pump's own
        failure if it had failed first."""
        if self.is_alive():
            self._stopping = self.error is None
            self._break_connection()
            for writer in self._writers:
                writer.pipe.abort(cause)
            self.join(30)
        return self.error

    def _break_connection(self) -> None:
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def close(self) -> None:
        """Once the thread is done (or given up on): release everything."""
        if self.is_alive():
            self._break_connection()
            self.join(30)
        for writer in self._writers:
            writer.pipe.close()
        self._socket.close()
        if not self.is_alive():
            self._connection.close()
