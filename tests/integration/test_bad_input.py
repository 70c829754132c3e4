"""Bad input and bad days: each gives one clear line on stderr, the documented
exit status, no traceback, and nothing lost or overwritten."""
from __future__ import annotations

import os
import struct
import time

import pytest

from tests.support.cycle import archiving_primary, restore_target, take_backup
from tests.support.swiftwal_cli import make_store, postgres_dir
from tests.support.pg_cluster import make_reachable


def one_line_error(result, status: int, *words: str) -> str:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("swiftwal: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def segment_bytes(name: str, system_identifier: int = 7000000000000000001, size: int = 16 << 20) -> bytes:
    """Random WAL content behind a long page header that matches ``name``."""
    from swiftwal.domain.walnames import Segment

    segment = Segment.parse(name, size)
    header = struct.pack("<HHIQI4xQII", 0xD110, 0x0002, segment.timeline,
                         segment.start_lsn(size).value, 0, system_identifier, size, 8192)
    return header + os.urandom(1 << 20) * 15 + os.urandom((1 << 20) - len(header))


def wal_file(directory, name: str, content: bytes):
    path = os.path.join(directory, name)
    with open(path, "wb") as handle:
        handle.write(content)
    os.chmod(path, 0o644)
    return path


def test_archiving_a_different_file_under_an_existing_name_is_refused(store, tmp_path):
    wal_dir = postgres_dir(tmp_path / "wal")
    name = "000000010000000000000007"
    first = segment_bytes(name)
    path = wal_file(wal_dir, name, first)
    store.run("archive-wal", path)
    store.run("archive-wal", path)  # the same content again: PostgreSQL's retry succeeds
    wal_file(wal_dir, name, segment_bytes(name))
    one_line_error(store.run("archive-wal", path, check=False), 6, name)
    fetched = os.path.join(wal_dir, "fetched")
    store.run("restore-wal", name, fetched, cwd=wal_dir)
    with open(fetched, "rb") as handle:
        assert handle.read() == first
    store.run("archive-wal", "--force", path)
    store.run("restore-wal", name, fetched, cwd=wal_dir)
    with open(fetched, "rb") as handle:
        assert handle.read() != first


def test_restore_wal_of_a_missing_file_exits_1_quickly_and_quietly(store, tmp_path):
    directory = postgres_dir(tmp_path / "wal")
    started = time.monotonic()
    for name in ("000000010000000000000042", "00000002.history"):
        result = store.run("restore-wal", name, os.path.join(directory, "x"), check=False, cwd=directory)
        assert result.returncode == 1 and result.stderr == ""
    assert time.monotonic() - started < 10
    assert os.listdir(directory) == []


@pytest.mark.parametrize("name", ["bogus", "00000001000000000000004", "0000000100000000000000zz",
                                  "000000010000000000000042.unknown", "../000000010000000000000042"])
def test_invalid_wal_names_are_refused(store, tmp_path, name):
    directory = postgres_dir(tmp_path / "wal")
    one_line_error(store.run("restore-wal", name, os.path.join(directory, "x"), check=False), 2)


def test_restore_into_a_non_empty_directory_is_refused_before_download(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    key = take_backup(store, primary, "--xlog")
    target = restore_target(pg_factory, "busy")
    target.mkdir()
    (target / "precious").write_text("keep me")
    one_line_error(store.run("restore", key, str(target), check=False), 7, str(target))
    assert os.listdir(target) == ["precious"] and (target / "precious").read_text() == "keep me"
    one_line_error(store.run("restore", "20010101T0000Z", str(target.parent / "new"), check=False),
                   12, "20010101T0000Z")
    one_line_error(store.run("restore", "not-a-key", str(target.parent / "new"), check=False), 2)
    assert not (target.parent / "new").exists()


def test_missing_config_file(store):
    one_line_error(store.run("list-wal", extra_config="/nonexistent/swiftwal.conf", check=False), 3,
                   "/nonexistent/swiftwal.conf")


def test_usage_errors_are_one_line(store):
    one_line_error(store.run("no-such-command", check=False), 2)
    one_line_error(store.run("prune", "--keep-backups", "0", check=False), 2, "keep-backups")
    one_line_error(store.run("prune", "--keep-backups", "1", "--keep-wals", "-1", check=False), 2)


def test_wrong_credentials_and_swift_down(swift, tmp_path, swiftwal_bin):
    directory = str(make_reachable(tmp_path / "store"))
    store = make_store("swift", directory, swiftwal_bin, swift)
    wal_dir = postgres_dir(tmp_path / "wal")
    path = wal_file(wal_dir, "000000010000000000000001", segment_bytes("000000010000000000000001"))
    store.run("archive-wal", path)

    wrong = make_store("swift", str(make_reachable(tmp_path / "wrong")), swiftwal_bin, swift,
                       extra={"OS_PASSWORD": "not-the-key", "CONTAINER": store.location})
    line = one_line_error(wrong.run("list-wal", check=False), 5)
    assert "not-the-key" not in line

    swift.stop_proxy()
    try:
        result = store.run("restore-wal", "000000010000000000000001", os.path.join(wal_dir, "x"),
                           check=False, cwd=wal_dir)
        one_line_error(result, 4)
        # During targeted recovery an outage must abort recovery, not end it.
        open(os.path.join(wal_dir, "recovery.signal"), "w").close()
        result = store.run("restore-wal", "000000010000000000000001", os.path.join(wal_dir, "x"),
                           check=False, cwd=wal_dir)
        one_line_error(result, 126)
        one_line_error(store.run("archive-wal", path, check=False), 4)
    finally:
        swift.start_proxy()
    assert store.run("list-wal").stdout.split() == ["000000010000000000000001"]


def test_a_second_cluster_is_refused_and_the_first_archive_is_untouched(store, tmp_path):
    wal_dir = postgres_dir(tmp_path / "wal")
    first = wal_file(wal_dir, "000000010000000000000001", segment_bytes("000000010000000000000001", 11))
    store.run("archive-wal", first)
    other_dir = postgres_dir(tmp_path / "other")
    other = wal_file(other_dir, "000000010000000000000002", segment_bytes("000000010000000000000002", 22))
    one_line_error(store.run("archive-wal", other, check=False), 11, "system identifier")
    assert store.run("list-wal").stdout.split() == ["000000010000000000000001"]


def test_a_file_whose_header_does_not_match_its_name_is_refused(store, tmp_path):
    wal_dir = postgres_dir(tmp_path / "wal")
    path = wal_file(wal_dir, "000000010000000000000005", segment_bytes("000000010000000000000004"))
    one_line_error(store.run("archive-wal", path, check=False), 2, "000000010000000000000005")
    assert store.run("list-wal").stdout.split() == []
