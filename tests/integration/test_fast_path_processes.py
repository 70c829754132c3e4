"""The per-WAL commands as processes: a worker starts without structlog, and the
installed command's fast path ends with its line and its status."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_worker_starts_without_structlog(tmp_path):
    """A call may wait for the worker it started: importing structlog (it
    imports asyncio) cost about 26 ms of that start.  The workers write the
    same lines through the light writer."""
    (tmp_path / "cache").mkdir()
    (tmp_path / "store").mkdir()  # the restore worker reads: the store must exist
    config = tmp_path / "swiftwal.conf"
    config.write_text(f"STORAGE=file://{tmp_path}/store\nCACHE_DIR={tmp_path}/cache\n"
                      "LOG_FORMAT=json\n")
    code = ("import sys; from swiftwal.adapters import workers; workers.IDLE_SECONDS = workers.ARCHIVE_IDLE_SECONDS = 0; "
            "from swiftwal import cli; "
            f"status = cli.main(['--config={config}', '--verbose', sys.argv[1]]); "
            "print(status, 'structlog' in sys.modules)")
    for command in ("archive-worker", "restore-worker"):
        result = subprocess.run([sys.executable, "-c", code, command], cwd=ROOT,
                                capture_output=True, text=True, timeout=60)
        assert result.stdout.split() == ["0", "False"], (command, result.stderr)
        (log,) = (tmp_path / "cache").glob(f"{command.split('-')[0]}/*/worker.log")
        assert '"event": "worker.started"' in log.read_text()


def test_the_installed_command_ends_a_fast_call_with_its_line_and_status(tmp_path):
    """``entry`` skips the interpreter's teardown after a fast-path call:
    what the call wrote must still be out, and its status must be kept."""
    from swiftwal.adapters.spool import ArchiveSpool, archive_spool_directory, fingerprint
    from swiftwal.config import load_settings

    wal = tmp_path / "pg_wal" / "000000010000000000000010"
    wal.parent.mkdir()
    wal.write_bytes(b"\0" * 1024)
    config = tmp_path / "swiftwal.conf"
    config.write_text(f"STORAGE=file://{tmp_path}/store\nCACHE_DIR={tmp_path}/cache\n"
                      "LOG_FORMAT=json\n")
    spool = ArchiveSpool(archive_spool_directory(load_settings({}, str(config), {})))
    code = "import sys; sys.argv[1:] = sys.argv[2:]; from swiftwal.cli import entry; entry()"
    argv = [sys.executable, "-c", code, "swiftwal", f"--config={config}", "archive-wal", str(wal)]
    spool.record(wal.name, fingerprint(wal.stat()), "0" * 64, 77, "wal.archived")
    hit = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert hit.returncode == 0 and not spool.has_record(wal.name), hit.stderr
    assert '"event": "wal.archived"' in hit.stderr and '"stored_bytes": 77' in hit.stderr
    # Not answered on the fast path (not a WAL file of PostgreSQL's): the full
    # command runs, fails, and exits the usual way with its status.
    argv[-1] = str(tmp_path / "missing")
    miss = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert miss.returncode == 2 and "does not exist" in miss.stderr, miss.stderr
