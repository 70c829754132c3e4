"""archive-wal through its worker: a call that finds no record starts the
worker, which stores it and the oldest other ``.ready`` segments and records
each one the store confirmed in a spool outside pg_wal; a record is trusted
only for the very same, unchanged file; a worker that cannot store a segment,
or is wedged, leaves the call to store it itself and report."""
from __future__ import annotations

import json
import os
import subprocess
import time

from tests.support.cycle import wait_until
from tests.support.swiftwal_cli import make_store, postgres_dir
from tests.integration.test_bad_input import segment_bytes
from tests.support.pg_cluster import make_reachable
from tests.support.workers import wait_until_unlocked, worker_claimed

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


def spool_records(cache: str) -> dict[str, list[str]]:
    """``{WAL name: the record's fields}`` of every archive spool under ``cache``
    (a ``.tmp-`` file is a record being written; a record can go while read)."""
    records = {}
    for root, _, files in os.walk(os.path.join(cache, "archive")):
        for name in files:
            if name.endswith(".stored") and not name.startswith(".tmp-"):
                try:
                    with open(os.path.join(root, name)) as handle:
                        records[name[:-len(".stored")]] = handle.read().split()
                except FileNotFoundError:
                    pass
    return records


def wait_for_claim(cache: str, kind: str, timeout: float = 60) -> None:
    """Until a worker of ``kind`` under ``cache`` has claimed its lock: a call
    that starts a prefetch worker returns without waiting for it."""
    wait_until(lambda: any(worker_claimed(p) for p in _files(os.path.join(cache, kind))
                           if p.endswith("worker.lock")), timeout, f"a {kind} worker to start")


def wait_for_worker(cache: str, kind: str = "archive", timeout: float = 60) -> None:
    """Until no worker of ``kind`` holds its lock under ``cache`` (it exits
    when idle: an archive worker at once when its pg_wal has no running
    server, a prefetch worker after a few seconds)."""
    deadline = time.monotonic() + timeout
    for lock in [p for p in _files(os.path.join(cache, kind)) if p.endswith("worker.lock")]:
        assert wait_until_unlocked(lock, deadline - time.monotonic()), "the worker did not exit"


def worker_logs(cache: str) -> str:
    """Every worker's log under ``cache``, to explain a failed assertion."""
    text = []
    for path in _files(cache):
        if path.endswith("worker.log"):
            with open(path) as handle:
                text.append(f"{path}:\n{handle.read()}")
    return "\n".join(text)


def new_store(kind, tmp_path, swiftwal_bin, swift=None, **extra):
    """A store whose worker keeps every record: no segment is marked .done
    (test_done_marking.py), so that the records are there to look at."""
    cache = postgres_dir(tmp_path / "cache")
    store = make_store(kind, str(make_reachable(tmp_path / "store")), swiftwal_bin, swift,
                       extra={"CACHE_DIR": cache, "ARCHIVE_MARK_DONE": "no", **extra})
    return store, cache


def test_one_call_stores_the_ready_backlog_and_later_calls_use_the_records(tmp_path, swift,
                                                                          swiftwal_bin):
    store, cache = new_store("swift", tmp_path, swiftwal_bin, swift, ARCHIVE_LOOKAHEAD="3")
    wal = fake_pg_wal(tmp_path, NAMES)
    store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
    assert NAMES[0] in store.run("list-wal").stdout.split(), "stored when the call returns"
    wait_for_worker(cache)
    listed = set(store.run("list-wal").stdout.split())
    assert listed == set(NAMES[:4]), "the call's own segment and the 3 oldest others"
    assert set(spool_records(cache)) == set(NAMES[1:4]), "a record for each one stored ahead"

    later = store.run("--log-format", "json", "archive-wal", os.path.join(wal, NAMES[1]),
                      cwd=str(tmp_path))
    (event,) = [json.loads(line) for line in later.stderr.splitlines()]
    assert event["event"] == "wal.archived" and event.get("worker") is True
    assert event["stored_bytes"] > 0 and event["bytes"] == 16 << 20
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


def test_a_record_is_trusted_only_for_the_unchanged_file(tmp_path, swift, swiftwal_bin):
    store, cache = new_store("swift", tmp_path, swiftwal_bin, swift, ARCHIVE_LOOKAHEAD="2")
    wal = fake_pg_wal(tmp_path, NAMES[:3])
    store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
    wait_for_worker(cache)
    assert {NAMES[1], NAMES[2]} <= set(spool_records(cache))
    # Only touched: the record is not trusted, the same content is found stored.
    os.utime(os.path.join(wal, NAMES[2]))
    store.run("archive-wal", os.path.join(wal, NAMES[2]), cwd=str(tmp_path))
    # Rewritten after it was stored ahead (same name, same size, other bytes).
    with open(os.path.join(wal, NAMES[1]), "wb") as handle:
        handle.write(segment_bytes(NAMES[1]))
    result = store.run("archive-wal", os.path.join(wal, NAMES[1]), cwd=str(tmp_path), check=False)
    assert result.returncode == 6 and "different" in result.stderr
    assert result.stderr.count("swiftwal: error:") == 1


def test_no_record_without_a_stored_object(tmp_path, swift, swiftwal_bin):
    store, cache = new_store("swift", tmp_path, swiftwal_bin, swift, ARCHIVE_LOOKAHEAD="4")
    wal = fake_pg_wal(tmp_path, NAMES[:4])
    # A different NAMES[2] is already archived: look-ahead must not record it.
    other = fake_pg_wal(tmp_path / "other", [NAMES[2]], ready=False)
    store.run("archive-wal", os.path.join(other, NAMES[2]), cwd=str(tmp_path / "other"))
    wait_for_worker(cache)
    store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
    wait_for_worker(cache)
    records = spool_records(cache)
    assert set(records) == {NAMES[1], NAMES[3]}, worker_logs(cache)
    # ...and logs its failure as one, not as a segment archived
    assert f"swiftwal: warning: wal.archive_failed wal_name={NAMES[2]} " in worker_logs(cache)
    listed = set(store.run("list-wal").stdout.split())
    assert set(records) <= listed

    # The store unreachable: the call fails with the store's status and records nothing.
    down, down_cache = new_store("swift", tmp_path / "down", swiftwal_bin, swift,
                                 OS_AUTH_URL="http://127.0.0.1:9/auth/v1.0", TIMEOUT="2")
    result = down.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path), check=False)
    assert result.returncode == 4
    assert result.stderr.count("swiftwal: error:") == 1
    wait_for_worker(down_cache)
    assert spool_records(down_cache) == {}


def test_a_wedged_worker_leaves_the_call_to_store_its_segment(tmp_path, swiftwal_bin):
    from swiftwal.adapters import workers

    store, cache = new_store("local", tmp_path, swiftwal_bin)
    wal = fake_pg_wal(tmp_path, NAMES[:2], ready=False)
    store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
    wait_for_worker(cache)
    (directory,) = {os.path.dirname(p) for p in _files(os.path.join(cache, "archive"))
                    if p.endswith("worker.lock")}
    # A worker that holds the lock, takes the call and never answers.
    with workers._Lock(os.path.join(directory, workers.LOCK)) as free:
        assert free
        listener = workers._listen(directory)
        os.chmod(os.path.join(directory, workers.SOCKET), 0o777)
        call = subprocess.Popen(["runuser", "-u", "postgres", "--", store.swiftwal_bin,
                                 f"--config={store.config_path}", "archive-wal",
                                 os.path.join(wal, NAMES[1])], cwd=str(tmp_path),
                                stderr=subprocess.PIPE, text=True)
        started = time.monotonic()
        assert call.wait(timeout=120) == 0, call.stderr.read()
        waited = time.monotonic() - started
        listener.close()
    assert 9 < waited < 60, "it waits for a silent worker about SILENT_SECONDS, then does it"
    assert NAMES[1] in store.run("list-wal").stdout.split()


def test_concurrent_calls_share_one_worker(tmp_path, swiftwal_bin):
    names = [f"0000000100000000000000{n:02X}" for n in range(0x20, 0x28)]
    wal = fake_pg_wal(tmp_path, names, ready=False)
    store, cache = new_store("local", tmp_path / "s", swiftwal_bin)
    calls = [subprocess.Popen(["runuser", "-u", "postgres", "--", store.swiftwal_bin,
                               f"--config={store.config_path}", "-v", "archive-wal",
                               os.path.join(wal, name)], cwd=str(tmp_path),
                              stderr=subprocess.PIPE, text=True) for name in names]
    for call in calls:
        assert call.wait(timeout=120) == 0, call.stderr.read()
    assert set(store.run("list-wal").stdout.split()) == set(names)
    wait_for_worker(cache)
    (log,) = [p for p in _files(os.path.join(cache, "archive")) if p.endswith("worker.log")]
    with open(log) as handle:
        lines = handle.read().splitlines()
    # A worker started by one of the calls may come up only after the one that
    # served them all has exited, find nothing to do and leave: what matters is
    # that one worker stored every segment, each once, for its call.
    served = [index for index, line in enumerate(lines) if "requested=True" in line]
    starts = [index for index, line in enumerate(lines) if "worker.started" in line]
    assert len(served) == len(names), lines
    assert len({max(s for s in starts if s < index) for index in served}) == 1, lines
    for name in names:
        assert len([index for index in served if f"wal_name={name}" in lines[index]]) == 1, name


def test_spool_records_round_trip_and_are_swept(tmp_path):
    from swiftwal.adapters.spool import ArchiveSpool, fingerprint, ready_segments, spool_directory

    spool = ArchiveSpool(spool_directory(str(tmp_path), "archive", "swift://c"))
    path = tmp_path / NAMES[0]
    path.write_bytes(b"x" * 10)
    digest = "ab" * 32
    assert spool.stored(NAMES[0], str(path)) is None
    spool.record(NAMES[0], fingerprint(os.stat(path)), digest, 7, "wal.archived")
    assert spool.stored(NAMES[0], str(path)) == (7, "wal.archived")
    assert spool.stored(NAMES[1], str(path)) is None
    os.utime(path, ns=(1, 1))
    assert spool.stored(NAMES[0], str(path)) is None, "modified since it was read"
    spool.record(NAMES[0], fingerprint(os.stat(path)), digest, 7, "wal.archived")
    os.rename(path, tmp_path / "moved")
    (tmp_path / "moved").rename(path)
    assert spool.stored(NAMES[0], str(path)) is None, "a rename moves ctime"
    with open(spool._path(NAMES[1]), "w") as handle:  # a torn record
        handle.write("swiftwal-record-2 " + NAMES[1])
    assert spool.stored(NAMES[1], str(path)) is None
    spool.record(NAMES[0], fingerprint(os.stat(path)), digest, 7, "wal.archived")
    old = time.time() - 2 * 86400
    os.utime(spool._path(NAMES[0]), (old, old))
    spool.sweep()
    assert spool.stored(NAMES[0], str(path)) is None

    status = tmp_path / "archive_status"
    status.mkdir()
    for name in reversed(NAMES):
        (status / f"{name}.ready").touch()
    (status / f"{NAMES[0]}.done").touch()
    (status / "00000002.history.ready").touch()
    assert ready_segments(str(status), 3) == NAMES[:3]


def _files(top: str) -> list[str]:
    return [os.path.join(root, name) for root, _, files in os.walk(top) for name in files]


def test_a_worker_left_from_another_setting_stores_nothing_new(tmp_path, swiftwal_bin):
    """archive_command changed (here the compression, so objects show which
    setting stored them) while the old worker still runs: a segment marked
    ready afterwards is stored only the new way."""
    store, cache = new_store("local", tmp_path, swiftwal_bin, COMPRESSION="zstd")
    gzip_config = os.path.join(str(tmp_path), "gzip.conf")
    with open(store.config_path) as handle:
        text = handle.read()
    assert "COMPRESSION=zstd" in text
    with open(gzip_config, "w") as handle:
        text = text.replace("COMPRESSION=zstd", "COMPRESSION=gzip")
        handle.write(text)
    os.chmod(gzip_config, 0o644)
    wal = fake_pg_wal(tmp_path, NAMES[:2])
    open(os.path.join(str(tmp_path), "postmaster.pid"), "w").close()  # a running server
    status = os.path.join(wal, "archive_status")
    try:
        store.run("archive-wal", os.path.join(wal, NAMES[0]), cwd=str(tmp_path))
        deadline = time.monotonic() + 60
        while NAMES[1] not in spool_records(cache):  # the control: stored ahead the old way
            assert time.monotonic() < deadline, worker_logs(cache)
            time.sleep(0.05)
        (old_worker,) = [p for p in _files(os.path.join(cache, "archive"))
                         if p.endswith("worker.lock")]
        for name in NAMES[:2]:
            os.rename(os.path.join(status, name + ".ready"), os.path.join(status, name + ".done"))
        time.sleep(0.3)
        fake_pg_wal(tmp_path, [NAMES[2]])
        store.run("archive-wal", os.path.join(wal, NAMES[2]), cwd=str(tmp_path),
                  extra_config=gzip_config)
    finally:
        os.unlink(os.path.join(str(tmp_path), "postmaster.pid"))
    # The old worker plans once more after the server is gone, then lets go
    # of its lock: it had its chance to store the new segment.
    wait_for_worker(cache)
    objects = set(os.listdir(os.path.join(store.location, "wal")))
    assert {f"{NAMES[0]}.zst", f"{NAMES[1]}.zst", f"{NAMES[2]}.gz"} <= objects
    assert f"{NAMES[2]}.zst" not in objects, worker_logs(cache)
