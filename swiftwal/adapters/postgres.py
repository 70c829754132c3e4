"""PostgreSQL's client programs, ``psql``, ``pg_basebackup``, ``pg_combinebackup``
and ``pg_verifybackup``: the one place that finds them, builds their command
line and environment, and turns their failures into ``ToolFailed``.

- Programs: those of ``PG_BIN_DIR`` (``SWIFTWAL_PG_BIN_DIR``), which picks a
  PostgreSQL version, else the first on ``PATH``.
- Connection: ``--host``, ``--port``, ``--username`` only when given;
  otherwise libpq's own defaults and environment apply (``PGHOST``,
  ``PGPORT``, ``PGUSER``, ``PGSSLMODE``...), as for any PostgreSQL tool run by
  hand.  psql's database: the one given, else ``PGDATABASE``, else
  ``postgres``.  No driver to install.
- Secrets: a password reaches libpq only through the environment
  (``PGPASSWORD``, ``PGPASSFILE``) or ``~/.pgpass``, never the command line,
  which every user of the machine can read in ``ps``.  ``--no-password``: a
  prompt would hang a timer, archive_command or a monitoring check.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from typing import Dict, List, Optional, Sequence, Tuple

import attrs

from swiftwal.adapters.tool_failure import tool_failed
from swiftwal.domain import errors

#: psql's field separator: a control character no setting or name contains.
SEPARATOR = "\x1f"


def bin_dir(settings) -> Optional[str]:
    """Where the client programs are (``PG_BIN_DIR``); None: on ``PATH``."""
    return settings.get("PG_BIN_DIR") or None


@attrs.frozen
class Server:
    """Where, as whom and with which programs to reach a server; None leaves
    each to libpq's defaults (or ``PATH``)."""

    host: Optional[str] = None
    port: Optional[str] = None
    username: Optional[str] = None
    bin_dir: Optional[str] = None

    @classmethod
    def configured(cls, settings, host: Optional[str] = None, port: Optional[str] = None,
                   username: Optional[str] = None) -> "Server":
        return cls(host, port, username, bin_dir(settings))

    def connection_options(self) -> List[str]:
        return [f"{option}={value}" for option, value in (
            ("--host", self.host), ("--port", self.port), ("--username", self.username))
            if value]


def default_dbname() -> str:
    """``PGDATABASE``, else ``postgres`` (libpq's default, the user's name,
    names a database that rarely exists)."""
    return os.environ.get("PGDATABASE") or "postgres"


def program(server: Server, name: str) -> str:
    """The path of ``name`` (``psql``, ``pg_basebackup``); ``ConfigError`` if
    it cannot be run."""
    if server.bin_dir:
        path = os.path.join(server.bin_dir, name)
        if not os.access(path, os.X_OK):
            raise errors.ConfigError(f"{name} not found in {server.bin_dir}",
                                     hint="check the PostgreSQL bin directory (PG_BIN_DIR)")
        return path
    path = shutil.which(name)
    if path is None:
        raise errors.ConfigError(f"{name} not found on PATH",
                                 hint="install the PostgreSQL client tools or set PG_BIN_DIR")
    return path


def environment() -> Dict[str, str]:
    """The environment of a client program: this process's, so that libpq
    finds ``PGPASSWORD``, ``PGPASSFILE`` and the rest there."""
    return dict(os.environ)


# -- psql ----------------------------------------------------------------------------------

def psql_argv(server: Server, commands: Sequence[str], dbname: str) -> List[str]:
    """Each of ``commands`` in turn, stopping at the first that fails;
    unaligned rows without headers, fields split by ``SEPARATOR``."""
    return [program(server, "psql"), "--no-psqlrc", "--no-align", "--tuples-only",
            "--no-password", "--set=ON_ERROR_STOP=1", f"--field-separator={SEPARATOR}",
            f"--dbname={dbname}", *server.connection_options(),
            *(f"--command={command}" for command in commands)]


@attrs.frozen
class Answer:
    """What psql said: its exit status, its rows and its stderr."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def rows(self) -> List[List[str]]:
        return [line.split(SEPARATOR) for line in self.stdout.splitlines() if line]

    def first_error(self) -> str:
        """libpq's or the server's message, without psql's prefixes."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        return (lines[0].replace("psql: error: ", "").replace("ERROR:  ", "") if lines
                else f"psql exited {self.returncode}")


def run_psql(server: Server, *commands: str, dbname: Optional[str] = None,
             timeout: float = 60) -> Answer:
    """Run psql, whatever it answers.  Raises ``ConfigError`` (no psql),
    ``ToolFailed`` (it could not start) or ``SwiftwalError`` (no answer
    within ``timeout`` seconds)."""
    argv = psql_argv(server, commands, dbname or default_dbname())
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              timeout=timeout, stdin=subprocess.DEVNULL, env=environment())
    except subprocess.TimeoutExpired:
        raise errors.SwiftwalError(f"psql gave no answer within {timeout:g} s") from None
    except OSError as exc:
        raise errors.ToolFailed("psql", None, str(exc)) from None
    return Answer(done.returncode, done.stdout, done.stderr)


def query(server: Server, sql: str, dbname: Optional[str] = None,
          timeout: float = 60) -> List[List[str]]:
    """The rows ``sql`` returns; as ``run_psql``, and ``ToolFailed`` when psql
    fails (the server cannot be reached, refuses, or the query fails)."""
    answer = run_psql(server, sql, dbname=dbname, timeout=timeout)
    if answer.returncode != 0:
        raise tool_failed("psql", answer.returncode, answer.stderr)
    return answer.rows


def ask(server: Server, sql: str, dbname: Optional[str] = None,
        timeout: float = 60) -> Optional[List[List[str]]]:
    """The rows of ``sql`` when they are only worth knowing: None, and
    nothing logged, when psql cannot tell (no psql, a server that cannot be
    reached, a role that may only replicate)."""
    try:
        answer = run_psql(server, sql, dbname=dbname, timeout=timeout)
    except errors.SwiftwalError:
        return None
    return answer.rows if answer.returncode == 0 else None


def cluster_identity(server: Server) -> Optional[Tuple[str, Optional[str]]]:
    """``(system identifier, major version)`` of the server, or None when psql
    cannot tell."""
    rows = ask(server, "SELECT system_identifier, current_setting('server_version_num') "
                       "FROM pg_control_system()", dbname="postgres")
    if not rows or len(rows[0]) != 2 or not rows[0][0].isdigit():
        return None
    identifier, version = rows[0]
    return identifier, str(int(version) // 10000) if version.isdigit() else None


@attrs.frozen
class ArchiverStats:
    """``pg_stat_archiver``: PostgreSQL counts every archive_command that did not
    exit 0, whatever failed (the store, the config, swiftwal not even starting)."""

    failed_count: int
    last_failed_at: Optional[float]  # Unix time; None: no failure since the last reset
    last_failed_wal: Optional[str]


_ARCHIVER_QUERY = ("SELECT failed_count, coalesce(extract(epoch FROM last_failed_time)::text, ''), "
                   "coalesce(last_failed_wal, '') FROM pg_stat_archiver")


def archiver_stats(server: Server, timeout: float = 30) -> ArchiverStats:
    """Of the server libpq reaches by default (``PGHOST``, ``PGPORT``, ``PGUSER``;
    ``PGDATABASE``, else ``postgres``).  Raises ``ConfigError`` when psql is
    missing, ``ToolFailed`` when it cannot ask, ``SwiftwalError`` on a timeout."""
    rows = query(server, _ARCHIVER_QUERY, timeout=timeout)
    if len(rows) != 1 or len(rows[0]) != 3:
        raise errors.ToolFailed("psql", 0, "pg_stat_archiver did not answer one row")
    count, failed_at, wal = rows[0]
    return ArchiverStats(int(count), float(failed_at) if failed_at else None, wal or None)


# -- pg_basebackup ---------------------------------------------------------------------------

def basebackup_argv(server: Server, wal_method: str, checkpoint: Optional[str] = None,
                    label: Optional[str] = None, manifest: bool = True,
                    max_rate: Optional[int] = None) -> List[str]:
    """The tar of the whole cluster on standard output, with the progress
    messages (and the end point) that ``--verbose`` adds on stderr."""
    argv = [program(server, "pg_basebackup"), "--pgdata=-", "--format=tar",
            f"--wal-method={wal_method}", "--verbose"]
    if checkpoint:
        argv.append(f"--checkpoint={checkpoint}")
    if label:
        argv.append(f"--label={label}")
    if not manifest:
        argv.append("--no-manifest")
    if max_rate:
        argv.append(f"--max-rate={max_rate}")
    return argv + server.connection_options()


def start_basebackup(argv: List[str]) -> subprocess.Popen:
    """pg_basebackup running ``argv``, its tar and stderr on unbuffered pipes;
    ``ToolFailed`` if it cannot start."""
    try:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, bufsize=0, env=environment())
    except OSError as exc:
        raise basebackup_failed(None, str(exc)) from None


def basebackup_failed(exit_code: Optional[int], stderr: str) -> errors.ToolFailed:
    """pg_basebackup's failure, with what it said (all of it in a debug event)."""
    return tool_failed("pg_basebackup", exit_code, stderr)


# -- incremental backups, pg_combinebackup and pg_verifybackup ------------------------------

def incremental_options(manifest_path: str) -> List[str]:
    """What makes pg_basebackup send only the blocks changed since the backup whose
    manifest is the file ``manifest_path`` (PostgreSQL 17 and later)."""
    return [f"--incremental={manifest_path}"]


@attrs.frozen
class ReplicationFacts:
    """What the server answers on a replication connection, the one pg_basebackup
    opens (so a role that may only replicate can tell too)."""

    system_identifier: str
    timeline: int
    version_num: int
    summarize_wal: Optional[bool]  # None: the setting does not exist (before 17)

    @property
    def major(self) -> int:
        return self.version_num // 10000


def replication_facts(server: Server, timeout: float = 60) -> ReplicationFacts:
    """``IDENTIFY_SYSTEM``, ``server_version_num`` and ``summarize_wal`` of the
    server.  Raises ``ToolFailed`` when psql cannot ask (the server cannot be
    reached, or refuses the replication connection pg_basebackup needs too)."""
    rows = _replication_rows(server, ("IDENTIFY_SYSTEM", "SHOW server_version_num"), timeout)
    if len(rows) != 2 or len(rows[0]) < 2 or not rows[0][1].isdigit() or not rows[1][0].isdigit():
        raise errors.ToolFailed("psql", 0, f"unexpected answer to IDENTIFY_SYSTEM: {rows!r}")
    version = int(rows[1][0])
    summarize = None
    if version >= 170000:
        (value,), = _replication_rows(server, ("SHOW summarize_wal",), timeout)
        summarize = value == "on"
    return ReplicationFacts(rows[0][0], int(rows[0][1]), version, summarize)


def _replication_rows(server: Server, commands: Sequence[str], timeout: float) -> List[List[str]]:
    answer = run_psql(server, *commands, dbname="replication=true", timeout=timeout)
    if answer.returncode != 0:
        raise tool_failed("psql", answer.returncode, answer.stderr)
    return answer.rows


def program_major(server: Server, name: str) -> int:
    """The PostgreSQL major version of the program ``name`` (``--version``)."""
    import re

    path = program(server, name)
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True,
                              errors="replace", timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise errors.ToolFailed(name, None, str(exc)) from None
    found = re.search(r"\(PostgreSQL\) (\d+)", done.stdout)
    if done.returncode != 0 or found is None:
        raise tool_failed(name, done.returncode, done.stderr or done.stdout)
    return int(found.group(1))


def basebackup_major(server: Server) -> int:
    return program_major(server, "pg_basebackup")


def combinebackup_major(server: Server) -> int:
    return program_major(server, "pg_combinebackup")


def combine_backups(server: Server, inputs: Sequence[str], output: str,
                    mode: Optional[str], tablespaces: Sequence[Tuple[str, str]] = ()) -> None:
    """``pg_combinebackup``: the data directory ``output`` rebuilt from the backup
    directories ``inputs`` (the full one first); ``mode`` is ``link``, ``clone`` or
    ``copy-file-range`` (None: copy); ``tablespaces``: (where the last input's
    ``pg_tblspc/OID`` points, where that tablespace goes), one for each.  Not
    synced: the caller flushes the file system once.  ``ToolFailed`` with what it
    said when it fails."""
    argv = [program(server, "pg_combinebackup"), "--no-sync", f"--output={output}",
            *([f"--{mode}"] if mode else []),
            *(f"--tablespace-mapping={_escape_equals(old)}={_escape_equals(new)}"
              for old, new in tablespaces), *inputs]
    _run_tool("pg_combinebackup", argv)


def verify_backup(server: Server, directory: str, parse_wal: bool,
                  manifest: Optional[str] = None, ignore: Sequence[str] = ()) -> Optional[str]:
    """``pg_verifybackup`` of ``directory`` against its ``backup_manifest`` (or the
    file ``manifest``): None when it verifies, else what it reported (its last
    lines).  ``parse_wal``: also read the WAL the backup needs from its ``pg_wal``;
    ``ignore``: paths (relative to ``directory``) left unchecked."""
    argv = [program(server, "pg_verifybackup"), "--quiet",
            *([] if parse_wal else ["--no-parse-wal"]),
            *([f"--manifest-path={manifest}"] if manifest else []),
            *(f"--ignore={path}" for path in ignore), directory]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              stdin=subprocess.DEVNULL, env=environment())
    except OSError as exc:
        raise errors.ToolFailed("pg_verifybackup", None, str(exc)) from None
    if done.returncode == 0:
        return None
    return errors.stderr_cause(done.stderr or done.stdout) or f"exit status {done.returncode}"


def _escape_equals(path: str) -> str:
    """A path in ``--tablespace-mapping=OLD=NEW``, where ``\\=`` is a literal ``=``."""
    return path.replace("=", "\\=")


def _run_tool(name: str, argv: List[str]) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace",
                              stdin=subprocess.DEVNULL, env=environment())
    except OSError as exc:
        raise errors.ToolFailed(name, None, str(exc)) from None
    if done.returncode != 0:
        raise tool_failed(name, done.returncode, done.stderr or done.stdout)
