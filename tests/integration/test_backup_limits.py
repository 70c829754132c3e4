"""backup --max-rate holds the server to pg_basebackup's limit, MAX_UPLOAD_RATE
holds swiftwal's own upload for backups: a limited backup takes at least the
time its limit implies (within a generous margin).  --parallel N for one run."""
from __future__ import annotations

import json
import time

import pytest

from tests.support.cycle import archiving_primary, flush_archive, pg_env, restore_target

pytestmark = pytest.mark.parametrize("store", ["local"], indirect=True)

MARGIN = 0.7  # of the time the limit implies: the first reads are not yet held back


def timed_backup(store, primary, *extra, env=None) -> tuple[float, dict]:
    started = time.monotonic()
    store.run("backup", "-c", "fast", "-H", str(primary.socket_dir), "-p", str(primary.port),
              "-U", "postgres", *extra, env={**pg_env(primary), **(env or {})})
    elapsed = time.monotonic() - started
    return elapsed, json.loads(store.run("list-backups", "--json").stdout)["backups"][-1]


def test_max_rate_and_max_upload_rate_slow_a_backup_down(store, pg_factory):
    primary = archiving_primary(pg_factory, store)
    primary.sql("CREATE TABLE pad AS SELECT g, md5(g::text) AS v FROM generate_series(1, 60000) g")

    rate_kb = 4096  # 4 MiB/s
    elapsed, record = timed_backup(store, primary, "--max-rate", "4M")
    implied = record["raw_size"] / (rate_kb * 1024)
    assert implied > 2, record["raw_size"]
    assert elapsed >= MARGIN * implied, (elapsed, implied)

    upload_kb = 1024  # 1 MiB/s of compressed bytes
    elapsed, record = timed_backup(store, primary, env={"SWIFTWAL_MAX_UPLOAD_RATE": "1M"})
    implied = record["stored_size"] / (upload_kb * 1024)
    assert implied > 2, record["stored_size"]
    assert elapsed >= MARGIN * implied, (elapsed, implied)

    # --parallel for one run, and bad limits as one-line usage or config errors
    flush_archive(primary)
    store.run("backup", "-c", "fast", "-H", str(primary.socket_dir), "-p", str(primary.port),
              "-U", "postgres", "--parallel", "2", env=pg_env(primary))
    store.run("restore", "latest", str(restore_target(pg_factory, "par")), "--parallel", "2")
    for bad in (("--max-rate", "10G"), ("--max-rate", "16"), ("--parallel", "0")):
        result = store.run("backup", *bad, check=False, env=pg_env(primary))
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    result = store.run("backup", check=False, env={**pg_env(primary),
                                                   "SWIFTWAL_MAX_UPLOAD_RATE": "fast"})
    assert result.returncode == 3 and "MAX_UPLOAD_RATE" in result.stderr
