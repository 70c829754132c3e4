"""Fault injection helpers: run swiftwal in the background as postgres, find
its process under runuser, kill it at a chosen moment, look into a store."""
from __future__ import annotations

import os
import signal
import subprocess
import time

from swiftwal.commands.context import open_storage
from swiftwal.config import load_settings
from tests.support.swiftwal_cli import _clean_env


def spawn(store, *args: str, env: dict | None = None, cwd: str = "/") -> subprocess.Popen:
    argv = ["runuser", "-u", "postgres", "--", store.swiftwal_bin, f"--config={store.config_path}", *args]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env={**_clean_env(), **(env or {})})


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except FileNotFoundError:
        return []


def descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found.append(child)
        found.extend(descendants(child))
    return found


def swiftwal_pid(parent: subprocess.Popen, timeout: float = 30) -> int:
    """The swiftwal python process started by ``runuser`` (``parent``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in children(parent.pid):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as handle:
                    if b"swiftwal" in handle.read():
                        return pid
            except FileNotFoundError:
                continue
        if parent.poll() is not None:
            raise AssertionError(f"swiftwal ended before it could be found: {parent.communicate()}")
        time.sleep(0.01)
    raise AssertionError("swiftwal did not start")


def kill_when(parent: subprocess.Popen, condition, timeout: float = 120, what: str = "") -> int:
    """SIGKILL swiftwal (not its children, as a crash would) once ``condition()``
    holds; returns runuser's exit status."""
    pid = swiftwal_pid(parent)
    deadline = time.monotonic() + timeout
    while not condition():
        if parent.poll() is not None:
            raise AssertionError(f"swiftwal ended before {what}: {parent.communicate()}")
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    parent.communicate(timeout=60)
    return parent.returncode


def adapter(store):
    return open_storage(load_settings({}, store.config_path, {}))


def hidden_names(store, prefix: str) -> list[str]:
    """Everything under ``prefix`` including what the port never lists
    (Swift segments, local temp files), as raw names."""
    storage = adapter(store)
    if store.kind == "local":
        top = os.path.join(store.location, prefix)
        return sorted(os.path.relpath(os.path.join(d, f), store.location)
                      for d, _, files in os.walk(top) for f in files)
    _, items = storage._conn().get_container(storage.container, full_listing=True)
    return sorted(i["name"] for i in items
                  if i["name"].startswith(prefix) or i["name"].startswith(".segments/" + prefix))
