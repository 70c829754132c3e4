"""Running the installed ``swiftwal`` as the server's user against a store.

Every command runs as ``postgres`` (as archive_command and restore_command
do), so restored files belong to the user that starts the server.
"""
from __future__ import annotations

import os
import subprocess
import uuid

import attrs


@attrs.define
class Store:
    """A config file for one fresh container (Swift) or directory (local)."""

    kind: str
    config_path: str
    location: str
    swiftwal_bin: str

    def command(self, *args: str) -> str:
        """The shell command PostgreSQL runs, e.g. ``archive-wal %p``."""
        return f"{self.swiftwal_bin} --config={self.config_path} " + " ".join(args)

    def run(self, *args: str, check: bool = True, env: dict | None = None, cwd: str | None = None,
            timeout: float = 300, extra_config: str | None = None) -> subprocess.CompletedProcess:
        config = self.config_path if extra_config is None else extra_config
        argv = ["runuser", "-u", "postgres", "--", self.swiftwal_bin, f"--config={config}", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                cwd=cwd or "/", env={**_clean_env(), **(env or {})})
        if check and result.returncode != 0:
            raise AssertionError(f"swiftwal {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result


def _clean_env() -> dict:
    keep = ("PATH", "LANG", "LC_ALL", "HOME")
    return {k: v for k, v in os.environ.items() if k in keep}


def shared_dir(base: str, name: str) -> str:
    """A directory both root and postgres can use."""
    path = os.path.join(base, name)
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def make_store(kind: str, directory: str, swiftwal_bin: str, swift=None, extra: dict | None = None) -> Store:
    os.chmod(directory, 0o755)
    lines = {}
    if kind == "swift":
        container = "t-" + uuid.uuid4().hex[:12]
        lines.update({"OS_AUTH_URL": swift.auth_url, "OS_USERNAME": swift.user,
                      "OS_PASSWORD": swift.key, "CONTAINER": container})
        location = container
    else:
        location = os.path.join(directory, "store")
        os.makedirs(location, exist_ok=True)
        _chown_postgres(location)
        lines["STORAGE"] = "file://" + location
    lines.update(extra or {})
    config_path = os.path.join(directory, f"swiftwal-{kind}.conf")
    with open(config_path, "w") as handle:
        handle.writelines(f"{k}={v}\n" for k, v in lines.items())
    os.chmod(config_path, 0o600)
    _chown_postgres(config_path)
    return Store(kind, config_path, location, swiftwal_bin)


def _chown_postgres(path: str) -> None:
    import pwd

    entry = pwd.getpwnam("postgres")
    os.chown(path, entry.pw_uid, entry.pw_gid)


def postgres_dir(path) -> str:
    """A directory the postgres user owns (where restore-wal writes)."""
    from tests.support.pg_cluster import make_reachable

    directory = make_reachable(path)
    _chown_postgres(str(directory))
    return str(directory)
