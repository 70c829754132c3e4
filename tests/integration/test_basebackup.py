"""run_basebackup against a real PostgreSQL 15: the facts it reports are the server's,
the stream restores to a startable data directory, and failures never end cleanly."""
from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from swiftwal.adapters.basebackup import (BasebackupOptions, TablespacesFound, database_size,
                                          has_tablespaces, run_basebackup)
from swiftwal.adapters.compression import CODECS, decompressing_reader
from swiftwal.adapters.restore_target import prepare_restore_target
from swiftwal.adapters.untar import safe_extract
from swiftwal.domain.errors import InvariantViolated, StorageError, ToolFailed
from swiftwal.domain.lsn import Lsn
from tests.support.pg_cluster import ARCHIVE_SETTINGS, free_port


def options_for(cluster, **changes) -> BasebackupOptions:
    settings = dict(host=str(cluster.socket_dir), port=str(cluster.port), username="postgres",
                    checkpoint="fast", label="swiftwal test", pg_bin_dir=str(cluster.bin_dir))
    settings.update(changes)
    return BasebackupOptions(**settings)


def to_file(path: Path):
    """A consumer like an upload: reads the stream in chunks to its end."""
    def consume(stream):
        with open(path, "wb") as out:
            while True:
                chunk = stream.read(256 * 1024)
                if not chunk:
                    return path
                out.write(chunk)
    return consume


def archiving(pg_factory):
    """A primary whose archive_command copies into a directory: the server's own record of
    each backup (its ``.backup`` history file) lands there."""
    archive = pg_factory.directory("archive")
    shutil.chown(archive, "postgres", "postgres")
    primary = pg_factory(settings={**ARCHIVE_SETTINGS, "archive_command": f"cp %p {archive}/%f"})
    return primary, archive


def backup_history(archive: Path, start_lsn: Lsn) -> str:
    """pg_wal/<start file>.<offset>.backup, as archived (with archiving off the server
    deletes it at once)."""
    offset = f"{start_lsn.value % (16 << 20):08X}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        matches = list(archive.glob(f"*.{offset}.backup"))
        if matches:
            assert len(matches) == 1, matches
            return matches[0].read_text()
        time.sleep(0.1)
    raise AssertionError(f"no backup history file for {start_lsn} in {sorted(archive.iterdir())}")


def walsenders(cluster) -> str:
    return cluster.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'")


@pytest.mark.parametrize("codec", CODECS)
def test_the_backup_is_the_servers_and_restores_to_a_startable_directory(pg_factory, tmp_path,
                                                                         codec):
    primary, archive = archiving(pg_factory)
    primary.sql("CREATE TABLE facts AS SELECT g AS id, md5(g::text) AS v "
                "FROM generate_series(1, 20000) g")
    stored = tmp_path / f"backup.tar.{codec}"

    path, result = run_basebackup(options_for(primary), codec, to_file(stored))

    assert path == stored
    assert result.system_identifier == primary.sql(
        "SELECT system_identifier FROM pg_control_system()")
    assert result.timeline == int(primary.sql("SELECT timeline_id FROM pg_control_checkpoint()"))
    major = int(primary.sql("SHOW server_version_num")) // 10000
    assert result.pg_version == str(major)
    history = backup_history(archive, result.start_lsn)
    assert f"START WAL LOCATION: {result.start_lsn} " in history
    assert f"STOP WAL LOCATION: {result.stop_lsn} " in history
    assert result.stop_timeline == result.timeline
    assert "LABEL: swiftwal test" in result.backup_label_text
    assert result.manifest_present and not result.tablespace_map
    blob = stored.read_bytes()
    assert result.compressed_size == len(blob)

    with open(stored, "rb") as download:
        raw = decompressing_reader(codec, download).read()
    assert result.raw_size == len(raw)
    target = pg_factory.directory("restored") / "data"
    prepare_restore_target(str(target))
    with open(stored, "rb") as download:
        safe_extract(decompressing_reader(codec, download), str(target))
    label = (target / "backup_label").read_text()
    assert label == result.backup_label_text
    assert re.search(rf"^START WAL LOCATION: {result.start_lsn} ", label, re.M)

    restored = pg_factory.adopt(target)
    restored.start()
    restored.wait_ready()
    assert restored.sql("SELECT count(*), sum(id) FROM facts") == "20000|200010000"
    assert restored.sql("SELECT system_identifier FROM pg_control_system()") == \
        result.system_identifier


def test_without_a_manifest_the_stop_lsn_comes_from_the_verbose_output(pg_factory, tmp_path):
    """PostgreSQL 12 sends no backup_manifest; --no-manifest gives the same stream."""
    primary, archive = archiving(pg_factory)
    _, result = run_basebackup(options_for(primary, manifest=False), "zstd",
                               to_file(tmp_path / "b.zst"))
    assert not result.manifest_present
    assert result.stop_timeline is None
    assert f"STOP WAL LOCATION: {result.stop_lsn} " in backup_history(archive, result.start_lsn)


def test_a_server_that_cannot_be_reached_starts_no_upload(pg_factory):
    primary = pg_factory(start=False)  # for its bin directory and socket directory
    called = []
    with pytest.raises(ToolFailed) as failed:
        run_basebackup(options_for(primary, port=str(free_port())), "gzip",
                       lambda stream: called.append(stream))
    assert called == []
    assert failed.value.tool == "pg_basebackup" and failed.value.exit_code == 1
    assert "connection" in failed.value.stderr_tail or "socket" in failed.value.stderr_tail


@pytest.mark.parametrize("codec", CODECS)
def test_pg_basebackup_failing_mid_stream_makes_the_stream_raise(pg_factory, codec):
    primary = pg_factory()
    primary.pgbench_init(scale=5)  # ~75 MB: the backup is still running after the first read
    seen = {}

    def consume(stream):
        seen["first"] = len(stream.read(65536))
        # the server ends pg_basebackup's connection, as a restart or an admin would
        seen["terminated"] = primary.sql(
            "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE backend_type = 'walsender'")
        try:
            while stream.read(1 << 20):
                pass
        except BaseException as exc:
            seen["raised"] = exc
            raise
        return "ended cleanly"

    with pytest.raises(ToolFailed) as failed:
        run_basebackup(options_for(primary), codec, consume)
    assert seen["first"] > 0 and seen["terminated"] == "t"
    assert isinstance(seen["raised"], ToolFailed)
    assert failed.value.tool == "pg_basebackup"
    assert failed.value.stderr_tail


def test_a_failing_consumer_stops_pg_basebackup_and_keeps_its_error(pg_factory):
    primary = pg_factory()
    primary.pgbench_init(scale=3)

    def consume(stream):
        stream.read(65536)
        raise StorageError("swift said no")

    with pytest.raises(StorageError, match="swift said no"):
        run_basebackup(options_for(primary), "zstd", consume)
    primary.wait_for("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'",
                     "0", timeout=30)


def test_a_consumer_that_stops_early_is_an_error(pg_factory):
    primary = pg_factory()
    with pytest.raises(InvariantViolated):
        run_basebackup(options_for(primary), "gzip", lambda stream: stream.read(10))
    primary.wait_for("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'walsender'",
                     "0", timeout=30)


def test_pg_basebackup_refusing_tablespaces_starts_no_upload(pg_factory):
    """The backup command then takes the replication protocol's way."""
    primary = pg_factory()
    location = pg_factory.directory("tablespace")
    shutil.chown(location, "postgres", "postgres")
    primary.sql(f"CREATE TABLESPACE archive_space LOCATION '{location}'")
    called = []
    with pytest.raises(TablespacesFound):
        run_basebackup(options_for(primary), "zstd", lambda stream: called.append(stream))
    assert called == []
    assert has_tablespaces(options_for(primary))
    assert walsenders(primary) == "0"


def test_every_byte_read_from_pg_basebackup_is_reported_for_progress(pg_factory, tmp_path):
    primary = pg_factory()
    pieces = []
    _, result = run_basebackup(options_for(primary), "zstd", to_file(tmp_path / "b.zst"),
                               on_read=pieces.append)
    assert len(pieces) > 1 and sum(pieces) == result.raw_size
    size = database_size(options_for(primary))
    assert size == int(primary.sql("SELECT sum(pg_database_size(oid)) FROM pg_database"))
    assert database_size(options_for(primary, port=str(free_port()))) is None
