"""A real Keystone (identity v3) on 127.0.0.1, from Debian's ``python3-keystone``.

Everything lives under one directory given by the caller: ``keystone.conf``, the sqlite
database, fernet and credential keys, the PID file and the log.  The server is Keystone's own
WSGI script run under ``setsid``; ``stop()`` signals only the recorded PID, and only while its
command line is still the one recorded at start.

``keystone-manage bootstrap`` makes the admin user and project, the roles ``admin``, ``member``
and ``reader``, and the identity endpoint; :meth:`KeystoneServer.start` adds an
``object-store`` service whose endpoint is the caller's Swift proxy URL.  Passwords reach
``keystone-manage`` through its environment, never its arguments.

Keystone on sqlite sometimes answers a write with "database is locked" (HTTP 500): every
administrative request here is retried a few times.
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support.swift_server import process_runs, stop_process

PYTHON = "/usr/bin/python3"
WSGI_SCRIPT = "/usr/bin/keystone-wsgi-public"
MANAGE = "/usr/bin/keystone-manage"
REGION = "RegionOne"
START_TIMEOUT_S = 60.0


class KeystoneStartError(RuntimeError):
    """Keystone could not be set up or started; the message says why and shows the log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class KeystoneServer:
    """A running Keystone; build it with :meth:`start`."""

    admin_user = "admin"
    admin_project = "admin"

    def __init__(self, directory: Path, port: int, admin_password: str):
        self.directory = directory
        self.port = port
        self.admin_password = admin_password
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def start(cls, directory: str | os.PathLike, object_store_url: str) -> KeystoneServer:
        """Set up and start Keystone; ``object_store_url`` is the catalog's Swift endpoint,
        with ``%(project_id)s`` where the project goes."""
        directory = Path(directory).resolve()
        directory.mkdir(parents=True, exist_ok=True)
        server = cls(directory, free_port(), secrets.token_urlsafe(12))
        server._write_config()
        server._manage("db_sync")
        # In rollback-journal mode a reader left open by one request makes the next write
        # fail with "database is locked"; with a write-ahead log readers never block it.
        with contextlib.closing(sqlite3.connect(directory / "keystone.db")) as db:
            db.execute("PRAGMA journal_mode=WAL")
        server._manage("fernet_setup", "--keystone-user", "root", "--keystone-group", "root")
        server._manage("credential_setup", "--keystone-user", "root", "--keystone-group", "root")
        server._manage("bootstrap", "--bootstrap-username", cls.admin_user,
                       "--bootstrap-project-name", cls.admin_project,
                       "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
                       "--bootstrap-region-id", REGION, "--bootstrap-admin-url", server.auth_url,
                       "--bootstrap-public-url", server.auth_url,
                       "--bootstrap-internal-url", server.auth_url)
        try:
            server._spawn()
            server._wait_ready()
            server._add_object_store(object_store_url)
        except BaseException:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        pid, argv = self._recorded()
        if pid is not None:
            stop_process(pid, argv)
        (self.directory / "keystone.pid").unlink(missing_ok=True)

    def resume(self) -> None:
        """Start the server again after :meth:`stop` (same port, same data)."""
        self._spawn()
        self._wait_ready()

    def running(self) -> bool:
        pid, argv = self._recorded()
        return pid is not None and process_runs(pid, argv)

    # -- identities -------------------------------------------------------------------------

    def admin_token(self) -> str:
        return self.token(self.admin_user, self.admin_password, self.admin_project)

    def token(self, user: str, password: str, project: str) -> str:
        body = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"id": "default"}, "password": password}}},
            "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
        _, headers = self.api("POST", "/v3/auth/tokens", body)
        return headers["X-Subject-Token"]

    def create_project_user(self, project: str, user: str, password: str,
                            roles: tuple[str, ...] = ("member",)) -> dict[str, str]:
        """A project, a user in the default domain with ``roles`` on it; their ids."""
        admin = self.admin_token()
        project_id = self.api("POST", "/v3/projects", {"project": {
            "name": project, "domain_id": "default"}}, admin)[0]["project"]["id"]
        user_id = self.api("POST", "/v3/users", {"user": {
            "name": user, "domain_id": "default", "password": password,
            "default_project_id": project_id}}, admin)[0]["user"]["id"]
        all_roles = self.api("GET", "/v3/roles", None, admin)[0]["roles"]
        by_name = {role["name"]: role["id"] for role in all_roles}
        for role in roles:
            self.api("PUT", f"/v3/projects/{project_id}/users/{user_id}/roles/{by_name[role]}",
                     None, admin)
        return {"project_id": project_id, "user_id": user_id}

    def create_application_credential(self, user: str, password: str, project: str,
                                      user_id: str, name: str) -> tuple[str, str]:
        """``(id, secret)`` of a new application credential of ``user`` on ``project``."""
        token = self.token(user, password, project)
        body = {"application_credential": {"name": name}}
        credential = self.api("POST", f"/v3/users/{user_id}/application_credentials", body,
                              token)[0]["application_credential"]
        return credential["id"], credential["secret"]

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None,
            attempts: int = 8) -> tuple[dict, dict]:
        """``(json body, headers)`` of one request; a 500 (sqlite locked) is retried."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["X-Auth-Token"] = token
        for attempt in range(attempts):
            request = urllib.request.Request(self.url + path, data=data, method=method,
                                             headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    raw = response.read()
                    return (json.loads(raw) if raw else {}), dict(response.headers)
            except urllib.error.HTTPError as exc:
                if exc.code != 500 or attempt == attempts - 1:
                    detail = exc.read().decode(errors="replace")[:300]
                    raise KeystoneStartError(f"keystone {method} {path}: {exc.code} {detail}") \
                        from None
            time.sleep(0.2 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- internals --------------------------------------------------------------------------

    def _write_config(self) -> None:
        d = self.directory
        for sub in ("fernet-keys", "credential-keys"):
            (d / sub).mkdir(exist_ok=True)
        sections = {
            "DEFAULT": {"log_file": d / "keystone.log", "use_stderr": "false"},
            "database": {"connection": f"sqlite:///{d / 'keystone.db'}"},
            "token": {"provider": "fernet", "expiration": 3600},
            # bcrypt's cheapest cost: every password check of a test takes milliseconds,
            # not a second of a busy core.
            "identity": {"password_hash_rounds": 4},
            "fernet_tokens": {"key_repository": d / "fernet-keys"},
            "fernet_receipts": {"key_repository": d / "fernet-keys"},
            "credential": {"key_repository": d / "credential-keys"},
            "cache": {"enabled": "false"},
        }
        (d / "keystone.conf").write_text("".join(
            f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in body.items()) + "\n"
            for name, body in sections.items()))

    def _env(self) -> dict[str, str]:
        return {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                "OS_KEYSTONE_CONFIG_DIR": str(self.directory),
                "OS_BOOTSTRAP_PASSWORD": self.admin_password}

    def _manage(self, *args: str) -> None:
        argv = [MANAGE, "--config-file", str(self.directory / "keystone.conf"), *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                                cwd=self.directory, env=self._env())
        if result.returncode != 0:
            raise KeystoneStartError(f"keystone-manage {args[0]} exited {result.returncode}:\n"
                                     f"{result.stderr[-2000:]}\n{self._log_tail()}")

    def _argv(self) -> list[str]:
        return [PYTHON, WSGI_SCRIPT, "--host", "127.0.0.1", "--port", str(self.port)]

    def _spawn(self) -> None:
        argv = self._argv()
        env = {k: v for k, v in self._env().items() if k != "OS_BOOTSTRAP_PASSWORD"}
        with open(self.directory / "wsgi.log", "ab") as log:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                          cwd=self.directory, env=env, start_new_session=True)
        (self.directory / "keystone.argv").write_text(json.dumps(argv))
        (self.directory / "keystone.pid").write_text(f"{self._proc.pid}\n")

    def _recorded(self) -> tuple[int | None, list[str]]:
        try:
            pid = int((self.directory / "keystone.pid").read_text())
            argv = json.loads((self.directory / "keystone.argv").read_text())
        except (OSError, ValueError):
            return None, []
        return pid, argv

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise KeystoneStartError(f"keystone exited at start ({self._proc.returncode})\n"
                                         + self._log_tail())
            try:
                urllib.request.urlopen(self.auth_url, timeout=5).read()
                return
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise KeystoneStartError(f"keystone did not answer after {START_TIMEOUT_S:.0f} s "
                                 f"({last})\n{self._log_tail()}")

    def _add_object_store(self, url: str) -> None:
        admin = self.admin_token()
        service = self.api("POST", "/v3/services", {"service": {
            "type": "object-store", "name": "swift"}}, admin)[0]["service"]["id"]
        for interface in ("public", "internal", "admin"):
            self.api("POST", "/v3/endpoints", {"endpoint": {
                "service_id": service, "interface": interface, "region_id": REGION,
                "url": url}}, admin)

    def _log_tail(self) -> str:
        parts = []
        for name in ("keystone.log", "wsgi.log"):
            try:
                lines = (self.directory / name).read_text(errors="replace").splitlines()
            except OSError:
                continue
            parts.append(f"--- {name} ---\n" + "\n".join(lines[-15:]))
        return "\n".join(parts)


class KeystoneAccount:
    """A Keystone, the Swift proxy that trusts it, and one Swift user in it: project
    ``project`` with user ``user`` (role ``member``) and an application credential of that
    user.  ``stop()`` stops the proxy and Keystone (Swift itself belongs to the caller)."""

    project = "walproject"
    user = "waluser"

    def __init__(self, server: KeystoneServer, swift, proxy_url: str, password: str,
                 ids: dict[str, str], credential: tuple[str, str]):
        self.server = server
        self.swift = swift
        self.proxy_url = proxy_url
        self.password = password
        self.project_id = ids["project_id"]
        self.user_id = ids["user_id"]
        self.credential_id, self.credential_secret = credential

    @property
    def auth_url(self) -> str:
        return self.server.auth_url

    def password_env(self) -> dict[str, str]:
        """Keystone v3 password auth as ``OS_*`` variables."""
        return {"OS_AUTH_URL": self.auth_url, "OS_USERNAME": self.user,
                "OS_PASSWORD": self.password, "OS_PROJECT_NAME": self.project,
                "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default",
                "OS_REGION_NAME": REGION, "OS_INTERFACE": "public"}

    def credential_env(self) -> dict[str, str]:
        """Application-credential auth as ``OS_*`` variables."""
        return {"OS_AUTH_URL": self.auth_url, "OS_AUTH_TYPE": "v3applicationcredential",
                "OS_APPLICATION_CREDENTIAL_ID": self.credential_id,
                "OS_APPLICATION_CREDENTIAL_SECRET": self.credential_secret}

    def swift_account_containers(self) -> list[str]:
        """The containers in the project's Swift account, asked with a fresh token."""
        token = self.server.token(self.user, self.password, self.project)
        request = urllib.request.Request(
            f"{self.proxy_url}/v1/AUTH_{self.project_id}?format=json",
            headers={"X-Auth-Token": token})
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return [item["name"] for item in json.loads(raw or b"[]")]

    def token_requests(self) -> int:
        """How many tokens Keystone was asked for so far (from its request log)."""
        try:
            text = (self.server.directory / "wsgi.log").read_text(errors="replace")
        except OSError:
            return 0
        return text.count('"POST /v3/auth/tokens ')

    def stop(self) -> None:
        self.swift.stop_keystone_proxy()
        self.server.stop()


def start_account(directory: str | os.PathLike, swift) -> KeystoneAccount:
    """Keystone under ``directory``, a Keystone proxy on ``swift``'s rings, and the account."""
    port = free_port()
    server = KeystoneServer.start(directory, f"http://127.0.0.1:{port}/v1/AUTH_%(project_id)s")
    try:
        proxy = swift.start_keystone_proxy(port, server.url, server.admin_user,
                                           server.admin_password, server.admin_project)
        password = secrets.token_urlsafe(12)
        ids = server.create_project_user(KeystoneAccount.project, KeystoneAccount.user, password)
        credential = server.create_application_credential(
            KeystoneAccount.user, password, KeystoneAccount.project, ids["user_id"], "swiftwal")
    except BaseException:
        swift.stop_keystone_proxy()
        server.stop()
        raise
    return KeystoneAccount(server, swift, proxy, password, ids, credential)
