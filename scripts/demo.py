"""Point-in-time recovery with swiftwal, shown step by step (run by scripts/demo)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.pg_cluster import ARCHIVE_SETTINGS, PgCluster, make_reachable  # noqa: E402
from tests.support.swift_server import SwiftServer  # noqa: E402

SWIFTWAL = Path(os.environ.get("SWIFTWAL_VENV", "/opt/swiftwal/venv")) / "bin" / "swiftwal"


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def swiftwal(config: Path, *args: str, env: dict | None = None) -> str:
    argv = ["runuser", "-u", "postgres", "--", str(SWIFTWAL), f"--config={config}", *args]
    print("$ swiftwal " + " ".join(args), flush=True)
    result = subprocess.run(argv, capture_output=True, text=True, cwd="/",
                            env={"PATH": os.environ["PATH"], **(env or {})})
    sys.stdout.write(result.stdout)
    if result.returncode != 0:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"swiftwal {args[0]} failed with exit status {result.returncode}")
    return result.stdout


def main() -> int:
    base = make_reachable(tempfile.mkdtemp(prefix="swiftwal-demo-"))
    swift = primary = restored = None
    try:
        step("Starting a single-node OpenStack Swift on 127.0.0.1")
        swift = SwiftServer.start(base / "swift")
        print(f"auth URL {swift.auth_url}")

        config = base / "swiftwal.conf"
        config.write_text(f"OS_AUTH_URL={swift.auth_url}\nOS_USERNAME={swift.user}\n"
                          f"OS_PASSWORD={swift.key}\nCONTAINER=pgdemo\n")
        shutil.chown(config, "postgres", "postgres")
        config.chmod(0o600)

        step("Starting a PostgreSQL 15 cluster that archives its WAL with swiftwal")
        command = f"{SWIFTWAL} --config={config} archive-wal %p"
        primary = PgCluster.init(base / "primary", settings={**ARCHIVE_SETTINGS, "archive_command": command})
        primary.start()
        print(f"archive_command = '{command}'")
        primary.pgbench_init(scale=1)
        primary.sql("CREATE TABLE accounts_log (id int, note text)")
        primary.sql("INSERT INTO accounts_log SELECT i, 'before backup' FROM generate_series(1, 100) i")

        step("Taking a base backup")
        env = {**primary.env(), "SWIFTWAL_PG_BIN_DIR": str(primary.bin_dir)}
        swiftwal(config, "--verbose", "backup", "--checkpoint", "fast", env=env)
        swiftwal(config, "--verbose", "list-backups")

        step("Changing data after the backup, and noting the time")
        primary.sql("INSERT INTO accounts_log SELECT i, 'after backup' FROM generate_series(101, 150) i")
        target = primary.sql("SELECT clock_timestamp()")
        expected = primary.sql("SELECT count(*) || ' rows, sum ' || sum(id) FROM accounts_log")
        time.sleep(0.2)
        print(f"target time {target}: accounts_log has {expected}")
        primary.sql("DELETE FROM accounts_log WHERE id % 2 = 0")  # the mistake to undo
        primary.sql("UPDATE pgbench_accounts SET abalance = abalance + 1")
        damaged = primary.sql("SELECT count(*) || ' rows, sum ' || sum(id) FROM accounts_log")
        print(f"after an accidental DELETE: accounts_log has {damaged}")
        last = primary.switch_wal()
        primary.wait_archived(last, timeout=120)
        swiftwal(config, "list-wal")

        step(f"Restoring the backup into a new directory and recovering to {target}")
        parent = make_reachable(base / "restore")
        shutil.chown(parent, "postgres", "postgres")
        swiftwal(config, "restore", "latest", str(parent / "data"))
        restored = PgCluster.adopt(parent / "data", signal="recovery", settings={
            "restore_command": f"{SWIFTWAL} --config={config} restore-wal %f %p",
            "recovery_target_time": target, "recovery_target_action": "promote"})
        restored.start()
        restored.wait_for("SELECT pg_is_in_recovery()", "f", timeout=120)
        got = restored.sql("SELECT count(*) || ' rows, sum ' || sum(id) FROM accounts_log")
        print(f"restored server: accounts_log has {got}")
        if got != expected:
            print(f"FAILED: expected {expected}", file=sys.stderr)
            return 1
        print("\nOK: the restored server holds exactly the data as it was at the target time.")
        return 0
    finally:
        step("Stopping everything this demo started")
        for cluster in (restored, primary):
            if cluster is not None:
                cluster.destroy()
        if swift is not None:
            swift.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
