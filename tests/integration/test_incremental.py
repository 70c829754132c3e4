"""Incremental backups on real PostgreSQL 17 and 18 (the wheels), against real Swift and
the local store: a chain full -> incremental -> incremental restored to a point after
each member, and to the end of the archive through restore-wal."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.support.cycle import (archiving_primary, flush_archive, incremental_primary, insert,
                                 pg_env, restore_and_recover, restore_target, rows, server_time,
                                 take_backup)
from tests.support.pg_cluster import PgCluster

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def records(store) -> dict:
    listed = json.loads(store.run("list-backups", "--json").stdout)
    jsonschema.validate(listed, json.loads((SCHEMAS / "list-backups.json").read_text()))
    return {b["key"]: b for b in listed["backups"]}


def restore_to(store, pg_factory, name: str, bin_dir, *target: str) -> PgCluster:
    """``restore latest DIR [target]``, the recovery settings restore writes, then the
    server started on it until it has promoted."""
    directory = restore_target(pg_factory, name)
    done = store.run("restore", "latest", str(directory), *target,
                     *(("--target-action", "promote") if target else ()),
                     env={"SWIFTWAL_PG_BIN_DIR": str(bin_dir)})
    assert not (directory / ".swiftwal-staging").exists()
    cluster = pg_factory.adopt(directory, bin_dir=bin_dir)
    cluster.start()
    cluster.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
    cluster.restore_output = done.stdout
    return cluster


@pytest.mark.parametrize("major", [17, 18])
def test_a_chain_restores_to_a_point_after_each_member_and_to_the_end(major, store, pg_bin,
                                                                      pg_factory):
    bin_dir = pg_bin[major]
    primary = incremental_primary(pg_factory, store, bin_dir)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    full = take_backup(store, primary)
    insert(primary, 11, 20)
    after_full = server_time(primary)
    first = take_backup(store, primary, "--incremental")
    insert(primary, 21, 30)
    after_first = server_time(primary)
    second = take_backup(store, primary, "--incremental")
    insert(primary, 31, 40)
    after_second = server_time(primary)
    insert(primary, 41, 50)
    flush_archive(primary)

    found = records(store)
    assert [(found[k]["type"], found[k]["parent"], found[k]["chain"], found[k]["format"])
            for k in (full, first, second)] == [
        ("full", None, [], 1), ("incremental", full, [full], 2),
        ("incremental", first, [full, first], 2)]
    assert all(found[k]["manifest_object"] == f"backups/{k}/backup_manifest.zst"
               for k in (full, first, second))

    # a chain of 1, 2 and 3 backups
    for name, moment, expected, backup, combined_with in (
            ("at-full", after_full, 20, full, []), ("at-first", after_first, 30, first, [full]),
            ("at-second", after_second, 40, second, [full, first])):
        restored = restore_to(store, pg_factory, name, bin_dir, "--target-time", moment)
        assert rows(restored) == list(range(1, expected + 1)), name
        if combined_with:
            assert (f"Restored incremental backup {backup} into {restored.data_dir}, combined "
                    f"with its chain ({', '.join(combined_with)})") in restored.restore_output
        else:
            assert f"Restored backup {backup} into" in restored.restore_output
        restored.destroy()

    restored = restore_to(store, pg_factory, "at-end", bin_dir)
    assert rows(restored) == list(range(1, 51))
    assert f"Restored incremental backup {second} " in restored.restore_output

    info = json.loads(store.run("info", "--json").stdout)
    (chain,) = info["chains"]
    assert chain["backups"] == [full, first, second] and chain["complete"]
    assert chain["stored_bytes"] == sum(found[k]["stored_size"] for k in (full, first, second))
    # each incremental holds the blocks changed, not the cluster
    assert found[second]["stored_size"] < found[full]["stored_size"] / 2


# -- retention, broken chains and refusals: PostgreSQL 17 and the local store, whose
# objects the tests can reach -------------------------------------------------------------

local_store = pytest.mark.parametrize("store", ["local"], indirect=True)


def wal_names(store) -> list[str]:
    return [w["name"] for w in json.loads(store.run("list-wal", "--json").stdout)["wal"]]


def backup(store, cluster, *extra: str, check: bool = True):
    return store.run("backup", "-c", "fast", "-H", str(cluster.socket_dir), "-p",
                     str(cluster.port), "-U", "postgres", *extra, env=pg_env(cluster),
                     check=check)


@local_store
def test_prune_keeps_the_newest_chain_whole_and_pitr_from_it_still_works(store, pg_bin,
                                                                         pg_factory):
    bin_dir = pg_bin[18]
    primary = incremental_primary(pg_factory, store, bin_dir)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    full1 = take_backup(store, primary)
    insert(primary, 11, 20)
    incr1 = take_backup(store, primary, "--incremental")
    insert(primary, 21, 30)
    full2 = take_backup(store, primary)
    insert(primary, 31, 40)
    incr2 = take_backup(store, primary, "--incremental")
    insert(primary, 41, 50)
    after = server_time(primary)
    insert(primary, 51, 60)
    flush_archive(primary)
    found = records(store)
    assert found[incr2]["chain"] == [full2]
    before = wal_names(store)

    plan = json.loads(store.run("prune", "--keep-backups", "1", "--dry-run", "--json").stdout)
    assert [d["name"] for d in plan["backups"]["delete"]] == [full1, incr1]
    assert [d["name"] for d in plan["backups"]["keep"]] == [full2, incr2]
    store.run("prune", "--keep-backups", "1")

    assert list(records(store)) == [full2, incr2]
    for key in (full1, incr1):  # data, manifest and metadata
        assert [p for p in (Path(store.location) / "backups" / key).rglob("*") if p.is_file()] == []
    assert (Path(store.location) / found[full2]["manifest_object"]).is_file()
    start = found[full2]["start_segment"]
    after_prune = wal_names(store)
    segments = [n for n in before if len(n) == 24]
    assert [n for n in segments if n not in after_prune] == [n for n in segments if n < start]
    assert all(n in after_prune for n in segments if n >= start)

    restored = restore_to(store, pg_factory, "after-prune", bin_dir, "--target-time", after)
    assert rows(restored) == list(range(1, 51))
    assert f"combined with its chain ({full2})" in restored.restore_output


@local_store
def test_a_broken_chain_is_named_by_verify_and_refused_by_restore_and_backup(store, pg_bin,
                                                                            pg_factory):
    bin_dir = pg_bin[17]
    env = {"SWIFTWAL_PG_BIN_DIR": str(bin_dir)}
    primary = incremental_primary(pg_factory, store, bin_dir)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 1000)
    full = take_backup(store, primary)
    insert(primary, 1001, 2000)
    first = take_backup(store, primary, "--incremental")
    insert(primary, 2001, 3000)
    second = take_backup(store, primary, "--incremental")
    found = records(store)

    # whole, with pg_verifybackup on the restored chain
    out = store.run("verify", "--full", "--json", second, env=env).stdout
    (report,) = json.loads(out)["backups"]
    assert report["ok"] and report["type"] == "incremental" and report["chain"] == [full, first]
    text = store.run("verify", second, env=env).stdout
    assert text.startswith(f"{second}: ok (incremental on {first}, a chain of 3; metadata check")

    # a member whose bytes changed: verify --full names it; restore stops before writing
    data = Path(store.location) / found[first]["data_object"]
    original = data.read_bytes()
    middle = len(original) // 2
    data.write_bytes(original[:middle] + bytes(b ^ 0xFF for b in original[middle:middle + 64])
                     + original[middle + 64:])
    failed = store.run("verify", "--full", second, env=env, check=False)
    assert failed.returncode == 9
    assert (f"  - {first} (incremental) of its chain: backup object {found[first]['data_object']}"
            in failed.stdout)
    target = restore_target(pg_factory, "corrupted")
    refused = store.run("restore", second, str(target), env=env, check=False)
    assert refused.returncode == 9, refused.stderr
    assert (f"swiftwal: error: backup {second} cannot be restored: {first} (incremental) of "
            "its chain is corrupted: ") in refused.stderr
    assert list(target.iterdir()) == []  # staging removed, nothing written

    # a member cut short: backup --incremental refuses to base on the chain
    data.write_bytes(original[:middle])
    refusal = backup(store, primary, "--incremental", check=False)
    assert refusal.returncode == 9
    assert (f"swiftwal: error: cannot base an incremental backup on {second}: {first} "
            f"(incremental) of its chain: backup object {found[first]['data_object']} holds "
            f"{middle} bytes, {found[first]['stored_size']} were stored") in refusal.stderr
    data.write_bytes(original)

    # a member gone from the catalogue
    (Path(store.location) / "backups" / first / "backup.json").unlink()
    failed = store.run("verify", second, check=False)
    assert failed.returncode == 9 and f"  - backup {first} of its chain is missing" in failed.stdout
    target = restore_target(pg_factory, "missing")
    refused = store.run("restore", second, str(target), env=env, check=False)
    assert refused.returncode == 9
    assert (f"swiftwal: error: backup {second} is incremental and its chain is broken: {first} "
            "is missing") in refused.stderr
    assert not target.exists()
    refusal = backup(store, primary, "--incremental", check=False)
    assert refusal.returncode == 9
    assert (f"cannot base an incremental backup on {second}: backup {second} is incremental "
            f"and its chain is broken: {first} is missing") in refusal.stderr
    assert list(records(store)) == [full, second]  # nothing was stored


@local_store
@pytest.mark.parametrize("major", [15, 16])
def test_postgresql_before_17_refuses_incremental_backups_naming_the_version(major, store,
                                                                            pg_bin, pg_factory):
    primary = archiving_primary(pg_factory, store, bin_dir=pg_bin[major])
    take_backup(store, primary)
    refused = backup(store, primary, "--incremental", check=False)
    assert refused.returncode == 3
    assert (f"swiftwal: error: incremental backups need PostgreSQL 17 or later; the server "
            f"runs PostgreSQL {major} (hint: take a full backup (leave out --incremental), or "
            "use --incremental=auto)") in refused.stderr
    fell_back = backup(store, primary, "--incremental=auto")
    assert ("taking a full backup: incremental backups need PostgreSQL 17 or later; the "
            f"server runs PostgreSQL {major}") in fell_back.stderr
    assert [r["type"] for r in records(store).values()] == ["full", "full"]


@local_store
def test_each_refusal_of_an_incremental_backup_says_why_before_anything_is_stored(
        store, pg_bin, pg_factory):
    bin_dir = pg_bin[17]

    def refused(cluster, *extra):
        before = list(records(store))
        done = backup(store, cluster, *extra, check=False)
        assert list(records(store)) == before, "a refusal stores nothing"
        assert done.stderr.count("\n") == 1, done.stderr  # one line
        return done.returncode, done.stderr.strip()

    # summarize_wal off (a cluster that archives nowhere: the store belongs to the next one)
    plain = pg_factory(bin_dir=bin_dir, settings={"wal_level": "replica", "max_wal_senders": 4})
    assert refused(plain, "--incremental") == (
        3, "swiftwal: error: incremental backups need summarize_wal = on; the server has "
           "summarize_wal = off (hint: ALTER SYSTEM SET summarize_wal = on; SELECT "
           "pg_reload_conf(); then take a full backup to base incremental ones on)")
    plain.destroy()

    primary = incremental_primary(pg_factory, store, bin_dir)
    # no full backup to base it on
    assert refused(primary, "--incremental") == (
        12, "swiftwal: error: no full backup of this cluster on timeline 1 to base an "
            "incremental backup on (hint: take a full backup first (or use --incremental=auto))")
    assert refused(primary, "--from", "20990101T000000Z") == (
        2, "swiftwal: error: --from has no effect without --incremental (hint: add "
           "--incremental, or leave out --from)")
    assert refused(primary, "--incremental", "--from", "yesterday") == (
        2, "swiftwal: error: invalid backup key 'yesterday': expected a UTC time like "
           "20130828T1810Z or 20130828T181005Z")
    full = take_backup(store, primary)
    # a parent that is not there
    assert refused(primary, "--incremental", "--from", "20990101T000000Z") == (
        12, "swiftwal: error: backup 20990101T000000Z (--from) is not in the store (hint: see "
            "'swiftwal list-backups')")
    # a parent of another cluster (its record says so)
    metadata = Path(store.location) / "backups" / full / "backup.json"
    original = metadata.read_text()
    metadata.write_text(original.replace(records(store)[full]["system_identifier"], "42"))
    code, message = refused(primary, "--incremental", "--from", full)
    assert code == 11 and message.startswith(
        f"swiftwal: error: backup {full} is of another cluster (system identifier 42, the "
        "server's is ")
    metadata.write_text(original)
    incremental = take_backup(store, primary, "--incremental", "--from", full)

    # restoring needs pg_combinebackup of the backup's version, and an empty target
    target = restore_target(pg_factory, "refused")
    for other, expected in ((18, f"backup {incremental} is of PostgreSQL 17: restoring it needs "
                                 f"pg_combinebackup 17, and the one in {pg_bin[18]} is of "
                                 "PostgreSQL 18"),
                            (15, f"pg_combinebackup (PostgreSQL 17 or later) is needed to "
                                 f"restore incremental backup {incremental}, and there is none "
                                 f"in {pg_bin[15]}")):
        done = store.run("restore", incremental, str(target), check=False,
                         env={"SWIFTWAL_PG_BIN_DIR": str(pg_bin[other])})
        assert done.returncode == 3 and f"swiftwal: error: {expected}" in done.stderr
        assert not target.exists()
    target.mkdir()
    (target / "PG_VERSION").write_text("17\n")
    done = store.run("restore", incremental, str(target), check=False,
                     env={"SWIFTWAL_PG_BIN_DIR": str(bin_dir)})
    assert done.returncode == 7 and f"restore target {target} is not empty" in done.stderr

    # a parent on another timeline: the server is now a copy promoted onto timeline 2
    primary.sql("CREATE TABLE t (i int)")  # something to archive after the backup
    flush_archive(primary)
    primary.stop()
    promoted = restore_and_recover(store, full, pg_factory, "timeline2", bin_dir=bin_dir,
                                   settings={"archive_mode": "on", "archive_command":
                                             store.command("archive-wal", "%p")})
    promoted.sql("CHECKPOINT")
    assert promoted.sql("SELECT timeline_id FROM pg_control_checkpoint()") == "2"
    assert refused(promoted, "--incremental") == (
        12, "swiftwal: error: no full backup of this cluster on timeline 2 to base an "
            "incremental backup on (hint: take a full backup first (or use --incremental=auto))")
    assert refused(promoted, "--incremental", "--from", incremental) == (
        11, f"swiftwal: error: backup {incremental} is on timeline 1, the server on timeline 2 "
            "(hint: base it on a backup of the current timeline, or take a full backup)")
    fell_back = backup(store, promoted, "--incremental=auto")
    assert "taking a full backup: no full backup of this cluster on timeline 2" in fell_back.stderr
    newest = list(records(store).values())[-1]
    assert (newest["type"], newest["timeline"]) == ("full", 2)


def test_an_encrypted_gzip_chain_stores_its_manifests_sealed_and_restores(pg_bin, pg_factory,
                                                                          tmp_path,
                                                                          swiftwal_bin):
    import os

    from tests.support.pg_cluster import make_reachable
    from tests.support.swiftwal_cli import _chown_postgres, make_store

    key = tmp_path / "key"
    key.write_text(os.urandom(32).hex() + "\n")
    key.chmod(0o600)
    _chown_postgres(str(key))
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin,
                       extra={"ENCRYPTION_KEY_FILE": str(key), "COMPRESSION": "gzip"})
    bin_dir = pg_bin[18]
    primary = incremental_primary(pg_factory, store, bin_dir)
    primary.sql("CREATE TABLE t (i int)")
    insert(primary, 1, 10)
    full = take_backup(store, primary)
    insert(primary, 11, 20)
    incremental = take_backup(store, primary, "--incremental")
    insert(primary, 21, 30)
    flush_archive(primary)
    found = records(store)
    for record in found.values():
        manifest = Path(store.location) / record["manifest_object"]
        assert record["manifest_object"].endswith("/backup_manifest.gz")
        assert manifest.read_bytes()[:4] == b"SWE1"  # sealed, not a gzip stream in clear
    assert found[incremental]["chain"] == [full]
    store.run("verify", "--full", incremental, env={"SWIFTWAL_PG_BIN_DIR": str(bin_dir)})
    restored = restore_to(store, pg_factory, "encrypted", bin_dir)
    assert rows(restored) == list(range(1, 31))
