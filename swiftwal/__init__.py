"""swiftwal: PostgreSQL base backups, WAL archiving and point-in-time recovery
into OpenStack Swift or a local directory.

The package root exposes the pure planning API only (no storage client is
imported), so ``from swiftwal import plan_prune`` is cheap.  The names load on
first use: ``archive_command`` starts a process per WAL file and must not pay
for the planners it does not need.
"""
from __future__ import annotations

_EXPORTS = {
    "BackupKey": "backup", "BackupRecord": "backup",
    "CleanupPlan": "cleanup", "plan_archive_cleanup": "cleanup",
    "Lsn": "lsn",
    "Decision": "prune", "PrunePlan": "prune", "PrunePolicy": "prune", "plan_prune": "prune",
    "TimelineHistory": "timeline",
    "DEFAULT_SEGMENT_SIZE": "walnames", "BackupHistoryFile": "walnames", "HistoryFile": "walnames",
    "PartialSegment": "walnames", "Segment": "walnames", "parse_wal_filename": "walnames",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name == "__version__":
        return _version()
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'swiftwal' has no attribute {name!r}")
    from importlib import import_module  # not at import time: it costs archive_command time

    value = getattr(import_module(f"swiftwal.domain.{module}"), name)
    globals()[name] = value
    return value


def _version() -> str:
    """The installed distribution's version (setup.cfg is its one source)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("swiftwal")
    except PackageNotFoundError:  # run from a source tree that was never installed
        value = "unknown"
    globals()["__version__"] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | {"__version__"})
