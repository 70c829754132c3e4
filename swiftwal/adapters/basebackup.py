"""pg_basebackup, tar to standard output, compressed and handed to a consumer.

One pass over the bytes, memory bounded whatever the database size:

    pg_basebackup stdout --pump thread--> tar scan, size --> compressor
    compressor output --calling thread--> consume(stream)   (the upload)

The stream handed to ``consume`` ends cleanly only once pg_basebackup has
exited 0 and its tar was complete; any failure makes ``read`` raise, so an
upload is abandoned rather than stored short.  ``consume`` is only called
once pg_basebackup has produced its first bytes: a connection failure, or a
cluster with tablespaces (pg_basebackup refuses to write those to stdout
before sending anything: ``TablespacesFound``), never starts an upload.
"""
from __future__ import annotations

import fcntl
import re
import subprocess
import threading
from typing import BinaryIO, Callable, List, Optional, Tuple, TypeVar

import attrs

from swiftwal.adapters import postgres
from swiftwal.adapters.compress_stream import CompressingPipe, PipeReader, compressing_pipe
from swiftwal.adapters.compression import CHUNK, check_codec
from swiftwal.adapters.tarscan import TarScanner
from swiftwal.adapters.tool_failure import STDERR_KEPT
from swiftwal.domain.errors import ConfigError, IntegrityError, InvariantViolated
from swiftwal.domain.lsn import Lsn

T = TypeVar("T")

_PIPE_SIZE = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)  # Linux; named in Python 3.10+
_TABLESPACE_REFUSAL = "can only write single tablespace to stdout"
_END_POINT_RE = re.compile(r"write-ahead log end point: ([0-9A-Fa-f]+/[0-9A-Fa-f]+)")
_START_RE = re.compile(r"^START WAL LOCATION: ([0-9A-Fa-f]+/[0-9A-Fa-f]+) \(file ([0-9A-F]{8})",
                       re.MULTILINE)
_TIMELINE_RE = re.compile(r"^START TIMELINE: (\d+)$", re.MULTILINE)
# one line per timeline in the manifest's "WAL-Ranges", the last one ends the backup
_WAL_RANGE_RE = re.compile(r'\{\s*"Timeline":\s*(\d+),\s*"Start-LSN":\s*"([0-9A-Fa-f/]+)",'
                           r'\s*"End-LSN":\s*"([0-9A-Fa-f/]+)"\s*\}')


@attrs.frozen
class BasebackupOptions:
    host: Optional[str] = None
    port: Optional[str] = None
    username: Optional[str] = None
    label: Optional[str] = None
    checkpoint: Optional[str] = attrs.field(
        default=None, validator=attrs.validators.in_((None, "fast", "spread")))
    wal_method: str = attrs.field(default="fetch",
                                  validator=attrs.validators.in_(("fetch", "none")))
    pg_bin_dir: Optional[str] = None
    manifest: bool = True  # False: --no-manifest (PostgreSQL 12 has none anyway)
    #: The parent's backup_manifest, a file: only the blocks changed since it are sent
    incremental: Optional[str] = None
    max_rate: Optional[int] = None  # kB/s the server may read and send, as --max-rate

    @property
    def server(self) -> postgres.Server:
        return postgres.Server(self.host, self.port, self.username, self.pg_bin_dir)


@attrs.frozen
class BasebackupResult:
    backup_label_text: str
    start_lsn: Lsn
    stop_lsn: Optional[Lsn]
    timeline: int
    stop_timeline: Optional[int]
    system_identifier: Optional[str]
    pg_version: Optional[str]
    raw_size: int
    manifest_present: bool
    tablespace_map: bool  # a non-empty tablespace_map (pg_basebackup always sends one)
    compressed_size: int = 0


def run_basebackup(options: BasebackupOptions, codec: str, consume: Callable[[BinaryIO], T],
                   on_read: Optional[Callable[[int], None]] = None,
                   on_manifest: Optional[Callable[[bytes], None]] = None
                   ) -> Tuple[T, BasebackupResult]:
    """Run pg_basebackup, hand the compressed tar to ``consume`` (which reads
    it to its end, in this thread) and return what it returned with the
    backup's facts.  ``on_read`` is told the size of each piece of tar read
    from pg_basebackup (in another thread), ``on_manifest`` each piece of the
    ``backup_manifest`` member as it goes by (in that thread too).  Raises ``ToolFailed``
    (pg_basebackup or the compressor failed), ``ConfigError`` (missing tool,
    tablespaces), ``IntegrityError`` (pg_basebackup's output was not a
    complete base backup)."""
    check_codec(codec)
    argv = basebackup_argv(options)
    pipe = compressing_pipe(codec)
    try:
        process = postgres.start_basebackup(argv)
    except BaseException:
        pipe.close()
        raise
    stderr = _StderrCollector(process.stderr)
    pump = None
    try:
        _grow_pipe(process.stdout)
        first = process.stdout.read(CHUNK)
        if not first:
            raise _startup_failure(options, process.wait(), stderr.finish())
        pump = _Pump(process, stderr, pipe, first, on_read, on_manifest)
        stream = PipeReader(pipe, lambda: pump.join(30) or pump.error, pump.check_finished)
        value = consume(stream)
        if not stream.finished:
            raise InvariantViolated("the backup stream was not read to its end")
        return value, attrs.evolve(pump.result, compressed_size=stream.size)
    except BaseException as exc:
        failure = pump.stop(exc) if pump is not None else None
        _kill(process)
        pipe.abort(exc)
        stderr.finish()
        if failure is not None and failure is not exc:
            raise failure from exc
        raise
    finally:
        process.stdout.close()
        pipe.close()


def basebackup_argv(options: BasebackupOptions) -> List[str]:
    argv = postgres.basebackup_argv(options.server, options.wal_method, options.checkpoint,
                                    options.label, options.manifest, options.max_rate)
    if options.incremental is not None:
        argv += postgres.incremental_options(options.incremental)
    return argv


def _grow_pipe(pipe) -> None:
    # fewer, larger reads from pg_basebackup: 1 MiB instead of 64 KiB
    try:
        fcntl.fcntl(pipe.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:
        pass


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class TablespacesFound(ConfigError):
    """pg_basebackup cannot send a cluster with tablespaces down one stream:
    such a backup goes through ``swiftwal.adapters.tablespace_backup``."""


def _startup_failure(options: BasebackupOptions, exit_code: int, stderr_tail: str) -> Exception:
    if _TABLESPACE_REFUSAL in stderr_tail:
        return TablespacesFound("the cluster has tablespaces: pg_basebackup cannot write "
                                "them to one stream")
    if exit_code == 0:
        return IntegrityError("pg_basebackup exited 0 but wrote no backup")
    return postgres.basebackup_failed(exit_code, stderr_tail)


def has_tablespaces(options: BasebackupOptions) -> bool:
    """Whether the cluster has tablespaces besides pg_default and pg_global,
    asked with psql over the same connection options (best effort: False
    when psql cannot tell, and pg_basebackup's refusal says so later)."""
    rows = postgres.ask(options.server, "SELECT count(*) FROM pg_tablespace WHERE spcname "
                        "NOT IN ('pg_default', 'pg_global')", timeout=30)
    return bool(rows) and rows[0][0].isdigit() and int(rows[0][0]) > 0


def database_size(options: BasebackupOptions) -> Optional[int]:
    """The size in bytes of every database of the server, asked with psql
    over the backup's connection options: about what pg_basebackup will
    send (best effort: None if psql cannot tell, as for a role that may only
    replicate)."""
    rows = postgres.ask(options.server, "SELECT sum(pg_database_size(oid)) FROM pg_database",
                        timeout=30)
    return int(rows[0][0]) if rows and rows[0][0].isdigit() else None


class _StderrCollector:
    """Keeps pg_basebackup's last words (and its end point) from its stderr."""

    def __init__(self, pipe) -> None:
        self._pipe = pipe
        self._tail = b""
        self.end_point: Optional[str] = None
        self._thread = threading.Thread(target=self._run, name="pg_basebackup-stderr",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        pending = b""
        for chunk in iter(lambda: self._pipe.read(4096), b""):
            self._tail = (self._tail + chunk)[-STDERR_KEPT:]
            pending += chunk
            *lines, pending = re.split(rb"[\r\n]", pending)
            pending = pending[-STDERR_KEPT:]
            for line in lines:
                match = _END_POINT_RE.search(line.decode("utf-8", "replace"))
                if match:
                    self.end_point = match.group(1)

    def finish(self) -> str:
        self._thread.join(30)
        if not self._thread.is_alive():
            self._pipe.close()
        return self._tail.decode("utf-8", "replace")


class _Pump(threading.Thread):
    """Reads pg_basebackup's output, scans and hashes it, feeds the compressor;
    finishes the compressed stream only once the backup is known complete."""

    def __init__(self, process: subprocess.Popen, stderr: _StderrCollector,
                 pipe: CompressingPipe, first: bytes,
                 on_read: Optional[Callable[[int], None]],
                 on_manifest: Optional[Callable[[bytes], None]] = None) -> None:
        super().__init__(name="pg_basebackup-pump", daemon=True)
        self._on_manifest = on_manifest
        self._process = process
        self._stderr = stderr
        self._pipe = pipe
        self._first = first
        self._on_read = on_read
        self._stopping = False
        self.error: Optional[BaseException] = None
        self.result: Optional[BasebackupResult] = None
        self.start()

    def run(self) -> None:
        sinks = {"backup_manifest": self._on_manifest} if self._on_manifest else None
        scanner, size = TarScanner(sinks=sinks), 0
        try:
            chunk = self._first
            self._first = b""
            while chunk:
                scanner.feed(chunk)
                size += len(chunk)
                if self._on_read is not None:
                    self._on_read(len(chunk))
                self._pipe.write(chunk)
                chunk = self._process.stdout.read(CHUNK)
            exit_code = self._process.wait()
            tail = self._stderr.finish()
            if exit_code != 0:
                raise postgres.basebackup_failed(exit_code, tail)
            scanner.finish()
            self.result = backup_result(scanner, self._stderr.end_point, size)
            self._pipe.finish()
        except BaseException as exc:  # handed to the reader, never lost
            if self._stopping:
                return
            self.error = exc
            _kill(self._process)
            self._pipe.abort(exc)

    def check_finished(self) -> None:
        """At the end of the compressed stream: the backup must be complete."""
        self.join()
        if self.error is not None:
            raise self.error
        if self.result is None:
            raise InvariantViolated("the backup stream ended before pg_basebackup finished")

    def stop(self, cause: BaseException) -> Optional[BaseException]:
        """Abandon the backup (the consumer failed); returns the pump's own
        failure if the pipeline had failed first."""
        if self.is_alive():
            self._stopping = self.error is None
            _kill(self._process)
            self._pipe.abort(cause)
            self.join(30)
        return self.error


def backup_result(scanner: TarScanner, end_point: Optional[str], size: int) -> BasebackupResult:
    label_bytes = scanner.captured.get("backup_label")
    if label_bytes is None:
        raise IntegrityError("pg_basebackup's output has no backup_label")
    label = label_bytes.decode("utf-8", "replace")
    start = _START_RE.search(label)
    if start is None:
        raise IntegrityError(f"backup_label has no START WAL LOCATION: {label!r}")
    timeline_match = _TIMELINE_RE.search(label)  # PostgreSQL 11 and later
    # before 11, the timeline is the start file name's first eight hex digits
    timeline = int(timeline_match.group(1)) if timeline_match else int(start.group(2), 16)
    stop_lsn, stop_timeline = None, None
    manifest = scanner.captured.get("backup_manifest")
    ranges = _WAL_RANGE_RE.findall(manifest.decode("utf-8", "replace")) if manifest else []
    if ranges:
        stop_timeline, stop_lsn = int(ranges[-1][0]), Lsn.parse(ranges[-1][2])
    elif end_point is not None:
        stop_lsn, stop_timeline = Lsn.parse(end_point), None
    control = scanner.captured.get("global/pg_control")
    version = scanner.captured.get("PG_VERSION")
    return BasebackupResult(
        backup_label_text=label, start_lsn=Lsn.parse(start.group(1)), stop_lsn=stop_lsn,
        timeline=timeline, stop_timeline=stop_timeline,
        # ControlFileData starts with the system identifier, a uint64
        system_identifier=str(int.from_bytes(control[:8], "little"))
        if control and len(control) >= 8 else None,
        pg_version=version.decode("ascii", "replace").strip() if version else None,
        raw_size=size, manifest_present="backup_manifest" in scanner.seen,
        tablespace_map=scanner.sizes.get("tablespace_map", 0) > 0)
