"""Malformed settings and a local store that does not exist: every command
answers the same one-line configuration error (exit 3) before any work, the
per-WAL fast paths included, and nothing is stored, fetched or created."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.cycle import pg_env
from tests.support.swiftwal_cli import _clean_env, make_store, postgres_dir
from tests.integration.test_bad_input import one_line_error, segment_bytes, wal_file
from tests.support.pg_cluster import make_reachable

SEGMENT = "000000010000000000000003"


def run_as_postgres(swiftwal_bin, *args: str, cwd: str = "/", env: dict | None = None):
    argv = ["runuser", "-u", "postgres", "--", str(swiftwal_bin), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**_clean_env(), **(env or {})})


def bad_twin(store, tmp_path, swiftwal_bin, swift, **bad: str):
    """A config file for the same store as ``store`` with the ``bad`` settings added."""
    where = {"CONTAINER": store.location} if store.kind == "swift" else {
        "STORAGE": "file://" + store.location}
    return make_store(store.kind, str(make_reachable(tmp_path / "bad-config")), swiftwal_bin,
                      swift, extra={**where, **bad})


@pytest.mark.parametrize("source", ["config file", "environment"])
def test_a_malformed_parallel_stops_archive_wal_before_it_stores_anything(
        store, tmp_path, swiftwal_bin, request, source):
    swift = request.getfixturevalue("swift") if store.kind == "swift" else None
    wal_dir = postgres_dir(tmp_path / "pg_wal")
    path = wal_file(wal_dir, SEGMENT, segment_bytes(SEGMENT))
    if source == "config file":
        result = bad_twin(store, tmp_path, swiftwal_bin, swift, PARALLEL="abc").run(
            "archive-wal", path, check=False)
    else:
        result = store.run("archive-wal", path, check=False, env={"SWIFTWAL_PARALLEL": "abc"})
    line = one_line_error(result, 3, "PARALLEL", "'abc'")
    assert ("SWIFTWAL_PARALLEL" in line) == (source == "environment")
    assert store.run("list-wal").stdout.split() == []
    # Fixed, the same call archives it: nothing was left half done.
    store.run("archive-wal", path)
    assert store.run("list-wal").stdout.split() == [SEGMENT]


@pytest.mark.parametrize("source", ["config file", "environment"])
def test_a_malformed_parallel_stops_restore_wal_before_it_writes_anything(
        store, tmp_path, swiftwal_bin, request, source):
    swift = request.getfixturevalue("swift") if store.kind == "swift" else None
    wal_dir = postgres_dir(tmp_path / "pg_wal")
    store.run("archive-wal", wal_file(wal_dir, SEGMENT, segment_bytes(SEGMENT)))
    data_dir = postgres_dir(tmp_path / "data")
    target = os.path.join(data_dir, "RECOVERYXLOG")
    if source == "config file":
        bad = bad_twin(store, tmp_path, swiftwal_bin, swift, PARALLEL="abc")
        run = lambda: bad.run("restore-wal", SEGMENT, target, check=False, cwd=data_dir)  # noqa: E731
    else:
        run = lambda: store.run("restore-wal", SEGMENT, target, check=False, cwd=data_dir,  # noqa: E731
                                env={"SWIFTWAL_PARALLEL": "abc"})
    one_line_error(run(), 3, "PARALLEL")
    assert os.listdir(data_dir) == []
    # During targeted recovery it must not read as "not in the archive" (1..125):
    # PostgreSQL would end recovery there.
    open(os.path.join(data_dir, "recovery.signal"), "w").close()
    one_line_error(run(), 126, "PARALLEL")
    assert os.listdir(data_dir) == ["recovery.signal"]


def test_restore_wal_with_its_options_after_it_keeps_the_recovery_rule(tmp_path, swiftwal_bin):
    """Options after the command are read by the full command, not the fast path."""
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    data_dir = postgres_dir(tmp_path / "data")
    argv = ("restore-wal", SEGMENT, os.path.join(data_dir, "RECOVERYXLOG"),
            f"--config={store.config_path}")
    bad = {"SWIFTWAL_PARALLEL": "abc"}
    one_line_error(run_as_postgres(swiftwal_bin, *argv, cwd=data_dir, env=bad), 3, "PARALLEL")
    open(os.path.join(data_dir, "recovery.signal"), "w").close()
    one_line_error(run_as_postgres(swiftwal_bin, *argv, cwd=data_dir, env=bad), 126, "PARALLEL")
    assert run_as_postgres(swiftwal_bin, *argv, cwd=data_dir).returncode == 1  # not archived


BAD_SETTINGS = [("PARALLEL", "abc"), ("COMPRESSION", "lz4"), ("INSECURE", "maybe"),
                ("TIMEOUT", "soon"), ("WAL_SEGMENT_SIZE", "3"), ("ARCHIVE_LOOKAHEAD", "-1"),
                ("LOG_FORMAT", "xml")]
EVERY_COMMAND = [("list-wal",), ("list-backups",), ("info",), ("verify",),
                 ("prune", "--keep-backups", "1", "--dry-run"),
                 ("archive-cleanup", "--dry-run", SEGMENT),
                 ("restore-wal", SEGMENT, "{dir}/RECOVERYXLOG"), ("archive-wal", "{dir}/" + SEGMENT)]


@pytest.mark.parametrize("key, value", BAD_SETTINGS)
def test_every_command_refuses_a_malformed_setting_the_same_way(tmp_path, swiftwal_bin, key, value):
    store = make_store("local", str(make_reachable(tmp_path / "good")), swiftwal_bin)
    wal_dir = postgres_dir(tmp_path / "pg_wal")
    wal_file(wal_dir, SEGMENT, segment_bytes(SEGMENT))
    answers = set()
    for command in EVERY_COMMAND:
        args = [word.replace("{dir}", wal_dir) for word in command]
        line = one_line_error(store.run(*args, check=False, cwd=wal_dir,
                                        env={f"SWIFTWAL_{key}": value}), 3, key)
        answers.add(line)
    assert len(answers) == 1, answers
    assert os.listdir(store.location) == []


READING_COMMANDS = [("info",), ("list-backups",), ("list-wal",), ("verify",),
                    ("prune", "--keep-backups", "1"), ("archive-cleanup", SEGMENT),
                    ("restore-wal", SEGMENT, "{dir}/RECOVERYXLOG"),
                    ("restore", "latest", "{dir}/restored")]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=lambda c: c[0])
def test_a_command_that_reads_refuses_a_missing_local_store_and_creates_nothing(
        tmp_path, swiftwal_bin, command):
    parent = postgres_dir(tmp_path / "parent")  # postgres could create it: nothing may
    missing = os.path.join(parent, "mistyped")
    data_dir = postgres_dir(tmp_path / "data")
    args = [word.replace("{dir}", data_dir) for word in command]
    result = run_as_postgres(swiftwal_bin, f"--storage=file://{missing}", *args, cwd=data_dir)
    one_line_error(result, 3, f"no such store: {missing}")
    assert os.listdir(parent) == [] and os.listdir(data_dir) == []


def test_restore_wal_from_a_missing_store_never_reads_as_not_in_the_archive(tmp_path, swiftwal_bin):
    missing = os.path.join(postgres_dir(tmp_path / "parent"), "mistyped")
    data_dir = postgres_dir(tmp_path / "data")
    target = os.path.join(data_dir, "RECOVERYXLOG")

    def restore_wal():
        return run_as_postgres(swiftwal_bin, f"--storage=file://{missing}", "restore-wal",
                               SEGMENT, target, cwd=data_dir)

    for _ in range(2):  # the second call may find a prefetch worker the first one started
        one_line_error(restore_wal(), 3, "no such store")
    open(os.path.join(data_dir, "standby.signal"), "w").close()
    one_line_error(restore_wal(), 3, "no such store")  # a standby keeps polling, and logs it
    os.unlink(os.path.join(data_dir, "standby.signal"))
    open(os.path.join(data_dir, "recovery.signal"), "w").close()
    one_line_error(restore_wal(), 126, "no such store")  # targeted recovery stops
    assert not os.path.exists(missing) and not os.path.exists(target)


def test_archive_wal_and_backup_create_a_missing_local_store(tmp_path, swiftwal_bin, pg_factory):
    parent = postgres_dir(tmp_path / "parent")
    wal_dir = postgres_dir(tmp_path / "pg_wal")
    path = wal_file(wal_dir, SEGMENT, segment_bytes(SEGMENT))
    archive = os.path.join(parent, "archive")
    run_as_postgres(swiftwal_bin, f"--storage=file://{archive}", "archive-wal", path,
                    cwd=wal_dir).check_returncode()
    listed = run_as_postgres(swiftwal_bin, f"--storage=file://{archive}", "list-wal")
    assert listed.returncode == 0 and listed.stdout.split() == [SEGMENT], listed.stderr

    primary = pg_factory()
    backups = os.path.join(parent, "backups")
    result = run_as_postgres(swiftwal_bin, f"--storage=file://{backups}", "backup", "-c", "fast",
                             "-H", str(primary.socket_dir), "-p", str(primary.port),
                             "-U", "postgres", env=pg_env(primary))
    assert result.returncode == 0, result.stderr
    listed = run_as_postgres(swiftwal_bin, f"--storage=file://{backups}", "list-backups")
    assert listed.returncode == 0 and len(listed.stdout.split()) == 1, listed.stderr
