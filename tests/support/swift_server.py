"""A real single-node OpenStack Swift on 127.0.0.1, from Debian's packages.

Everything lives under one directory given by the caller: configuration and rings (``etc``),
object storage (``srv``), PID files (``run``) and logs (``log``).  Each daemon runs in its own
session with a PID file; ``stop()`` signals only those PIDs, and only while their command line
is still the one recorded at start.

Swift 2.30 reads ``/etc/swift/swift.conf`` whatever ``swift_dir`` says, so every daemon is
started through a small launcher that points Swift at this server's ``swift.conf`` (hash
prefix, storage policy, ``max_file_size``) before running the packaged script.  That leaves the
system's ``/etc/swift`` untouched and lets each server have its own ``max_file_size``.

Command line (prints shell ``export`` lines for the ``swift`` client and swiftwal)::

    python -m tests.support.swift_server start DIR [--max-file-size N]
    python -m tests.support.swift_server stop DIR
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SWIFT_PYTHON = "/usr/bin/python3"
USER = "test:tester"
KEY = "testing"
# The updaters put containers into account listings and retry delayed container updates;
# without the container updater the expirer never sees its queue.
DAEMONS = ("memcached", "account", "container", "object", "container-updater", "object-updater",
           "expirer", "proxy")
#: Started on demand by :meth:`SwiftServer.start_keystone_proxy`.
KEYSTONE_PROXY = "proxy-keystone"
_SCRIPTS = {KEYSTONE_PROXY: ("swift-proxy-server", "proxy-keystone-server.conf"),
            "container-updater": ("swift-container-updater", "container-server.conf"),
            "object-updater": ("swift-object-updater", "object-server.conf"),
            "expirer": ("swift-object-expirer", "object-expirer.conf")}
START_TIMEOUT_S = 60.0

_LAUNCHER = '''\
import runpy, sys
from swift.common import constraints, storage_policy, utils
utils.set_swift_dir(sys.argv[1])
constraints.reload_constraints()
storage_policy.reload_storage_policies()
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
'''

# One partition (part power 0): the container updater forks a child per partition on every
# sweep; with 64 partitions its sweeps ran back to back and took most of both cores.
_RINGS = '''\
import sys
from swift.common.ring import RingBuilder
swift_dir = sys.argv[1]
for name, port in zip(("account", "container", "object"), sys.argv[2:5]):
    builder = RingBuilder(0, 1, 1)
    builder.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1",
                     "port": int(port), "device": "d1", "weight": 100})
    builder.rebalance()
    builder.get_ring().save("%s/%s.ring.gz" % (swift_dir, name))
'''

_PIPELINE = ("catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl "
             "tempauth copy container-quotas account-quotas slo dlo versioned_writes symlink "
             "proxy-logging proxy-server")
_FILTERS = {"catch_errors": "catch_errors", "gatekeeper": "gatekeeper",
            "healthcheck": "healthcheck", "proxy-logging": "proxy_logging", "cache": "memcache",
            "listing_formats": "listing_formats", "bulk": "bulk", "tempurl": "tempurl",
            "tempauth": "tempauth", "copy": "copy", "container-quotas": "container_quotas",
            "account-quotas": "account_quotas", "slo": "slo", "dlo": "dlo",
            "versioned_writes": "versioned_writes", "symlink": "symlink"}


class SwiftStartError(RuntimeError):
    """The Swift server could not be started; the message says why and shows the logs."""


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _check_xattrs(directory: Path) -> None:
    probe = directory / ".xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.swiftwal.probe", b"1")
    except OSError as exc:
        raise SwiftStartError(
            f"the file system of {directory} does not support user extended attributes "
            f"({exc.strerror}); Swift needs them: put the server directory on ext4, xfs or "
            "tmpfs (for example under /tmp or /dev/shm)") from exc
    finally:
        probe.unlink()


def _ini(sections: dict[str, dict[str, object]]) -> str:
    return "".join(f"[{name}]\n" + "".join(f"{k} = {v}\n" for k, v in body.items()) + "\n"
                   for name, body in sections.items())


def process_runs(pid: int, argv: list[str]) -> bool:
    """True if ``pid`` runs ``argv`` still; a reused PID or a zombie does not count."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return cmdline.split(b"\0")[:-1] == [arg.encode() for arg in argv]


def reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child: init reaps it


def stop_process(pid: int, argv: list[str]) -> None:
    """SIGTERM ``pid`` if it still runs ``argv``, SIGKILL after 10 s, and wait until it is gone."""
    if not process_runs(pid, argv):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while process_runs(pid, argv) and time.monotonic() < deadline:
        reap(pid)
        time.sleep(0.05)
    if process_runs(pid, argv):
        os.kill(pid, signal.SIGKILL)
        while process_runs(pid, argv):
            reap(pid)
            time.sleep(0.05)
    reap(pid)


class SwiftServer:
    """A running single-node Swift; build it with :meth:`start` or :meth:`attach`."""

    user = USER
    key = KEY

    def __init__(self, directory: Path, ports: dict[str, int], max_file_size: int | None):
        self.directory = directory
        self.ports = ports
        self.max_file_size = max_file_size
        self.swift_dir = directory / "etc"
        self.run_dir = directory / "run"
        self.log_dir = directory / "log"
        self._procs: dict[str, subprocess.Popen] = {}

    @property
    def proxy_port(self) -> int:
        return self.ports["proxy"]

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}/auth/v1.0"

    def env(self) -> dict[str, str]:
        return {"OS_AUTH_URL": self.auth_url, "OS_USERNAME": self.user, "OS_PASSWORD": self.key}

    # -- life cycle -------------------------------------------------------------------------

    @classmethod
    def start(cls, directory: str | os.PathLike, max_file_size: int | None = None) -> SwiftServer:
        directory = Path(directory).resolve()
        for sub in ("etc", "srv/d1", "run", "log"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        _check_xattrs(directory / "srv")
        server = cls(directory, dict(zip(DAEMONS, _free_ports(len(DAEMONS)))), max_file_size)
        if server.running():
            raise SwiftStartError(f"a Swift server already runs from {directory}")
        server._write_config()
        (directory / "state.json").write_text(
            json.dumps({"ports": server.ports, "max_file_size": max_file_size}))
        try:
            for name in DAEMONS:
                server._spawn(name)
            server._wait_healthy()
        except BaseException:
            server.stop()
            raise
        return server

    @classmethod
    def attach(cls, directory: str | os.PathLike) -> SwiftServer:
        """The server started earlier from ``directory`` (for example by the command line)."""
        directory = Path(directory).resolve()
        state = json.loads((directory / "state.json").read_text())
        return cls(directory, state["ports"], state["max_file_size"])

    def stop(self) -> None:
        self._kill(KEYSTONE_PROXY)
        for name in reversed(DAEMONS):
            self._kill(name)

    def start_keystone_proxy(self, port: int, identity_url: str, service_user: str,
                             service_password: str, service_project: str) -> str:
        """A second proxy on ``port``, over the same rings and storage, that accepts Keystone
        tokens (``authtoken`` + ``keystoneauth``; roles ``admin`` and ``member`` may use their
        project's account).  ``identity_url`` is Keystone's root (no ``/v3``); the service
        user validates tokens.  Returns the proxy's base URL."""
        etc = self.swift_dir
        common = {"bind_ip": "127.0.0.1", "workers": 0, "user": "root", "swift_dir": etc,
                  "devices": self.directory / "srv", "mount_check": "false",
                  "disable_fallocate": "true", "recon_cache_path": self.run_dir}
        filters = {f"filter:{k}": {"use": f"egg:swift#{v}"} for k, v in _FILTERS.items()
                   if k != "tempauth"}
        filters["filter:cache"] = {"use": "egg:swift#memcache",
                                   "memcache_servers": f"127.0.0.1:{self.ports['memcached']}"}
        filters["filter:authtoken"] = {
            "paste.filter_factory": "keystonemiddleware.auth_token:filter_factory",
            "www_authenticate_uri": identity_url, "auth_url": identity_url,
            "auth_type": "password", "username": service_user, "password": service_password,
            "project_name": service_project, "user_domain_id": "default",
            "project_domain_id": "default", "delay_auth_decision": "true",
            "memcached_servers": f"127.0.0.1:{self.ports['memcached']}"}
        filters["filter:keystoneauth"] = {"use": "egg:swift#keystoneauth",
                                          "operator_roles": "admin, member"}
        pipeline = _PIPELINE.replace(" tempauth ", " authtoken keystoneauth ")
        conf = etc / "proxy-keystone-server.conf"
        conf.write_text(_ini({
            "DEFAULT": {**common, "bind_port": port, "log_name": "proxy-keystone"},
            "pipeline:main": {"pipeline": pipeline},
            "app:proxy-server": {"use": "egg:swift#proxy", "account_autocreate": "true"},
            **filters}))
        os.chmod(conf, 0o600)  # holds the service password
        self.ports[KEYSTONE_PROXY] = port
        self._spawn(KEYSTONE_PROXY)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._procs[KEYSTONE_PROXY].poll() is not None:
                raise SwiftStartError("the Keystone proxy exited at start\n"
                                      + self._log_tails([KEYSTONE_PROXY]))
            try:
                urllib.request.urlopen(f"{base}/healthcheck", timeout=5).read()
                return base
            except (OSError, urllib.error.URLError) as exc:
                if time.monotonic() > deadline:
                    self._kill(KEYSTONE_PROXY)
                    raise SwiftStartError(f"the Keystone proxy did not answer ({exc})\n"
                                          + self._log_tails([KEYSTONE_PROXY])) from None
            time.sleep(0.2)

    def stop_keystone_proxy(self) -> None:
        self._kill(KEYSTONE_PROXY)

    def stop_proxy(self) -> None:
        """Stop only the proxy: clients see connection refused, as in an outage."""
        self._kill("proxy")

    def start_proxy(self) -> None:
        self._spawn("proxy")
        self._wait_healthy()

    def running(self) -> list[str]:
        return [name for name in DAEMONS if self._pid(name) is not None]

    # -- internals --------------------------------------------------------------------------

    def _argv(self, name: str) -> list[str]:
        if name == "memcached":
            return ["/usr/bin/memcached", "-u", "memcache", "-l", "127.0.0.1",
                    "-p", str(self.ports["memcached"]), "-U", "0", "-m", "64"]
        script, conf = _SCRIPTS.get(name, (f"swift-{name}-server", f"{name}-server.conf"))
        return [SWIFT_PYTHON, str(self.swift_dir / "launch.py"), str(self.swift_dir),
                f"/usr/bin/{script}", str(self.swift_dir / conf), "--verbose"]

    def _write_config(self) -> None:
        etc = self.swift_dir
        (etc / "launch.py").write_text(_LAUNCHER)
        constraints = {} if self.max_file_size is None else {"max_file_size": self.max_file_size}
        (etc / "swift.conf").write_text(_ini({
            "swift-hash": {"swift_hash_path_prefix": secrets.token_hex(8),
                           "swift_hash_path_suffix": secrets.token_hex(8)},
            "storage-policy:0": {"name": "Policy-0", "default": "yes"},
            "swift-constraints": constraints}))
        common = {"bind_ip": "127.0.0.1", "workers": 0, "user": "root", "swift_dir": etc,
                  "devices": self.directory / "srv", "mount_check": "false",
                  "disable_fallocate": "true", "recon_cache_path": self.run_dir}
        memcache = {"use": "egg:swift#memcache",
                    "memcache_servers": f"127.0.0.1:{self.ports['memcached']}"}
        # Unthrottled (0): on a busy test machine the default 50/s made sweeps take minutes.
        # Each sweep forks a child per partition (one with this ring) that costs about a
        # second of CPU: at intervals of 2 and 5 s the updaters took half a core while idle.
        updaters = {"container": {"container-updater": {"interval": 10,
                                                        "containers_per_second": 0}},
                    "object": {"object-updater": {"interval": 30, "objects_per_second": 0}}}
        for name in ("account", "container", "object"):
            (etc / f"{name}-server.conf").write_text(_ini({
                "DEFAULT": {**common, "bind_port": self.ports[name], "log_name": f"{name}-server"},
                "pipeline:main": {"pipeline": f"{name}-server"},
                f"app:{name}-server": {"use": f"egg:swift#{name}"},
                **updaters.get(name, {})}))
        filters = {f"filter:{k}": {"use": f"egg:swift#{v}"} for k, v in _FILTERS.items()}
        filters["filter:cache"] = memcache
        filters["filter:tempauth"]["user_test_tester"] = "testing .admin"
        (etc / "proxy-server.conf").write_text(_ini({
            "DEFAULT": {**common, "bind_port": self.ports["proxy"], "log_name": "proxy-server"},
            "pipeline:main": {"pipeline": _PIPELINE},
            "app:proxy-server": {"use": "egg:swift#proxy", "account_autocreate": "true"},
            **filters}))
        # Named object-expirer.conf, the expirer reads its internal client from this same file.
        (etc / "object-expirer.conf").write_text(_ini({
            "DEFAULT": {**common, "log_name": "object-expirer"},
            "object-expirer": {"interval": 2, "dequeue_from_legacy": "true"},
            "pipeline:main": {"pipeline": "catch_errors proxy-logging cache proxy-server"},
            "app:proxy-server": {"use": "egg:swift#proxy", "account_autocreate": "true"},
            "filter:cache": memcache,
            "filter:catch_errors": {"use": "egg:swift#catch_errors"},
            "filter:proxy-logging": {"use": "egg:swift#proxy_logging"}}))
        ports = [str(self.ports[name]) for name in ("account", "container", "object")]
        subprocess.run([SWIFT_PYTHON, "-c", _RINGS, str(etc), *ports], check=True,
                       capture_output=True, timeout=60)

    def _spawn(self, name: str) -> None:
        argv = self._argv(name)
        with open(self.log_dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    cwd=self.directory, start_new_session=True)
        (self.run_dir / f"{name}.argv").write_text(json.dumps(argv))
        (self.run_dir / f"{name}.pid").write_text(f"{proc.pid}\n")
        self._procs[name] = proc

    def _pid(self, name: str) -> int | None:
        try:
            pid = int((self.run_dir / f"{name}.pid").read_text())
            argv = json.loads((self.run_dir / f"{name}.argv").read_text())
        except (OSError, ValueError):
            return None
        return pid if process_runs(pid, argv) else None

    def _kill(self, name: str) -> None:
        pid = self._pid(name)
        if pid is not None:
            stop_process(pid, json.loads((self.run_dir / f"{name}.argv").read_text()))
        (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        self._procs.pop(name, None)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last_error = "no answer"
        while time.monotonic() < deadline:
            # Ask our own children directly: until exec, /proc shows the parent's command line.
            dead = [name for name in DAEMONS if (self._procs[name].poll() is not None
                                                 if name in self._procs
                                                 else self._pid(name) is None)]
            if dead:
                raise SwiftStartError(f"Swift daemon(s) {', '.join(dead)} exited at start\n"
                                      + self._log_tails(dead))
            try:
                self._probe()
                return
            except (OSError, urllib.error.URLError) as exc:
                last_error = str(exc)
            time.sleep(0.2)
        raise SwiftStartError(f"Swift was not healthy after {START_TIMEOUT_S:.0f} s "
                              f"({last_error})\n" + self._log_tails(DAEMONS))

    def _probe(self) -> None:
        """Health check, then an authenticated container PUT and DELETE."""
        base = f"http://127.0.0.1:{self.proxy_port}"
        urllib.request.urlopen(f"{base}/healthcheck", timeout=5).read()
        auth = urllib.request.Request(self.auth_url,
                                      headers={"X-Auth-User": self.user, "X-Auth-Key": self.key})
        with urllib.request.urlopen(auth, timeout=5) as response:
            url, token = response.headers["X-Storage-Url"], response.headers["X-Auth-Token"]
        for method in ("PUT", "DELETE"):
            request = urllib.request.Request(f"{url}/swiftwal-start-probe", method=method,
                                             headers={"X-Auth-Token": token})
            urllib.request.urlopen(request, timeout=10).read()

    def _log_tails(self, names) -> str:
        parts = []
        for name in names:
            try:
                lines = (self.log_dir / f"{name}.log").read_text(errors="replace").splitlines()
            except OSError:
                continue
            parts.append(f"--- {name}.log ---\n" + "\n".join(lines[-15:]))
        return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.swift_server")
    sub = parser.add_subparsers(dest="action", required=True)
    start = sub.add_parser("start", help="start a server and print shell export lines")
    start.add_argument("directory")
    start.add_argument("--max-file-size", type=int, default=None)
    stop = sub.add_parser("stop", help="stop the server started from DIR")
    stop.add_argument("directory")
    args = parser.parse_args(argv)
    if args.action == "start":
        try:
            server = SwiftServer.start(args.directory, max_file_size=args.max_file_size)
        except SwiftStartError as exc:
            print(f"swift_server: {exc}", file=sys.stderr)
            return 1
        for key, value in server.env().items():
            print(f"export {key}={shlex.quote(value)}")
    else:
        SwiftServer.attach(args.directory).stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
