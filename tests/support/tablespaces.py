"""A cluster's tablespaces for the tests that back them up and restore them:
each in a directory of its own that the postgres user owns, a table in each,
and what a directory holds, to tell that a restore left it alone."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.support.cycle import insert
from tests.support.pg_cluster import PgCluster

NAMES = ("one", "two")
#: A table in each tablespace, and one in the data directory.
TABLES = ("t_one", "t_two", "t_base")


def tablespace_dir(pg_factory, name: str) -> Path:
    path = pg_factory.directory(name)
    shutil.chown(path, "postgres", "postgres")
    return path


def add_tablespaces(pg_factory, primary: PgCluster, rows_each: int = 100):
    """Tables ``t_one`` and ``t_two`` in new tablespaces ``one`` and ``two``,
    ``t_base`` in the data directory, each with rows 1..``rows_each``: (the
    tablespaces' directories by name, their OIDs by name)."""
    locations = {}
    for name in NAMES:
        locations[name] = tablespace_dir(pg_factory, f"ts_{name}")
        primary.sql(f"CREATE TABLESPACE {name} LOCATION '{locations[name]}'")
        primary.sql(f"CREATE TABLE t_{name} (i int) TABLESPACE {name}")
    primary.sql("CREATE TABLE t_base (i int)")
    for table in TABLES:
        insert(primary, 1, rows_each, table)
    oids = {name: int(primary.sql(f"SELECT oid FROM pg_tablespace WHERE spcname = '{name}'"))
            for name in locations}
    return locations, oids


def snapshot(directory: Path) -> dict:
    """Every entry under ``directory``: its kind, size and modification time."""
    found = {}
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root, name)
            info = path.lstat()
            found[str(path.relative_to(directory))] = (info.st_mode, info.st_size,
                                                       info.st_mtime_ns)
    return found
