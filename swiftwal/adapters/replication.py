"""``BASE_BACKUP`` spoken over a replication connection, through psycopg's
binding of libpq: every tablespace's archive streams in one connection, with
no file on disk.

Measured against the other way to stream several tablespaces (``pg_basebackup
-Ft -D DIR`` with each ``base.tar`` / ``OID.tar`` a named pipe) on PostgreSQL 15,
two tablespaces of 145 MB and a 54 MB database, 2 cores: 350-390 MB/s and
0.5 s of CPU here against 210-300 MB/s and 0.7 s (pg_basebackup's 0.3 s
included), peak RSS 33 MiB.  The pipes also race: pg_basebackup refuses a
directory that is not empty, so they can only be made once it has created
its directory, 5-14 ms before it opens the first tar; and their names must
be known before the server sends its list.

Protocol: the server first answers the start position and the list of
tablespaces (base last).  PostgreSQL 15 and later then send one COPY stream
whose messages say ``n`` (a new archive begins: its name and location),
``d`` (data), ``p`` (progress) and ``m`` (the manifest begins); 12 to 14 send
one COPY per tablespace, then one for the manifest (13 and later), without
the two zero blocks that end a tar.  Last comes the end position.

An incremental backup (17 and later) first sends the parent's
``backup_manifest`` on the same connection: ``UPLOAD_MANIFEST`` answers with
a COPY IN, the file goes up as COPY data, and ``BASE_BACKUP (INCREMENTAL)``
then sends, for each relation file the manifest lists, only its changed
blocks (an ``INCREMENTAL.``-named file), tablespaces included.  That is
libpq's ``PQputCopyData``/``PQputCopyEnd`` (psycopg's ``PGconn.put_copy_data``
/ ``put_copy_end``, what its ``Cursor.copy()`` does underneath): spoken here
through the same ``PGconn`` as the rest, since a replication connection
accepts no SQL and the high-level cursor would be a second way in.

Connection: the ``-H``, ``-p``, ``-U`` given, else libpq's defaults and
environment (``PGHOST``, ``PGPASSWORD``, ``PGPASSFILE``, ``PGSSLMODE``...),
as for pg_basebackup; a password never appears in a command line.
"""
from __future__ import annotations

from typing import Iterator, List, Optional, Tuple

import attrs

from swiftwal.adapters.postgres import Server
from swiftwal.domain.errors import ConfigError, SwiftwalError, ToolFailed, stderr_cause
from swiftwal.domain.lsn import Lsn

#: The first version whose BASE_BACKUP takes options in parentheses and sends
#: every archive in one COPY stream.
NEW_PROTOCOL = 150000
#: backup_manifest exists since PostgreSQL 13.
MANIFEST_SINCE = 130000
#: UPLOAD_MANIFEST and BASE_BACKUP's INCREMENTAL exist since PostgreSQL 17.
INCREMENTAL_SINCE = 170000
#: The pieces the parent's manifest goes up in (pg_basebackup sends 128 kB).
COPY_CHUNK = 128 << 10


class BaseBackupFailed(ToolFailed):
    """The server refused or broke off the base backup (exit status 8, as a
    failed pg_basebackup)."""

    def __init__(self, message: str, hint: Optional[str] = None) -> None:
        SwiftwalError.__init__(self, "the base backup failed: " + (stderr_cause(message)
                                                                    or "no reason given"), hint)
        self.tool = "BASE_BACKUP"
        self.exit_code = None
        self.stderr_tail = message


@attrs.frozen
class BackupOptions:
    """What ``BASE_BACKUP`` is asked for (pg_basebackup's options of the same names)."""

    label: str = "swiftwal"
    checkpoint: Optional[str] = None  # fast | spread | None (the server's default: spread)
    wal: bool = False  # -X fetch: the WAL the backup needs, inside base.tar
    manifest: bool = True
    max_rate: Optional[int] = None  # kB/s
    #: The parent's backup_manifest (a file): only the blocks changed since it are sent
    incremental: Optional[str] = None


@attrs.frozen
class Tablespace:
    """A row of the server's tablespace list; ``oid`` None is the data directory."""

    oid: Optional[int]
    location: Optional[str]

    @property
    def archive_name(self) -> str:
        return "base.tar" if self.oid is None else f"{self.oid}.tar"


# Events yielded by ``base_backup``, in this order: Started, Archive (then
# Data...) for each tablespace, base last, Manifest (then Data...), Ended.
@attrs.frozen
class Started:
    lsn: Lsn
    timeline: int
    tablespaces: Tuple[Tablespace, ...]
    server_version: int


@attrs.frozen
class Archive:
    tablespace: Tablespace
    #: whether the server ends the tar with its two zero blocks (15 and later)
    terminated: bool


@attrs.frozen
class Manifest:
    pass


@attrs.frozen
class Ended:
    lsn: Lsn
    timeline: Optional[int]


def _load():
    try:
        from psycopg import pq
        from psycopg.conninfo import make_conninfo
    except ImportError as exc:
        raise ConfigError(f"cannot load psycopg and libpq ({exc}), needed to back up a "
                          "cluster with tablespaces",
                          hint="pip install psycopg, with libpq5 installed (or "
                               "psycopg[binary])") from None
    return pq, make_conninfo


def conninfo(server: Server) -> str:
    _, make_conninfo = _load()
    given = {key: value for key, value in (("host", server.host), ("port", server.port),
                                           ("user", server.username)) if value}
    return make_conninfo("", replication="true", application_name="swiftwal", **given)


def quote(text: str) -> str:
    """A string literal of the replication grammar."""
    if "\0" in text:
        raise ConfigError("a backup label cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def command(options: BackupOptions, server_version: int) -> str:
    if server_version >= NEW_PROTOCOL:
        words = [f"LABEL {quote(options.label)}", "TABLESPACE_MAP"]
        if options.checkpoint:
            words.append(f"CHECKPOINT {quote(options.checkpoint)}")
        if options.wal:
            words += ["WAL", "WAIT false"]
        if options.max_rate:
            words.append(f"MAX_RATE {int(options.max_rate)}")
        words.append("MANIFEST 'yes'" if options.manifest else "MANIFEST 'no'")
        if options.incremental is not None:
            words.append("INCREMENTAL")
        return "BASE_BACKUP (" + ", ".join(words) + ")"
    words = [f"LABEL {quote(options.label)}", "TABLESPACE_MAP"]
    if options.checkpoint == "fast":
        words.append("FAST")
    if options.wal:
        words += ["WAL", "NOWAIT"]
    if options.max_rate:
        words.append(f"MAX_RATE {int(options.max_rate)}")
    if options.manifest and server_version >= MANIFEST_SINCE:
        words.append("MANIFEST 'yes'")
    return "BASE_BACKUP " + " ".join(words)


class Connection:
    """One replication connection; ``close`` breaks off whatever runs on it
    (the server then abandons the backup)."""

    def __init__(self, server: Server) -> None:
        pq, _ = _load()
        self._pq = pq
        self._conn = pq.PGconn.connect(conninfo(server).encode())
        if self._conn.status != pq.ConnStatus.OK:
            message = _text(self._conn.error_message)
            self._conn.finish()
            raise BaseBackupFailed(message or "could not connect",
                                   hint="check -H, -p, -U, pg_hba.conf (a 'replication' line) "
                                        "and the role's REPLICATION right")

    @property
    def socket(self) -> int:
        return self._conn.socket

    @property
    def server_version(self) -> int:
        return self._conn.server_version

    def close(self) -> None:
        self._conn.finish()

    def base_backup(self, options: BackupOptions) -> Iterator[object]:
        """The events of one base backup (see above); raises ``BaseBackupFailed``."""
        pq = self._pq
        version = self.server_version
        if options.incremental is not None:
            self.upload_manifest(options.incremental)
        self._send(command(options, version))
        start = self._rows(self._result())
        if not start or len(start[0]) < 2:
            raise BaseBackupFailed("the server did not say where the backup starts")
        spaces = tuple(Tablespace(int(row[0]) if row[0] is not None else None, row[1])
                       for row in self._rows(self._result()))
        yield Started(Lsn.parse(start[0][0]), int(start[0][1]), spaces, version)
        if version >= NEW_PROTOCOL:
            yield from self._copy_stream(spaces)
        else:
            for space in spaces:
                self._expect_copy(self._result())
                yield Archive(space, terminated=False)
                yield from self._copy_data()
            if options.manifest and version >= MANIFEST_SINCE:
                self._expect_copy(self._result())
                yield Manifest()
                yield from self._copy_data()
        end = self._rows(self._result())
        if not end or not end[0]:
            raise BaseBackupFailed("the server did not say where the backup ends")
        yield Ended(Lsn.parse(end[0][0]), int(end[0][1]) if len(end[0]) > 1 and end[0][1]
                    else None)
        while True:  # CommandComplete, then the end of the results
            result = self._conn.get_result()
            if result is None:
                return
            if result.status not in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK):
                raise BaseBackupFailed(_text(result.error_message))

    def upload_manifest(self, path: str) -> None:
        """``UPLOAD_MANIFEST``: the backup_manifest file ``path``, which the next
        ``BASE_BACKUP (INCREMENTAL)`` of this connection is based on.  The server
        checks it (its checksum, its WAL ranges against the summaries it has):
        ``BaseBackupFailed`` with what it said."""
        if self.server_version < INCREMENTAL_SINCE:
            raise ConfigError(f"incremental backups need PostgreSQL 17 or later; the server "
                              f"runs PostgreSQL {self.server_version // 10000}")
        pq = self._pq
        with open(path, "rb") as manifest:
            self._send("UPLOAD_MANIFEST")
            result = self._result()
            if result.status != pq.ExecStatus.COPY_IN:
                raise BaseBackupFailed(_text(result.error_message)
                                       or f"unexpected {result.status!r}")
            try:
                for chunk in iter(lambda: manifest.read(COPY_CHUNK), b""):
                    self._conn.put_copy_data(chunk)
                self._conn.put_copy_end()
            except Exception:  # psycopg's OperationalError: the message is libpq's
                raise BaseBackupFailed(_text(self._conn.error_message)) from None
        while (result := self._conn.get_result()) is not None:
            if result.status != pq.ExecStatus.COMMAND_OK:
                raise BaseBackupFailed(_text(result.error_message)
                                       or f"unexpected {result.status!r}")

    def _copy_stream(self, spaces: Tuple[Tablespace, ...]) -> Iterator[object]:
        self._expect_copy(self._result())
        by_name = {space.archive_name: space for space in spaces}
        for data in self._copy_data():
            kind = data[:1]
            if kind == b"d":
                yield data[1:]
            elif kind == b"n":
                fields = bytes(data[1:]).split(b"\0")
                if len(fields) < 2:
                    raise BaseBackupFailed("malformed new-archive message")
                name = fields[0].decode("utf-8", "surrogateescape")
                space = by_name.get(name)
                if space is None:  # a server-side compressed name, or an unlisted tablespace
                    raise BaseBackupFailed(f"an archive not asked for: {name!r}")
                yield Archive(space, terminated=True)
            elif kind == b"m":
                yield Manifest()
            elif kind == b"p":
                continue
            else:
                raise BaseBackupFailed(f"unknown COPY message type {bytes(kind)!r}")

    def _copy_data(self) -> Iterator[memoryview]:
        while True:
            size, data = self._conn.get_copy_data(0)
            if size == -1:  # the next result says how it went (no CommandComplete here)
                return
            if size < 0:
                raise BaseBackupFailed(_text(self._conn.error_message))
            yield memoryview(data)

    def _send(self, text: str) -> None:
        try:
            self._conn.send_query(text.encode())
        except Exception:  # psycopg's OperationalError: the message is libpq's
            raise BaseBackupFailed(_text(self._conn.error_message)) from None

    def _result(self):
        result = self._conn.get_result()
        if result is None:
            raise BaseBackupFailed(_text(self._conn.error_message) or "the server ended the "
                                   "backup early")
        return result

    def _rows(self, result) -> List[List[Optional[str]]]:
        if result.status != self._pq.ExecStatus.TUPLES_OK:
            raise BaseBackupFailed(_text(result.error_message) or f"unexpected {result.status!r}")
        return [[None if (value := result.get_value(row, column)) is None
                 else bytes(value).decode("utf-8", "surrogateescape")
                 for column in range(result.nfields)] for row in range(result.ntuples)]

    def _expect_copy(self, result) -> None:
        if result.status != self._pq.ExecStatus.COPY_OUT:
            raise BaseBackupFailed(_text(result.error_message) or f"unexpected {result.status!r}")


def _text(message) -> str:
    if isinstance(message, (bytes, bytearray, memoryview)):
        message = bytes(message).decode("utf-8", "replace")
    return (message or "").strip()
