"""The container belongs to one PostgreSQL cluster.

The first archive-wal or backup records the cluster's system identifier in
``swiftwal.json``; afterwards WAL and backups from any other cluster are
refused (0.2.2 only warned that two servers in one container conflict).

archive-wal runs once per segment: reading ``swiftwal.json`` on every call
cost a GET each time.  ``RememberedIdentities`` keeps the identifier the
store confirmed in a small file under the cache directory, one per store,
and is believed for ``REMEMBERED_FOR`` seconds; any other identifier still
goes to the store (and is refused there).  What the remembered answer can
miss in that time is a container emptied and taken over by another cluster,
or another cluster creating ``swiftwal.json`` at the very instant this one
did (create-only on Swift, docs/layout.md): that cluster's next check, or
the first segment name both archive, reveals it.
"""
from __future__ import annotations

import io
import json
import os
import time

from swiftwal.domain import errors, layout

IDENTITY_OBJECT = layout.IDENTITY_OBJECT
#: How long a confirmed identifier is believed without asking the store again.
REMEMBERED_FOR = 3600.0


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


class RememberedIdentities:
    """The ``identities`` of ``walstore.store_wal`` across processes: an
    identifier is in it when this store confirmed it within
    ``REMEMBERED_FOR`` seconds; ``add`` (after the store confirmed it)
    remembers it.  A file that cannot be read or written only costs the
    store's answer again."""

    def __init__(self, directory: str) -> None:
        self._path = os.path.join(directory, "system-identifier")

    @classmethod
    def for_store(cls, settings) -> RememberedIdentities:
        """The memory of the store ``settings`` name (its secret-free settings key it)."""
        from swiftwal.adapters.spool import cache_root, spool_directory

        return cls(spool_directory(cache_root(settings.get("CACHE_DIR")), "identity",
                                   settings.public_key()))

    def __contains__(self, system_identifier: str) -> bool:
        try:
            with open(self._path, "rb") as handle:
                remembered = handle.read(64).decode("ascii", "replace")
                age = time.time() - os.fstat(handle.fileno()).st_mtime
        except OSError:
            return False
        return remembered == system_identifier and 0 <= age < REMEMBERED_FOR

    def add(self, system_identifier: str) -> None:
        from swiftwal.adapters.atomic import write_atomically

        temp = f"{self._path}.{os.getpid()}.tmp"
        try:
            write_atomically(self._path, system_identifier.encode("ascii"), temp, durable=False)
        except OSError:
            pass
