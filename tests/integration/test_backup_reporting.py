"""What backup tells its user: why pg_basebackup failed, in one line and in
full with --debug; and, with --progress off a terminal, progress events."""
from __future__ import annotations

import json

from tests.support.cycle import pg_env
from tests.support.swiftwal_cli import make_store
from tests.integration.test_bad_input import one_line_error
from tests.support.pg_cluster import free_port, make_reachable


def backup(store, cluster, *args: str, port=None, user="postgres", options=()):
    return store.run(*options, "backup", "-c", "fast", "-H", str(cluster.socket_dir),
                     "-p", str(port or cluster.port), "-U", user, *args, check=False,
                     env=pg_env(cluster))


def test_a_failed_pg_basebackup_says_why_in_one_line(pg_factory, tmp_path, swiftwal_bin):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    cluster = pg_factory()
    wrong_port = free_port()
    line = one_line_error(backup(store, cluster, port=wrong_port), 8, "pg_basebackup failed")
    # libpq's cause, then its hint on a line of its own that starts with a tab:
    # both are kept, and the tab is shown as text, not as repr's backslash escape.
    assert f".s.PGSQL.{wrong_port}" in line and "No such file or directory" in line, line
    assert "| ^IIs the server running" in line and "\\t" not in line, line

    cluster.sql("CREATE ROLE reader LOGIN")  # may log in, may not replicate
    line = one_line_error(backup(store, cluster, user="reader"), 8, "pg_basebackup failed")
    assert "must be superuser or replication role" in line, line
    assert store.run("list-backups").stdout.split() == []


def test_debug_shows_all_that_pg_basebackup_said(pg_factory, tmp_path, swiftwal_bin):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    cluster = pg_factory()
    wrong_port = free_port()
    result = backup(store, cluster, port=wrong_port, options=("--debug",))
    assert result.returncode == 8, result.stderr
    lines = result.stderr.splitlines()
    (event,) = [i for i, text in enumerate(lines) if text.startswith("swiftwal: tool.failed")]
    assert "tool=pg_basebackup" in lines[event] and "exit_code=1" in lines[event]
    said = "\n".join(lines[event:])
    assert f'.s.PGSQL.{wrong_port}" failed: No such file or directory' in said
    assert "^IIs the server running locally and accepting connections on that socket?" in said
    assert lines[-1].startswith("swiftwal: error: pg_basebackup failed")


def test_progress_off_a_terminal_is_logged_as_events(pg_factory, tmp_path, swiftwal_bin):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    cluster = pg_factory()
    cluster.pgbench_init(scale=1)
    database_size = int(cluster.sql("SELECT sum(pg_database_size(oid)) FROM pg_database"))

    result = backup(store, cluster, "--progress", options=("--log-format", "json"))
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr  # no terminal redraws in a log
    logged = [json.loads(line) for line in result.stderr.splitlines()]
    progress = [e for e in logged if e["event"] == "backup.progress"]
    (completed,) = [e for e in logged if e["event"] == "backup.completed"]
    assert progress, logged
    assert [e["bytes"] for e in progress] == sorted(e["bytes"] for e in progress)
    last = progress[-1]
    assert last["bytes"] == completed["bytes"] and last["backup"] == completed["backup"]
    # the estimate is the databases' size, asked before pg_basebackup started
    assert abs(last["total_bytes"] - database_size) < database_size // 10
    assert set(last) >= {"bytes", "total_bytes", "bytes_per_s", "eta_s", "duration_s"}

    quiet = backup(store, cluster, options=("--log-format", "json"))
    assert quiet.returncode == 0, quiet.stderr
    assert "backup.progress" not in quiet.stderr and "\r" not in quiet.stderr
