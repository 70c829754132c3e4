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

