"""Every --json output validates against its documented schema in docs/schemas/,
on real outputs of a real archive (PostgreSQL 15, Swift and a 0.2.2-layout object)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from tests.support.cycle import archiving_primary, flush_archive, insert, take_backup
from tests.support.swiftwal_cli import make_store
from tests.support.pg_cluster import make_reachable

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


@pytest.mark.parametrize("name", ["list-backups", "list-wal", "prune", "verify", "check", "info",
                                  "error"])
def test_schemas_are_valid_draft_2020_12(name):
    validator(name)


def test_real_outputs_match_their_schemas(tmp_path, swiftwal_bin, swift, pg_factory):
    store = make_store("swift", str(make_reachable(tmp_path / "store")), swiftwal_bin, swift)
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE t (i int)")
    for batch in range(2):
        insert(primary, batch * 10 + 1, batch * 10 + 10)
        take_backup(store, primary)
        flush_archive(primary)
    outputs = {
        "list-backups": store.run("list-backups", "--json"),
        "list-wal": store.run("list-wal", "--json"),
        "prune": store.run("prune", "--keep-backups", "1", "--dry-run", "--json"),
        "verify": store.run("verify", "--json", check=False),
        "check": store.run("check", "--json", "-H", str(primary.socket_dir), "-p", str(primary.port),
                           "-U", "postgres", env={"SWIFTWAL_PG_BIN_DIR": str(primary.bin_dir)}),
        "info": store.run("info", "--json", "--keep-backups", "1"),
    }
    for name, result in outputs.items():
        document = json.loads(result.stdout)
        errors = sorted(validator(name).iter_errors(document), key=str)
        assert not errors, f"{name}: {[e.message for e in errors]}"
    info = json.loads(outputs["info"].stdout)
    assert info["backups"]["count"] == 2 and len(info["prune"]["delete_backups"]) == 1
    # The schemas must be able to fail: a known-bad document is refused.
    assert list(validator("info").iter_errors({**info, "gaps": [{"timeline": 0}]}))


def test_failures_under_json_match_the_error_schema(tmp_path, swiftwal_bin):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    failures = {
        "backup-not-found": store.run("verify", "--json", check=False),
        "usage": store.run("info", "--json", "--keep-wals", "2", check=False),
        "config": store.run("list-wal", "--json", check=False,
                            extra_config=str(tmp_path / "missing.conf")),
    }
    for kind, result in failures.items():
        document = json.loads(result.stdout)
        errors = sorted(validator("error").iter_errors(document), key=str)
        assert not errors, f"{kind}: {[e.message for e in errors]}"
        assert document["error"]["kind"] == kind and document["error"]["status"] == result.returncode
        assert result.stderr.startswith("swiftwal: error: ") and len(result.stderr.splitlines()) == 1
    assert list(validator("error").iter_errors({"error": {**document["error"], "status": "3"}}))
