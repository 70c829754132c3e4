"""The password never shows: not in any process's command line during the
run (polled from /proc), not in console or JSON logs, not with --debug, not
in error messages, nor in the server log where archive_command and
restore_command write; from the config file, the environment or a *_FILE."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_and_recover,
                                     restore_target, rows, take_backup)
from tests.support.swiftwal_cli import _clean_env, make_store, postgres_dir
from tests.support.pg_cluster import make_reachable

RECOGNISABLE = "Zebra-Secret-7f3a91"
AUTH_FAILED = 5


class CommandLines:
    """Every process command line seen while active (polled every few ms)."""

    def __init__(self) -> None:
        self.seen: set[bytes] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> "CommandLines":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.is_set():
            for pid in os.listdir("/proc"):
                if pid.isdigit():
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as handle:
                            self.seen.add(handle.read())
                    except OSError:
                        pass
            time.sleep(0.003)

    def containing(self, secret: str) -> list[bytes]:
        return [line for line in self.seen if secret.encode() in line]


def _contains(text: str, secret: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(secret)}(?![\w-])", text) is not None


def command_lines(segment: str, directory: str) -> list[list[str]]:
    return [["list-backups"], ["list-wal", "--json"], ["verify", "--all"], ["prune", "--keep-backups", "1"],
            ["archive-wal", segment], ["restore-wal", os.path.basename(segment), os.path.join(directory, "x")],
            ["backup", "-c", "fast"], ["restore", "latest", os.path.join(directory, "restored")],
            ["archive-cleanup", os.path.basename(segment)]]


def run(store, args, env, config):
    argv = ["runuser", "-u", "postgres", "--", str(store.swiftwal_bin), f"--config={config}", *args]
    return subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=300,
                          env={**_clean_env(), **env})


def test_a_wrong_password_from_any_source_never_shows(swift, pg_factory, tmp_path, swiftwal_bin):
    base = make_reachable(tmp_path / "s")
    store = make_store("swift", str(base), swiftwal_bin, swift, {"OS_PASSWORD": RECOGNISABLE})
    bare = make_store("swift", str(make_reachable(tmp_path / "bare")), swiftwal_bin, swift)
    with open(bare.config_path) as handle:
        lines = [line for line in handle if not line.startswith("OS_PASSWORD")]
    with open(bare.config_path, "w") as handle:
        handle.writelines(lines)
    secret_file = os.path.join(postgres_dir(pg_factory.directory("secret")), "password")
    with open(secret_file, "w") as handle:
        handle.write(RECOGNISABLE + "\n")
    shutil.chown(secret_file, "postgres", "postgres")
    os.chmod(secret_file, 0o600)
    cluster = pg_factory(start=False)
    wal = sorted(n for n in os.listdir(cluster.data_dir / "pg_wal") if len(n) == 24)[0]
    segment = os.path.join(postgres_dir(pg_factory.directory("segment")), wal)
    shutil.copy(cluster.data_dir / "pg_wal" / wal, segment)
    shutil.chown(segment, "postgres", "postgres")
    work = postgres_dir(pg_factory.directory("work"))

    sources = [("config file", store.config_path, {}, []),
               ("environment", bare.config_path, {"OS_PASSWORD": RECOGNISABLE}, ["--log-format", "json"]),
               ("password file", bare.config_path, {"OS_PASSWORD_FILE": secret_file}, ["--debug", "-v"])]
    with CommandLines() as processes:
        for args in command_lines(segment, work):
            for source, config, env, options in sources:
                result = run(store, [*options, *args], env, config)
                output = result.stdout + result.stderr
                assert result.returncode == AUTH_FAILED, (source, args, output)
                assert "authentication failed" in result.stderr
                assert RECOGNISABLE not in output, (source, args, output)
    assert processes.seen, "the process poller saw nothing"
    assert processes.containing(RECOGNISABLE) == []


def test_a_whole_cycle_never_shows_the_password(swift, pg_factory, tmp_path, swiftwal_bin):
    secret = swift.key
    store = make_store("swift", str(make_reachable(tmp_path / "store")), swiftwal_bin, swift,
                       {"LOG_FORMAT": "json"})
    outputs = []
    with CommandLines() as processes:
        primary = archiving_primary(pg_factory, store)
        primary.sql("CREATE TABLE t (i int)")
        key = take_backup(store, primary)
        insert(primary, 1, 10)
        flush_archive(primary)
        for args in (["-v", "list-backups"], ["list-wal"], ["verify", "--full", "--json"],
                     ["--debug", "prune", "--keep-backups", "1", "--dry-run"],
                     ["--log-format", "console", "-v", "verify"]):
            result = store.run(*args)
            outputs.append(result.stdout + result.stderr)
        primary.stop()
        recovered = restore_and_recover(store, key, pg_factory, "recovered")
        assert rows(recovered) == list(range(1, 11))
        missing = store.run("restore", "20200101T000000Z", str(restore_target(pg_factory, "none")),
                            check=False)
        outputs.append(missing.stdout + missing.stderr)
    logs = primary.log_text() + recovered.log_text()
    assert "wal.archived" in logs and "wal.restored" in logs, "the server log has no swiftwal events"
    for text in outputs + [logs]:
        assert not _contains(text, secret)
    assert [line for line in processes.containing(secret)
            if _contains(line.decode(errors="replace").replace("\0", " "), secret)] == []


def test_a_config_file_with_a_password_readable_by_others_gets_a_warning(swift, tmp_path, swiftwal_bin):
    store = make_store("swift", str(make_reachable(tmp_path / "store")), swiftwal_bin, swift,
                       {"OS_PASSWORD": RECOGNISABLE})
    os.chmod(store.config_path, 0o644)
    result = store.run("list-backups", check=False)
    assert result.returncode == AUTH_FAILED
    assert "readable by other users" in result.stderr and "chmod 600" in result.stderr
    assert RECOGNISABLE not in result.stdout + result.stderr
