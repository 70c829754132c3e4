"""Structured logs for monitoring: JSON lines with stable event names, sizes and
durations; people get quiet console output unless something is wrong."""
from __future__ import annotations

import json
import os
import struct

from tests.support.swiftwal_cli import make_store, postgres_dir
from tests.support.pg_cluster import make_reachable


def segment(name: str, size: int = 16 << 20) -> bytes:
    from swiftwal.domain.walnames import Segment

    seg = Segment.parse(name, size)
    header = struct.pack("<HHIQI4xQII", 0xD110, 0x0002, seg.timeline, seg.start_lsn(size).value, 0,
                         7000000000000000042, size, 8192)
    return header + bytes(size - len(header))


def events(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


def test_json_logs_carry_stable_events(tmp_path, swiftwal_bin):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    wal_dir = postgres_dir(tmp_path / "wal")
    name = "000000010000000000000009"
    path = os.path.join(wal_dir, name)
    with open(path, "wb") as handle:
        handle.write(segment(name))
    os.chmod(path, 0o644)

    archived = store.run("--log-format", "json", "archive-wal", path)
    (event,) = [e for e in events(archived.stderr) if e["event"] == "wal.archived"]
    assert event["wal_name"] == name and event["bytes"] == 16 << 20
    assert event["stored_bytes"] < event["bytes"] and event["duration_s"] >= 0
    assert event["level"] == "info" and "timestamp" in event

    again = store.run("--log-format", "json", "archive-wal", path)
    assert [e["event"] for e in events(again.stderr)] == ["wal.already_archived"]

    restored = store.run("--log-format", "json", "restore-wal", name, os.path.join(wal_dir, "x"), cwd=wal_dir)
    assert [e["event"] for e in events(restored.stderr)] == ["wal.restored"]

    failed = store.run("--log-format", "json", "restore", "latest", os.path.join(wal_dir, "r"), check=False)
    assert failed.returncode == 12
    (failure,) = [json.loads(line) for line in failed.stderr.splitlines() if line.startswith("{")]
    assert failure["event"] == "command.failed" and failure["error_code"] == "backup-not-found"


def test_console_output_is_quiet_on_success(tmp_path, swiftwal_bin):
    store = make_store("local", str(make_reachable(tmp_path / "store")), swiftwal_bin)
    wal_dir = postgres_dir(tmp_path / "wal")
    name = "00000001000000000000000A"
    path = os.path.join(wal_dir, name)
    with open(path, "wb") as handle:
        handle.write(segment(name))
    os.chmod(path, 0o644)
    result = store.run("archive-wal", path)
    assert result.stdout == "" and result.stderr == ""
