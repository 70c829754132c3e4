"""The test servers themselves: a test that relies on them must be able to trust them."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import requests
import swiftclient

from tests.integration.conftest import PG_MAJORS, SWIFT_MAX_FILE_SIZE, VENV
from tests.support.cycle import wait_until
from tests.support.pg_cluster import ARCHIVE_SETTINGS, PgError

REPO = Path(__file__).resolve().parents[2]


def connect(server) -> swiftclient.Connection:
    return swiftclient.Connection(authurl=server.auth_url, user=server.user, key=server.key,
                                  retries=0)


def test_swift_stores_and_returns_an_object(swift, swift_container):
    conn = connect(swift)
    conn.put_container(swift_container)
    body = os.urandom(1024 * 1024 + 7)
    etag = conn.put_object(swift_container, "wal/a b", body)
    headers, got = conn.get_object(swift_container, "wal/a b")
    assert got == body
    assert etag == headers["etag"] == hashlib.md5(body).hexdigest()
    assert [o["name"] for o in conn.get_container(swift_container)[1]] == ["wal/a b"]
    conn.delete_object(swift_container, "wal/a b")
    with pytest.raises(swiftclient.ClientException) as missing:
        conn.get_object(swift_container, "wal/a b")
    assert missing.value.http_status == 404


def test_swift_refuses_objects_above_max_file_size(swift, swift_container):
    conn = connect(swift)
    assert conn.get_capabilities()["swift"]["max_file_size"] == SWIFT_MAX_FILE_SIZE
    conn.put_container(swift_container)
    conn.put_object(swift_container, "at-limit", b"x" * SWIFT_MAX_FILE_SIZE)
    with pytest.raises(swiftclient.ClientException) as too_big:
        conn.put_object(swift_container, "above-limit", b"x" * (SWIFT_MAX_FILE_SIZE + 1))
    assert too_big.value.http_status == 413


def test_swift_expirer_removes_objects_after_x_delete_after(swift, swift_container):
    conn = connect(swift)
    conn.put_container(swift_container)
    conn.put_object(swift_container, "short-lived", b"1", headers={"X-Delete-After": "1"})
    conn.put_object(swift_container, "kept", b"2")
    # The expirer finds its queue only after a container-updater sweep; with several suites
    # at once on two cores, sweeps have taken minutes.
    deadline = time.monotonic() + 300
    while True:
        names = [o["name"] for o in conn.get_container(swift_container)[1]]
        if names == ["kept"]:
            break
        assert time.monotonic() < deadline, f"the expirer left {names}"
        time.sleep(0.5)


def test_swift_proxy_outage_and_recovery(swift, swift_container):
    conn = connect(swift)
    conn.put_container(swift_container)
    conn.put_object(swift_container, "before", b"kept")
    swift.stop_proxy()
    try:
        with pytest.raises((swiftclient.ClientException, requests.ConnectionError)):
            connect(swift).get_object(swift_container, "before")
    finally:
        swift.start_proxy()
    assert connect(swift).get_object(swift_container, "before")[1] == b"kept"


def test_swift_command_line_starts_and_stops_only_its_processes(tmp_path):
    run = [sys.executable, "-m", "tests.support.swift_server"]
    started = subprocess.run([*run, "start", str(tmp_path), "--max-file-size", "2097152"],
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    pids = [int(p.read_text()) for p in (tmp_path / "run").glob("*.pid")]
    try:
        assert started.returncode == 0, started.stderr
        env = dict(re.findall(r"^export (\w+)=(\S+)$", started.stdout, re.M))
        assert set(env) == {"OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD"}
        conn = swiftclient.Connection(authurl=env["OS_AUTH_URL"], user=env["OS_USERNAME"],
                                      key=env["OS_PASSWORD"], retries=0)
        assert conn.get_capabilities()["swift"]["max_file_size"] == 2097152
        assert len(pids) == 8
    finally:
        stopped = subprocess.run([*run, "stop", str(tmp_path)], cwd=REPO, timeout=120)
    assert stopped.returncode == 0
    alive = [pid for pid in pids if Path(f"/proc/{pid}/cmdline").exists()
             and Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert alive == []


def test_postgres_archives_switched_segments(pg_factory):
    archive = pg_factory.directory("archive")
    os.chown(archive, *_postgres_ids())
    pg = pg_factory(settings={**ARCHIVE_SETTINGS,
                              "archive_command": f"cp %p {archive}/%f"})
    assert pg.sql("SHOW archive_mode") == "on"
    assert pg.sql("SHOW wal_level") == "replica"
    pg.sql("CREATE TABLE t AS SELECT generate_series(1, 1000) AS x")
    segment = pg.switch_wal()
    assert re.fullmatch(r"[0-9A-F]{24}", segment)
    pg.wait_archived(segment)
    assert (archive / segment).stat().st_size == 16 * 1024 * 1024
    pg.sql("INSERT INTO t VALUES (0)")
    later = pg.switch_wal()
    assert later > segment
    pg.wait_archived(later)
    assert (archive / later).is_file()


def test_wait_archived_sees_segments_before_a_backup_history_file(pg_factory):
    archive = pg_factory.directory("archive")
    os.chown(archive, *_postgres_ids())
    pg = pg_factory(settings={**ARCHIVE_SETTINGS, "archive_command": f"cp %p {archive}/%f"})
    subprocess.run([str(pg.bin_dir / "pg_basebackup"), "-D", "-", "-Ft", "-X", "fetch",
                    "-c", "fast"], env={**os.environ, **pg.env()}, stdout=subprocess.DEVNULL,
                   check=True)
    # Nothing written since the backup ended its segment: the switch names that segment,
    # archived before the ".backup" file that the archiver reports last.
    segment = pg.switch_wal()
    pg.wait_archived(segment)
    assert (archive / segment).is_file()
    # The ".backup" file comes after it: it may still be on its way.
    wait_until(lambda: list(archive.glob("*.backup")), 30, "the backup history file")
    assert [p.name for p in archive.glob("*.backup")][0].startswith(segment)
    archive.chmod(0o500)  # archiving now fails: waiting must time out, not pass
    pg.sql("CREATE TABLE t ()")
    stuck = pg.switch_wal()
    with pytest.raises(PgError, match=f"last failed: {stuck}"):
        pg.wait_archived(stuck, timeout=5)


def test_postgres_restored_copy_runs_apart_from_its_primary(pg_factory):
    archive = pg_factory.directory("archive")
    os.chown(archive, *_postgres_ids())
    primary = pg_factory(settings={**ARCHIVE_SETTINGS,
                                   "archive_command": f"cp %p {archive}/%f"})
    primary.sql("CREATE TABLE t AS SELECT 1 AS x")
    tar_path = pg_factory.directory("backup") / "base.tar"
    with open(tar_path, "wb") as out:
        subprocess.run([str(primary.bin_dir / "pg_basebackup"), "-D", "-", "-Ft", "-X", "fetch",
                        "-c", "fast"], env={**os.environ, **primary.env()}, stdout=out,
                       check=True)
    primary.sql("INSERT INTO t VALUES (2)")
    primary.wait_archived(primary.switch_wal())
    data_dir = pg_factory.directory("restored") / "data"
    with tarfile.open(tar_path) as tar:
        tar.extractall(data_dir)
    copy = pg_factory.adopt(data_dir, signal="standby",
                            settings={"restore_command": f"cp {archive}/%f %p"})
    copy.start()
    copy.wait_ready()
    copy.wait_for("SELECT count(*) FROM t", "2")
    assert copy.sql("SELECT pg_is_in_recovery()") == "t"
    copy.promote()
    assert copy.sql("SELECT pg_is_in_recovery()") == "f"
    assert copy.port != primary.port
    assert copy.sql("SELECT string_agg(x::text, ',' ORDER BY x) FROM t") == "1,2"
    assert copy.sql("SHOW archive_mode") == "off"
    assert primary.sql("SELECT count(*) FROM t") == "2"


@pytest.mark.parametrize("major", PG_MAJORS)
def test_every_postgres_version_runs(pg_factory, pg_bin, major):
    pg = pg_factory(version=major, wal_segsize_mb=1, settings=ARCHIVE_SETTINGS)
    assert int(pg.sql("SHOW server_version_num")) // 10000 == major
    assert pg.sql("SHOW wal_segment_size") == "1MB"
    pg.pgbench_init(1)
    assert "number of transactions actually processed: 20/20" in pg.pgbench(transactions=10)


def test_swiftwal_venv_is_usable_by_postgres(swiftwal_bin):
    probe = subprocess.run(["runuser", "-u", "postgres", "--", str(VENV / "bin" / "python"),
                            "-c", "import swiftclient, structlog, attrs, zstandard"], cwd="/",
                           capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    assert swiftwal_bin.parent == VENV / "bin"


def _postgres_ids() -> tuple[int, int]:
    import pwd
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid
