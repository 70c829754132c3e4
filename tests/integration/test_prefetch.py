"""restore-wal prefetch: a worker fetches the next segments of the same
timeline into a spool outside the data directory; they are served from it
only when their content still hashes to what was verified against the
store; anything the spool cannot answer is answered by the store."""
from __future__ import annotations

import os
import shutil

import pytest

from tests.support.swiftwal_cli import postgres_dir
from tests.integration.test_lookahead import (NAMES, _files, fake_pg_wal, new_store,
                                               wait_for_claim, wait_for_worker)


def _spool_files(cache: str) -> dict[str, str]:
    """``{WAL name: path}`` of the fetched files (``NAME.<digest of the content>``)."""
    found = {}
    for root, _, files in os.walk(os.path.join(cache, "restore")):
        for name in files:
            wal_name, _, digest = name.partition(".")
            if len(wal_name) == 24 and len(digest) >= 16:
                found[wal_name] = os.path.join(root, name)
    return found


def test_prefetched_segments_are_served_verified_and_by_full_name(tmp_path, swiftwal_bin):
    store, cache = new_store("local", tmp_path, swiftwal_bin, ARCHIVE_LOOKAHEAD="0",
                             RESTORE_PREFETCH="3")
    wal = fake_pg_wal(tmp_path, NAMES, ready=False)
    for name in NAMES:
        store.run("archive-wal", os.path.join(wal, name))
    data_dir = postgres_dir(tmp_path / "data")
    target = os.path.join(postgres_dir(tmp_path / "data" / "pg_wal"), "RECOVERYXLOG")

    store.run("restore-wal", NAMES[0], target, cwd=data_dir)
    wait_for_claim(cache, "restore")
    wait_for_worker(cache, "restore")
    spooled = _spool_files(cache)
    assert set(spooled) == set(NAMES[1:4])
    assert all(os.stat(path).st_mode & 0o077 == 0 for path in spooled.values())

    # Served from the spool: the store no longer has them.
    shutil.rmtree(os.path.join(store.location, "wal"))
    store.run("restore-wal", NAMES[1], target, cwd=data_dir)
    with open(target, "rb") as got, open(os.path.join(wal, NAMES[1]), "rb") as want:
        assert got.read() == want.read()
    assert NAMES[1] not in _spool_files(cache)

    # Another timeline's file of the same segment is never served from it.
    other_tli = "00000002" + NAMES[2][8:]
    assert store.run("restore-wal", other_tli, target, cwd=data_dir, check=False).returncode == 1

    # A file fetched too long ago is not served (the store, emptied, has nothing).
    path = _spool_files(cache)[NAMES[2]]
    os.utime(path, (1, 1))
    assert store.run("restore-wal", NAMES[2], target, cwd=data_dir, check=False).returncode == 1
    assert NAMES[2] not in _spool_files(cache)

    # Another data directory does not share the spool.
    elsewhere = postgres_dir(tmp_path / "data2")
    assert store.run("restore-wal", NAMES[3], target, cwd=elsewhere, check=False).returncode == 1
    store.run("restore-wal", NAMES[3], target, cwd=data_dir)


@pytest.mark.parametrize("elsewhere", [False, True], ids=["moved", "copied"])
def test_prefetch_spool_serves_only_fresh_intact_files(tmp_path, elsewhere, monkeypatch):
    import hashlib
    import time

    from swiftwal.adapters import spool as spools
    from swiftwal.adapters.spool import PrefetchSpool, spool_directory

    if elsewhere:  # as if the spool were on another file system than pg_wal
        real_rename = os.rename

        def rename(source, target):
            if os.path.dirname(source) != os.path.dirname(target):
                raise OSError(18, "Invalid cross-device link")
            real_rename(source, target)

        monkeypatch.setattr(spools.os, "rename", rename)
    spool = PrefetchSpool(spool_directory(str(tmp_path), "restore", "swift://c", "/data"))
    dest_dir = tmp_path / "pg_wal"
    dest_dir.mkdir()
    dest, temp = str(dest_dir / "RECOVERYXLOG"), str(dest_dir / ".RECOVERYXLOG.swiftwal-1")

    def served(name):
        size = spool.serve(name, dest, temp)
        assert not os.path.exists(temp)
        return size

    data = os.urandom(1 << 16)
    spool.put(NAMES[0], data, hashlib.sha256(data).hexdigest())
    assert spool.has(NAMES[0]) and not spool.has(NAMES[1])
    assert served(NAMES[0]) == len(data)
    with open(dest, "rb") as handle:
        assert handle.read() == data
    assert os.stat(dest).st_mode & 0o077 == 0
    os.unlink(dest)
    assert served(NAMES[0]) is None, "served once"

    spool.put(NAMES[1], data, hashlib.sha256(data).hexdigest())
    (path,) = [os.path.join(spool.directory, n) for n in os.listdir(spool.directory)
               if n.startswith(NAMES[1])]
    old = time.time() - 3600
    os.utime(path, (old, old))
    assert served(NAMES[1]) is None and not os.path.exists(path)

    # Only complete files have a name: a torn temp file is never served.
    with open(os.path.join(spool.directory, f".tmp-1-{NAMES[2]}.{'0' * 64}"), "wb") as handle:
        handle.write(data[:100])
    assert served(NAMES[2]) is None and not os.path.exists(dest)

    spool.put(NAMES[3], data, hashlib.sha256(data).hexdigest())
    spool.put("00000002" + NAMES[4][8:], data, hashlib.sha256(data).hexdigest())
    spool.drop_stale(lambda name: name.startswith("00000001"))
    assert not spool.has(NAMES[3]) and spool.has("00000002" + NAMES[4][8:])


def _fetch_counts(cache: str):
    """How often each WAL name was fetched by a prefetch worker (its debug log)."""
    import collections
    import json

    fetched = collections.Counter()
    for path in _files(os.path.join(cache, "restore")):
        if path.endswith("worker.log"):
            with open(path) as log:
                for line in log:
                    event = json.loads(line)
                    if event["event"] == "wal.fetched_ahead" and "worker" not in event:
                        fetched[event["wal_name"]] += 1
    return fetched


@pytest.mark.parametrize("kind", ["local", "swift"])
def test_a_recovery_feed_fetches_each_segment_once(tmp_path, swiftwal_bin, swift, kind):
    """Calls one at a time, as recovery makes them: whatever a call waited for
    or found already fetched, the worker fetches each segment from the store
    once (each fetch costs a GET, a decompression and a hash).  When recovery
    starts again from an earlier point, what it was served is fetched again."""
    names = [f"0000000100000000000000{n:02X}" for n in range(0x20, 0x38)]
    store, cache = new_store(kind, tmp_path, swiftwal_bin, swift, ARCHIVE_LOOKAHEAD="0",
                             RESTORE_PREFETCH="4", PARALLEL="2")
    wal = fake_pg_wal(tmp_path, names, ready=False)
    for name in names:
        store.run("archive-wal", os.path.join(wal, name))
    data_dir = postgres_dir(tmp_path / "data")
    target = os.path.join(postgres_dir(tmp_path / "data" / "pg_wal"), "RECOVERYXLOG")

    def feed(part):
        for name in part:
            store.run("--debug", "--log-format", "json", "restore-wal", name, target,
                      cwd=data_dir)
            with open(target, "rb") as got, open(os.path.join(wal, name), "rb") as want:
                assert got.read() == want.read()

    feed(names[:1])
    # The worker this call started serves the next calls once it is up; a call
    # coming before would fetch its own segment, as recovery may.
    wait_for_claim(cache, "restore")
    feed(names[1:])
    fetched = _fetch_counts(cache)
    assert len(fetched) >= len(names) - 2, "most segments came from the worker"
    assert {name: n for name, n in fetched.items() if n > 1} == {}

    feed(names[4:13])  # the same worker, recovery starting again
    wait_for_worker(cache, "restore")
    fetched = _fetch_counts(cache)
    assert [fetched[name] for name in names[1:4]] == [1] * 3
    # The first call of the new start may be told to fetch its segment itself.
    assert [fetched[name] for name in names[5:13]] == [2] * 8
    assert max(fetched.values()) == 2
