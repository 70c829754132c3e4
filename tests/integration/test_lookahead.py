"""archive-wal look-ahead: other ``.ready`` segments are stored ahead and
recorded in a spool outside pg_wal; a record is trusted only for the very
same content, only after the store confirmed it, and overlapping calls wait
for each other."""
from __future__ import annotations

import json
import os
import subprocess
import time

from tests.integration.swiftwal_cli import make_store, postgres_dir
from tests.integration.test_bad_input import segment_bytes
from tests.support.pg_cluster import make_reachable

NAMES = [f"0000000100000000000000{n:02X}" for n in range(0x10, 0x16)]


def fake_pg_wal(tmp_path, names, ready=True) -> str:
    """A pg_wal with real-looking segments marked ``.ready`` (as PostgreSQL leaves them)."""
    wal = postgres_dir(tmp_path / "pg_wal")
    status = postgres_dir(tmp_path / "pg_wal" / "archive_status")
    for name in names:
        path = os.path.join(wal, name)
        with open(path, "wb") as handle:
            handle.write(segment_bytes(name))
        os.chmod(path, 0o644)
        if ready:
            open(os.path.join(status, name + ".ready"), "w").close()
    return wal


def spool_records(cache: str) -> dict[str, dict]:
    records = {}
    for root, _, files in os.walk(os.path.join(cache, "archive")):
        for name in files:
            if name.endswith(".stored"):
                with open(os.path.join(root, name)) as handle:
                    records[name[:-len(".stored")]] = json.load(handle)
    return records


def new_store(kind, tmp_path, swiftwal_bin, swift=None, **extra):
    cache = postgres_dir(tmp_path / "cache")
    store = make_store(kind, str(make_reachable(tmp_path / "store")), swiftwal_bin, swift,
                       extra={"CACHE_DIR": cache, **extra})
    return store, cache


def test_one_call_stores_the_ready_backlog_and_later_calls_use_the_records(tmp_path, swift,
                                                                          swiftwal_bin):
    store, cache = new_store("swift", tmp_path, swiftwal_bin, swift, ARCHIVE_LOOKAHEAD="3")
    wal = fake_pg_wal(tmp_path, NAMES)
    store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
    listed = set(store.run("list-wal").stdout.split())
    assert listed == set(NAMES[:4]), "the call's own segment and the 3 oldest others"
    assert set(spool_records(cache)) == set(NAMES[1:4]), "a record for each one stored ahead"

    later = store.run("--log-format", "json", "archive-wal", os.path.join(wal, NAMES[1]),
                      cwd=str(tmp_path))
    (event,) = [json.loads(line) for line in later.stderr.splitlines()]
    assert event["event"] == "wal.archived" and event.get("ahead") is True
    assert NAMES[1] not in spool_records(cache), "a record serves one call"

    # The auth token was kept for the next calls, for this user only, without the key.
    (token_file,) = _files(os.path.join(cache, "tokens"))
    assert os.stat(token_file).st_mode & 0o077 == 0
    with open(token_file) as handle:
        assert swift.key not in handle.read()

    # Restored content is what was stored ahead.
    out = os.path.join(postgres_dir(tmp_path / "restored"), "x")
    store.run("restore-wal", NAMES[2], out, cwd=str(tmp_path))
    with open(out, "rb") as got, open(os.path.join(wal, NAMES[2]), "rb") as want:
        assert got.read() == want.read()


def test_a_record_for_other_content_is_not_trusted(tmp_path, swift, swiftwal_bin):
    store, cache = new_store("swift", tmp_path, swiftwal_bin, swift, ARCHIVE_LOOKAHEAD="2")
    wal = fake_pg_wal(tmp_path, NAMES[:3])
    store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
    assert NAMES[1] in spool_records(cache)
    # The file changes after it was stored ahead (same name, same size, other bytes).
    with open(os.path.join(wal, NAMES[1]), "wb") as handle:
        handle.write(segment_bytes(NAMES[1]))
    result = store.run("archive-wal", os.path.join(wal, NAMES[1]), cwd=str(tmp_path), check=False)
    assert result.returncode == 6 and "different" in result.stderr


def test_no_record_without_a_stored_object(tmp_path, swift, swiftwal_bin):
    store, cache = new_store("swift", tmp_path, swiftwal_bin, swift, ARCHIVE_LOOKAHEAD="4")
    wal = fake_pg_wal(tmp_path, NAMES[:4])
    # A different NAMES[2] is already archived: look-ahead must not record it.
    other = fake_pg_wal(tmp_path / "other", [NAMES[2]], ready=False)
    store.run("archive-wal", os.path.join(other, NAMES[2]), cwd=str(tmp_path / "other"))
    store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
    records = spool_records(cache)
    assert set(records) == {NAMES[1], NAMES[3]}
    listed = set(store.run("list-wal").stdout.split())
    assert set(records) <= listed

    # The store unreachable: the call fails and records nothing.
    down, down_cache = new_store("swift", tmp_path / "down", swiftwal_bin, swift,
                                 OS_AUTH_URL="http://127.0.0.1:9/auth/v1.0", TIMEOUT="2")
    result = down.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path), check=False)
    assert result.returncode == 4
    assert spool_records(down_cache) == {}


def test_overlapping_calls_wait_for_the_lock(tmp_path, swiftwal_bin):
    from swiftwal.adapters.spool import ArchiveSpool

    store, cache = new_store("local", tmp_path, swiftwal_bin)
    wal = fake_pg_wal(tmp_path, NAMES[:2])
    store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
    (directory,) = {os.path.dirname(p) for p in _files(os.path.join(cache, "archive"))}
    spool = ArchiveSpool(directory)
    with open(os.path.join(wal, NAMES[1]), "wb") as handle:  # no record matches any more
        handle.write(segment_bytes(NAMES[1]))
    os.chmod(os.path.join(wal, NAMES[1]), 0o644)
    with spool.lock():
        call = subprocess.Popen(["runuser", "-u", "postgres", "--", store.swiftwal_bin,
                                 f"--config={store.config_path}", "archive-wal",
                                 os.path.join(wal, NAMES[1])], cwd=str(tmp_path),
                                stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert call.poll() is None, "the second call must wait while the lock is held"
    assert call.wait(timeout=120) == 6, call.stderr.read()  # then it checks the store itself


def test_spool_records_round_trip_and_are_swept(tmp_path):
    from swiftwal.adapters.spool import ArchiveSpool, ready_segments, spool_directory

    spool = ArchiveSpool(spool_directory(str(tmp_path), "archive", "swift://c"))
    digest = "ab" * 32
    assert not spool.matches(NAMES[0], 10, digest)
    spool.record(NAMES[0], 10, digest, "wal/x.zst")
    assert spool.matches(NAMES[0], 10, digest)
    assert not spool.matches(NAMES[0], 11, digest)
    assert not spool.matches(NAMES[0], 10, "cd" * 32)
    assert not spool.matches(NAMES[1], 10, digest)
    with open(spool._path(NAMES[1]), "w") as handle:  # a torn record
        handle.write('{"wal_name": "')
    assert not spool.matches(NAMES[1], 10, digest)
    old = time.time() - 2 * 86400
    os.utime(spool._path(NAMES[0]), (old, old))
    spool.sweep()
    assert not spool.matches(NAMES[0], 10, digest)

    status = tmp_path / "archive_status"
    status.mkdir()
    for name in reversed(NAMES):
        (status / f"{name}.ready").touch()
    (status / f"{NAMES[0]}.done").touch()
    (status / "00000002.history.ready").touch()
    assert ready_segments(str(status), NAMES[1], 3) == [NAMES[0], NAMES[2], NAMES[3]]


def _files(top: str) -> list[str]:
    return [os.path.join(root, name) for root, _, files in os.walk(top) for name in files]
