"""The container belongs to one PostgreSQL cluster.

The first archive-wal or backup records the cluster's system identifier in
``swiftwal.json``; afterwards WAL and backups from any other cluster are
refused (0.2.2 only warned that two servers in one container conflict).
"""
from __future__ import annotations

import io
import json

from swiftwal.domain import errors, layout

IDENTITY_OBJECT = layout.IDENTITY_OBJECT


def ensure_cluster_identity(storage, system_identifier: str, pg_version: str | None = None) -> None:
    recorded = _recorded(storage)
    if recorded is None:
        payload = json.dumps({"system_identifier": system_identifier, "pg_version": pg_version},
                             sort_keys=True).encode()
        try:
            storage.put(IDENTITY_OBJECT, io.BytesIO(payload), create_only=True, size=len(payload))
            return
        except errors.AlreadyExists:
            recorded = _recorded(storage)
    if recorded is not None and recorded != system_identifier:
        raise errors.InvariantViolated(
            f"{storage.describe()} belongs to the cluster with system identifier {recorded}, "
            f"not {system_identifier}",
            hint="give each server its own container; two clusters in one archive destroy each other's WAL")


def _recorded(storage) -> str | None:
    try:
        with storage.get(IDENTITY_OBJECT) as reader:
            data = json.loads(reader.read())
    except errors.ObjectNotFound:
        return None
    except ValueError:
        raise errors.IntegrityError(f"{IDENTITY_OBJECT} in {storage.describe()} is unreadable") from None
    value = data.get("system_identifier") if isinstance(data, dict) else None
    return str(value) if value is not None else None


def server_identity(options) -> tuple[str, str | None] | None:
    """``(system identifier, major version)`` of the server a backup will
    copy, asked with psql and the backup's connection options, so that a
    backup from the wrong cluster is refused before anything is uploaded.
    None when psql cannot tell (no psql, a replication-only role): the check
    after the upload still applies."""
    import os
    import shutil
    import subprocess

    psql = os.path.join(options.pg_bin_dir, "psql") if options.pg_bin_dir else shutil.which("psql")
    if not psql or not os.access(psql, os.X_OK):
        return None
    args = [psql, "-X", "-A", "-t", "-w", "-d", "postgres", "-c",
            "SELECT system_identifier, current_setting('server_version_num') FROM pg_control_system()"]
    for option, value in (("--host", options.host), ("--port", options.port),
                          ("--username", options.username)):
        if value:
            args.append(f"{option}={value}")
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    identifier, _, version = done.stdout.strip().partition("|")
    if done.returncode != 0 or not identifier.isdigit():
        return None
    major = str(int(version) // 10000) if version.isdigit() else None
    return identifier, major
