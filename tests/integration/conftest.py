"""Fixtures that run the real servers: a single-node Swift for the whole session and
PostgreSQL clusters per test.  A server that cannot start fails the tests that need it, with
its logs; nothing here skips."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.support.keystone_server import KeystoneStartError
from tests.support.pg_cluster import PgCluster, PgError, bin_dir_for, make_reachable, pg_bin_dirs
from tests.support.swift_server import SwiftServer, SwiftStartError

#: Small enough that the large-object paths run with a few megabytes.
SWIFT_MAX_FILE_SIZE = 10 * 1024 * 1024
#: Every major version the test command must cover.
PG_MAJORS = (15, 16, 17, 18)
VENV = Path(os.environ.get("SWIFTWAL_VENV", "/opt/swiftwal/venv"))


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def swift(tmp_path_factory) -> SwiftServer:
    """A running Swift (``max_file_size`` 10 MiB); ``.env()`` gives the OS_* variables."""
    try:
        server = SwiftServer.start(tmp_path_factory.mktemp("swift"),
                                   max_file_size=SWIFT_MAX_FILE_SIZE)
    except SwiftStartError as exc:
        pytest.fail(f"the Swift server could not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def keystone(swift, tmp_path_factory):
    """A real Keystone v3 and a second Swift proxy that trusts it (started only for the tests
    that ask for it); see ``tests.support.keystone_server.KeystoneAccount``."""
    from tests.support.keystone_server import start_account

    try:
        account = start_account(tmp_path_factory.mktemp("keystone"), swift)
    except (KeystoneStartError, SwiftStartError) as exc:
        pytest.fail(f"Keystone could not start: {exc}", pytrace=False)
    try:
        yield account
    finally:
        account.stop()


@pytest.fixture
def swift_container(swift) -> str:
    """A container name no other test uses (not created)."""
    return f"test-{uuid.uuid4().hex[:12]}"


class PgFactory:
    """Makes PostgreSQL clusters under one directory; :meth:`cleanup` removes them all."""

    def __init__(self, base: Path):
        self.base = base
        self.clusters: list[PgCluster] = []

    def __call__(self, name: str | None = None, *, version: int | None = None,
                 start: bool = True, **kwargs) -> PgCluster:
        """``PgCluster.init`` in a new directory (``version``: a major version, default 15),
        started unless ``start=False``; other arguments go to ``PgCluster.init``."""
        if version is not None:
            kwargs["bin_dir"] = bin_dir_for(version)
        directory = self.base / (name or f"pg{len(self.clusters) + 1}")
        cluster = PgCluster.init(directory, **kwargs)
        self.clusters.append(cluster)
        if start:
            cluster.start()
        return cluster

    def adopt(self, data_dir, **kwargs) -> PgCluster:
        """``PgCluster.adopt`` (not started), removed with the others at the end."""
        cluster = PgCluster.adopt(data_dir, **kwargs)
        self.clusters.append(cluster)
        return cluster

    def directory(self, name: str) -> Path:
        """A fresh directory the postgres user can reach (restore targets, archives)."""
        return make_reachable(self.base / name)

    def cleanup(self) -> None:
        errors = []
        for cluster in reversed(self.clusters):
            try:
                cluster.destroy()
            except PgError as exc:
                errors.append(str(exc))
        shutil.rmtree(self.base, ignore_errors=True)
        if errors:
            raise PgError("could not stop every cluster:\n" + "\n".join(errors))


@pytest.fixture
def pg_factory() -> PgFactory:
    # Not under tmp_path: pytest makes its temporary root private again whenever any pytest
    # run starts, which would lock the postgres user out of a running cluster.
    factory = PgFactory(make_reachable(tempfile.mkdtemp(prefix="swiftwal-pg-")))
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture(scope="session")
def pg_bin(request) -> dict[int, Path]:
    """Bin directories by major version; fails unless 15, 16, 17 and 18 are all installed."""
    dirs = pg_bin_dirs()
    missing = [major for major in PG_MAJORS if major not in dirs]
    if missing:
        pytest.fail(f"PostgreSQL {missing} not installed: run scripts/install-deps",
                    pytrace=False)
    return dirs


@pytest.fixture(scope="session")
def swiftwal_bin() -> Path:
    """The installed ``swiftwal`` command, which the postgres user can run."""
    path = VENV / "bin" / "swiftwal"
    check = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)],
                           cwd="/")
    if check.returncode != 0:
        pytest.fail(f"{path} is missing or not executable by postgres: run scripts/install-deps",
                    pytrace=False)
    return path


@pytest.fixture(params=["swift", "local"])
def store(request, tmp_path, swiftwal_bin):
    """The real ``swiftwal`` command line set up against one store, once against
    Swift and once against a local directory (a module can keep one kind with
    ``pytestmark = pytest.mark.parametrize("store", ["swift"], indirect=True)``)."""
    from tests.support.swiftwal_cli import make_store

    swift = request.getfixturevalue("swift") if request.param == "swift" else None
    return make_store(request.param, str(make_reachable(tmp_path / "store")), swiftwal_bin, swift)

