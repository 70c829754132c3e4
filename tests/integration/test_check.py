"""``swiftwal check`` on a real PostgreSQL 15 and Swift: a correct set-up passes
(including a segment archived end to end), then each misconfiguration is reported
in turn with a non-zero exit."""
from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.support.cycle import archiving_primary


pytestmark = pytest.mark.parametrize("store", ["swift"], indirect=True)


def check(store, cluster, timeout=60):
    result = store.run("check", "--json", "--timeout", str(timeout), "-H", str(cluster.socket_dir),
                       "-p", str(cluster.port), "-U", "postgres", check=False,
                       env={"SWIFTWAL_PG_BIN_DIR": str(cluster.bin_dir)})
    report = json.loads(result.stdout)
    statuses = {f["check"]: f["status"] for f in report["findings"]}
    assert report["ok"] == (result.returncode == 0), result.stderr
    return result.returncode, statuses, report


def set_archive_command(cluster, command: str) -> None:
    cluster.sql("ALTER SYSTEM SET archive_command = '%s'" % command.replace("'", "''"))
    cluster.sql("SELECT pg_reload_conf()")


def test_check_passes_then_reports_each_misconfiguration(store, pg_factory, swift, tmp_path):
    primary = archiving_primary(pg_factory, store)
    status, found, _ = check(store, primary)
    assert status == 0, found
    assert found == {"server": "ok", "archive_mode": "ok", "wal_level": "ok", "archive_command": "ok",
                     "replication": "ok", "store-capabilities": "ok", "store-create-only": "ok",
                     "archive-test": "ok"}

    set_archive_command(primary, "cp %p /nowhere/%f")
    status, found, report = check(store, primary, timeout=5)
    assert status == 1 and found["archive_command"] == "fail" and found["archive-test"] == "fail"
    assert all(f["hint"] for f in report["findings"] if f["status"] == "fail")

    unreadable = str(tmp_path / "root-only.conf")
    shutil.copy(store.config_path, unreadable)
    os.chown(unreadable, 0, 0)
    os.chmod(unreadable, 0o600)
    set_archive_command(primary, store.command("archive-wal", "%p").replace(store.config_path, unreadable))
    status, found, report = check(store, primary, timeout=5)
    assert status == 1 and found["archive_command"] == "fail"
    message = [f["message"] for f in report["findings"] if f["check"] == "archive_command"][0]
    assert "not readable" in message

    set_archive_command(primary, store.command("archive-wal", "%p"))
    primary.sql("ALTER SYSTEM SET archive_mode = off")
    primary.restart()
    status, found, _ = check(store, primary)
    assert status == 1 and found["archive_mode"] == "fail" and found["archive-test"] == "skip"
    primary.sql("ALTER SYSTEM RESET archive_mode")
    primary.restart()

    swift.stop_proxy()
    try:
        status, found, report = check(store, primary)
    finally:
        swift.start_proxy()
    assert status == 1 and found["store"] == "fail" and found["archive-test"] == "skip"
    assert found["archive_command"] == "ok"

    status, found, _ = check(store, primary)
    assert status == 0, found
