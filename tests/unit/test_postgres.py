"""psql and pg_basebackup are run one way, by swiftwal.adapters.postgres: their
programs found in PG_BIN_DIR or on PATH, connection options only when given,
passwords only in the environment, never on a command line."""
from __future__ import annotations

import ast
import stat
from pathlib import Path

import pytest

from swiftwal.adapters import postgres
from swiftwal.config import load_settings
from swiftwal.domain.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[2] / "swiftwal"
PASSWORD = "Zebra-Secret-7f3a91"


def bin_dir(tmp_path: Path) -> Path:
    """A directory holding (never run) stand-ins for the client programs."""
    directory = tmp_path / "bin"
    directory.mkdir(exist_ok=True)
    for name in ("psql", "pg_basebackup"):
        program = directory / name
        program.write_text("#!/bin/sh\nexit 0\n")
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return directory


def test_only_the_postgres_adapter_names_the_client_programs():
    """Any other module wanting psql or pg_basebackup goes through it."""
    naming = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and node.value in ("psql", "pg_basebackup"):
                naming.append(str(path.relative_to(PACKAGE)))
    assert set(naming) == {"adapters/postgres.py"}


def test_the_programs_come_from_pg_bin_dir_as_set_in_the_environment(tmp_path):
    directory = bin_dir(tmp_path)
    settings = load_settings({}, None, {"SWIFTWAL_PG_BIN_DIR": str(directory)})
    server = postgres.Server.configured(settings, host="/run/postgresql")
    assert postgres.program(server, "psql") == str(directory / "psql")
    assert postgres.basebackup_argv(server, "none")[0] == str(directory / "pg_basebackup")


def test_a_program_missing_from_pg_bin_dir_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=f"pg_basebackup not found in {tmp_path}"):
        postgres.basebackup_argv(postgres.Server(bin_dir=str(tmp_path)), "fetch")
    with pytest.raises(ConfigError, match="psql not found in"):
        postgres.psql_argv(postgres.Server(bin_dir=str(tmp_path)), ["SELECT 1"], "postgres")


def test_pg_basebackup_gets_the_backups_options_then_the_connection(tmp_path):
    directory = bin_dir(tmp_path)
    server = postgres.Server("/tmp/sockets", "5433", "backup", str(directory))
    assert postgres.basebackup_argv(server, "fetch", "fast", "nightly", manifest=False) == [
        str(directory / "pg_basebackup"), "--pgdata=-", "--format=tar", "--wal-method=fetch",
        "--verbose", "--checkpoint=fast", "--label=nightly", "--no-manifest",
        "--host=/tmp/sockets", "--port=5433", "--username=backup"]
    assert postgres.basebackup_argv(postgres.Server(bin_dir=str(directory)), "none") == [
        str(directory / "pg_basebackup"), "--pgdata=-", "--format=tar", "--wal-method=none",
        "--verbose"]


def test_psql_never_prompts_reads_no_psqlrc_and_stops_at_the_first_error(tmp_path):
    argv = postgres.psql_argv(postgres.Server(port="5433", bin_dir=str(bin_dir(tmp_path))),
                              ["SELECT 1", "SELECT 2"], "postgres")
    assert {"--no-password", "--no-psqlrc", "--set=ON_ERROR_STOP=1", "--tuples-only",
            "--no-align", "--port=5433", "--dbname=postgres"} <= set(argv)
    assert [a for a in argv if a.startswith("--command=")] == ["--command=SELECT 1",
                                                               "--command=SELECT 2"]
    assert not any(a.startswith("--host") or a.startswith("--username") for a in argv)


@pytest.mark.parametrize("connection", [{}, {"host": "db.example", "port": "5433",
                                                 "username": "backup"}])
def test_the_password_is_in_the_environment_and_never_on_a_command_line(connection, tmp_path,
                                                                         monkeypatch):
    """libpq reads PGPASSWORD (or PGPASSFILE, ~/.pgpass) from the environment it
    is given; a command line is readable by every user of the machine."""
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    server = postgres.Server(**connection, bin_dir=str(bin_dir(tmp_path)))
    assert postgres.environment()["PGPASSWORD"] == PASSWORD
    lines = [postgres.basebackup_argv(server, "fetch"),
             postgres.psql_argv(server, ["SELECT 1"], "postgres")]
    assert not [a for argv in lines for a in argv if PASSWORD in a]
    assert "--no-password" in lines[1]


def test_psql_answers_are_split_into_rows_and_fields():
    answer = postgres.Answer(0, f"7345{postgres.SEPARATOR}150004\n\nx{postgres.SEPARATOR}\n", "")
    assert answer.rows == [["7345", "150004"], ["x", ""]]


def test_the_first_error_is_libpqs_without_psqls_prefix():
    answer = postgres.Answer(2, "", "psql: error: connection to server failed: refused\n"
                                    "\tIs the server running?\n")
    assert answer.first_error() == "connection to server failed: refused"
    assert postgres.Answer(3, "", "").first_error() == "psql exited 3"
    assert postgres.Answer(1, "", 'ERROR:  relation "x" does not exist\n').first_error() == \
        'relation "x" does not exist'


def test_the_database_is_pgdatabase_else_postgres(monkeypatch):
    monkeypatch.delenv("PGDATABASE", raising=False)
    assert postgres.default_dbname() == "postgres"
    monkeypatch.setenv("PGDATABASE", "app")
    assert postgres.default_dbname() == "app"
