"""Client-side encryption end to end, on real PostgreSQL 15 and both stores:
archive_command and backup encrypt, restore and restore_command decrypt,
nothing readable reaches the store, and a missing key, another key or a
tampered object is a clear failure (never "not in the archive", never a
partial file)."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import uuid

import pytest
import xxhash

from tests.support.cycle import (archiving_primary, flush_archive, insert, restore_target, rows,
                                     take_backup)
from tests.support.faults import adapter
from tests.support.swiftwal_cli import _chown_postgres, make_store, postgres_dir
from tests.support.pg_cluster import make_reachable

try:
    import cryptography  # noqa: F401  (the encryption extra, part of the test extra)
except ImportError:  # a missing extra must fail the run, never skip it
    pytest.fail("the cryptography package (swiftwal[encryption]) is not installed: "
                "run scripts/install-deps", pytrace=False)

CONFIG, INTEGRITY, CONFLICT = 3, 9, 6
NOT_IN_ARCHIVE = 1
ENCRYPTED_MAGIC = b"SWE1"
COMPRESSED_MAGICS = (b"\x28\xb5\x2f\xfd", b"\x1f\x8b")  # zstd, gzip


def key_file(directory, name: str, key: bytes | None = None) -> str:
    path = os.path.join(str(directory), name)
    with open(path, "w") as handle:
        handle.write((key or os.urandom(32)).hex() + "\n")
    os.chmod(path, 0o600)
    _chown_postgres(path)
    return path


def config_with(store, directory, name: str, **changes: str | None) -> str:
    """Another config file for the same store, with some keys changed (None: removed)."""
    with open(store.config_path) as handle:
        lines = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
    for key, value in changes.items():
        if value is None:
            lines.pop(key, None)
        else:
            lines[key] = value
    path = os.path.join(str(directory), name)
    with open(path, "w") as handle:
        handle.writelines(f"{k}={v}\n" for k, v in lines.items())
    os.chmod(path, 0o600)
    _chown_postgres(path)
    return path


def raw_objects(store) -> dict[str, bytes]:
    """Every byte the store holds, as the operator of the store sees it."""
    if store.kind == "local":
        found = {}
        for directory, _, files in os.walk(store.location):
            for name in files:
                path = os.path.join(directory, name)
                with open(path, "rb") as handle:
                    found[os.path.relpath(path, store.location)] = handle.read()
        return found
    storage = adapter(store)
    connection = storage._conn()
    _, items = connection.get_container(storage.container, full_listing=True)
    return {item["name"]: connection.get_object(storage.container, item["name"])[1]
            for item in items}


@pytest.fixture(params=["swift", "local"])
def store(request, tmp_path, swiftwal_bin):
    swift = request.getfixturevalue("swift") if request.param == "swift" else None
    base = make_reachable(tmp_path / "store")
    # 1 MiB large-object segments: a backup of a few MiB is stored in pieces
    return make_store(request.param, str(base), swiftwal_bin, swift,
                      {"ENCRYPTION_KEY_FILE": key_file(base, "key"), "LARGE_OBJECT_SIZE": str(1 << 20)})


def test_an_encrypted_archive_recovers_and_holds_no_plaintext(store, pg_factory, tmp_path):
    canary = "canary-" + uuid.uuid4().hex
    primary = archiving_primary(pg_factory, store)
    primary.pgbench_init(scale=1)
    primary.sql("CREATE TABLE t (i int, note text)")
    primary.sql(f"INSERT INTO t SELECT i, repeat('{canary}', 20) FROM generate_series(1, 10) i")
    key = take_backup(store, primary)
    primary.sql(f"INSERT INTO t SELECT i, '{canary}' FROM generate_series(11, 20) i")
    primary.sql("SELECT pg_create_restore_point('encrypted_point')")
    insert(primary, 21, 30)
    flush_archive(primary)

    # The test can fail: PostgreSQL's own WAL holds the canary in clear.
    wal_dir = primary.data_dir / "pg_wal"
    assert any(canary.encode() in (wal_dir / n).read_bytes() for n in os.listdir(wal_dir) if len(n) == 24)
    stored = raw_objects(store)
    assert not [name for name, data in stored.items() if canary.encode() in data]
    if store.kind == "swift":
        assert len([n for n in stored if n.startswith(".segments/backups/")]) >= 2
    record = json.loads(store.run("list-backups", "--json").stdout)["backups"][0]
    assert record["encryption"] == "aes-256-gcm" and len(record["encryption_key_id"]) == 16
    storage = adapter(store)
    wal_objects = [info.name for info in storage.list("wal/")]
    assert len(wal_objects) >= 3
    for name in wal_objects + [record["data_object"]]:
        with storage.get(name) as reader:
            head = reader.read(4)
            assert head == ENCRYPTED_MAGIC and head not in COMPRESSED_MAGICS, name
            assert reader.info.metadata["encryption"] == "aes-256-gcm", name

    # restore to the restore point, start: exactly the rows before it.
    primary.stop()
    directory = restore_target(pg_factory, "at-point")
    store.run("restore", key, str(directory), "--target-name", "encrypted_point",
              "--target-action", "promote")
    recovered = pg_factory.adopt(directory, settings={
        "archive_mode": "on", "archive_command": store.command("archive-wal", "%p")})
    recovered.start()
    recovered.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    assert rows(recovered) == list(range(1, 21))
    assert recovered.sql(f"SELECT count(*) FROM t WHERE note LIKE '%{canary}%'") == "20"

    # The new timeline's history file is encrypted too, and every reader of it copes.
    flush_archive(recovered)
    recovered.stop()
    assert "00000002.history" in store.run("list-wal").stdout.split()
    history = [info.name for info in storage.list("wal/00000002.history")]
    with storage.get(history[0]) as reader:
        assert reader.read(4) == ENCRYPTED_MAGIC
    assert store.run("verify", "--all", "--full").returncode == 0
    store.run("info")
    store.run("prune", "--keep-backups", "1", "--dry-run")


def test_unencrypted_objects_stay_readable_and_rearchiving_is_recognised(tmp_path, pg_factory,
                                                                          swiftwal_bin):
    base = make_reachable(tmp_path / "store")
    plain = make_store("local", str(base), swiftwal_bin)
    encrypted = config_with(plain, base, "encrypted.conf", ENCRYPTION_KEY_FILE=key_file(base, "key"))
    primary = archiving_primary(pg_factory, plain)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    key = take_backup(plain, primary)
    insert(primary, 11, 20)
    first = flush_archive(primary)

    # Encryption turned on: new WAL is encrypted, the old stays as it was.
    primary.sql(f"ALTER SYSTEM SET archive_command = "
                f"'{plain.swiftwal_bin} --config={encrypted} archive-wal %p'")
    primary.sql("SELECT pg_reload_conf()")
    insert(primary, 21, 30)
    last = flush_archive(primary)
    storage = adapter(plain)
    with storage.get(f"wal/{first}.zst") as reader:
        assert reader.read(4) in COMPRESSED_MAGICS
    with storage.get(f"wal/{last}.zst") as reader:
        assert reader.read(4) == ENCRYPTED_MAGIC

    # PostgreSQL asking again for either: identical content, exit 0; other content: refused.
    copies = postgres_dir(tmp_path / "copies")
    for name in (first, last):
        plain.run("restore-wal", name, name, cwd=copies, extra_config=encrypted)
        again = plain.run("--log-format=json", "archive-wal", os.path.join(copies, name),
                          extra_config=encrypted)
        assert '"wal.already_archived"' in again.stderr, again.stderr
    for name in (first, last):
        with open(os.path.join(copies, name), "r+b") as handle:
            handle.seek(8192 + 100)
            handle.write(b"changed")
        refused = plain.run("archive-wal", os.path.join(copies, name), extra_config=encrypted,
                            check=False)
        assert refused.returncode == CONFLICT, refused.stderr

    # A plain backup, plain and encrypted WAL: recovery with the key reads them all.
    primary.stop()
    directory = restore_target(pg_factory, "mixed")
    plain.run("restore", key, str(directory), extra_config=encrypted)
    recovered = pg_factory.adopt(directory, settings={"recovery_target_action": "promote"})
    recovered.start()
    recovered.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    assert rows(recovered) == list(range(1, 31))


def test_no_key_another_key_and_tampering_are_clear_failures(store, pg_factory, tmp_path):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    key = take_backup(store, primary)
    segment = flush_archive(primary)
    primary.stop()
    base = make_reachable(tmp_path / "configs")
    wrong = config_with(store, base, "wrong.conf", ENCRYPTION_KEY_FILE=key_file(base, "other"))
    none = config_with(store, base, "none.conf", ENCRYPTION_KEY_FILE=None)
    directory = postgres_dir(tmp_path / "pg_wal")

    for config, words in ((wrong, "another key"), (none, "no encryption key is configured")):
        fetched = store.run("restore-wal", segment, "RESTORED", cwd=directory, extra_config=config,
                            check=False)
        assert fetched.returncode == CONFIG, fetched.stderr
        assert words in fetched.stderr and "Traceback" not in fetched.stderr
        assert len(fetched.stderr.strip().splitlines()) == 1
        assert os.listdir(directory) == []
        target = restore_target(pg_factory, f"restore-{os.path.basename(config)}")
        restored = store.run("restore", key, str(target), extra_config=config, check=False)
        assert restored.returncode == CONFIG and words in restored.stderr, restored.stderr
        assert not os.path.exists(target)
        verified = store.run("verify", "--full", extra_config=config, check=False)
        assert verified.returncode == CONFIG and words in verified.stderr, verified.stderr

    # Targeted recovery must abort, not end early, on a key it cannot use.
    open(os.path.join(directory, "recovery.signal"), "w").close()
    aborted = store.run("restore-wal", segment, "RESTORED", cwd=directory, extra_config=wrong,
                        check=False)
    assert aborted.returncode > 125 and not os.path.exists(os.path.join(directory, "RESTORED"))
    os.unlink(os.path.join(directory, "recovery.signal"))

    # Tampering that also rewrites the recorded checksums: only the cipher can tell.
    storage = adapter(store)
    name = f"wal/{segment}.zst"
    with storage.get(name) as reader:
        data, metadata = bytearray(reader.read()), dict(reader.info.metadata)
    data[len(data) // 2] ^= 0x01
    rewritten = {"stored-xxh128": xxhash.xxh3_128_hexdigest(bytes(data)),
                 "stored-sha256": hashlib.sha256(data).hexdigest()}
    metadata.update({k: v for k, v in rewritten.items() if k in metadata})
    storage.put(name, io.BytesIO(bytes(data)), metadata=metadata)
    if store.kind == "local":  # written as root here
        subprocess.run(["chown", "-R", "postgres:postgres", store.location], check=True)
    fetched = store.run("restore-wal", segment, "RESTORED", cwd=directory, check=False)
    assert fetched.returncode == INTEGRITY, fetched.stderr
    assert "fails authentication" in fetched.stderr and name in fetched.stderr
    assert os.listdir(directory) == []

    # The backup's data object, with the checksum in backup.json rewritten to match.
    record = json.loads(store.run("list-backups", "--json").stdout)["backups"][0]
    data_name, record_name = record["data_object"], f"backups/{key}/backup.json"
    with storage.get(data_name) as reader:
        data, data_metadata = bytearray(reader.read()), dict(reader.info.metadata)
    data[len(data) // 2] ^= 0x01
    storage.put(data_name, io.BytesIO(bytes(data)), metadata=data_metadata)
    with storage.get(record_name) as reader:
        payload, record_metadata = json.loads(reader.read()), dict(reader.info.metadata)
    payload["sha256"] = hashlib.sha256(data).hexdigest()
    storage.put(record_name, io.BytesIO(json.dumps(payload).encode()), metadata=record_metadata)
    if store.kind == "local":
        subprocess.run(["chown", "-R", "postgres:postgres", store.location], check=True)
    target = restore_target(pg_factory, "tampered")
    restored = store.run("restore", key, str(target), check=False)
    assert restored.returncode == INTEGRITY and "fails authentication" in restored.stderr, restored.stderr
    assert not os.path.exists(target / "PG_VERSION") and not os.path.exists(target / "global" / "pg_control")

    verified = store.run("verify", "--full", "--json", check=False)
    assert verified.returncode == INTEGRITY
    problems = json.loads(verified.stdout)["backups"][0]["problems"]
    assert any(name in p and "fails authentication" in p for p in problems), problems
    assert any(data_name in p and "fails authentication" in p for p in problems), problems
