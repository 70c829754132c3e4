"""The domain is pure: no I/O, no clock, no logging; the package root stays cheap."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).resolve().parents[2] / "swiftwal" / "domain"
FORBIDDEN_MODULES = {
    "os", "io", "sys", "subprocess", "socket", "select", "selectors", "shutil", "tempfile",
    "pathlib", "glob", "time", "logging", "structlog", "swiftclient", "urllib", "http",
    "requests", "asyncio", "threading", "multiprocessing", "signal", "random", "secrets",
    "uuid", "zstandard", "gzip", "tarfile", "sqlite3", "builtins", "importlib",
}
FORBIDDEN_CALLS = {"open", "print", "input", "exec", "eval", "__import__", "breakpoint"}
FORBIDDEN_ATTRIBUTES = {"now", "utcnow", "today", "time", "monotonic", "perf_counter",
                        "fromtimestamp", "utcfromtimestamp"}
SOURCES = sorted(DOMAIN.glob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_domain_module_does_no_io_and_reads_no_clock(path):
    tree = ast.parse(path.read_text(), str(path))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            names = []
        problems += [f"imports {n}" for n in names if n.split(".")[0] in FORBIDDEN_MODULES]
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                problems.append(f"calls {func.id}()")
            if isinstance(func, ast.Attribute) and func.attr in FORBIDDEN_ATTRIBUTES:
                problems.append(f"calls .{func.attr}()")
    assert not problems, f"{path.name}: {problems}"


def test_the_domain_is_scanned():
    assert {"walnames.py", "timeline.py", "prune.py", "cleanup.py"} <= {p.name for p in SOURCES}


def test_the_decisions_taken_out_of_the_commands_are_scanned():
    """What verify, prune, info and check conclude, the segment size read from
    files and the trust in a recorded digest: pure, so held to the same rules."""
    moved = {"verification.py", "leftovers.py", "last_good_backup.py", "keep_days.py",
             "gaps.py", "summary.py", "sizes.py", "server_settings.py", "segment_size.py",
             "checksum_trust.py"}
    assert moved <= {p.name for p in SOURCES}


def modules_imported_by(statement: str) -> set[str]:
    """What a fresh interpreter imports for ``statement`` beyond its own start-up."""
    code = (f"import sys; before = set(sys.modules); {statement}; "
            "print(sorted(set(sys.modules) - before))")
    result = subprocess.run([sys.executable, "-c", code], cwd=DOMAIN.parents[1],
                            capture_output=True, text=True, check=True)
    return set(ast.literal_eval(result.stdout))


def test_top_level_import_is_cheap_and_pulls_no_adapter():
    imported = modules_imported_by("from swiftwal import plan_prune, PrunePolicy")
    bad = [m for m in imported if m.split(".")[0] in
           ("swiftclient", "structlog", "requests", "urllib3", "zstandard", "subprocess")
           or m.startswith("swiftwal.adapters") or m in ("swiftwal.cli", "swiftwal.commands")]
    assert bad == [] and "swiftwal.domain.prune" in imported


def test_the_fast_paths_of_archive_and_restore_commands_import_almost_nothing():
    """PostgreSQL starts archive_command and restore_command once per segment:
    each standard module imported there is paid every time (contextlib alone
    took 2 ms of a 13 ms call)."""
    imported = modules_imported_by(
        "import swiftwal.cli, swiftwal.commands.archive_async, swiftwal.commands.restore_async, "
        "swiftwal.adapters.spool, swiftwal.adapters.atomic, swiftwal.config, swiftwal.logs, "
        "swiftwal.events; swiftwal.logs.configure('json', True, light=True); "
        "swiftwal.logs.get_logger().info('wal.archived', wal_name='x', bytes=1)")
    # A call meets its worker over a Unix socket (swiftwal.adapters.workers).
    allowed = {"__future__", "socket"}
    # ...and what that public module imports itself
    allowed |= modules_imported_by("import socket")
    assert {m for m in imported if not m.startswith("swiftwal")} <= allowed
    assert "swiftwal.adapters.spool" in imported


#: Modules named with an underscore that the Python documentation describes as
#: interfaces of their own; any other (``_sha256``, gone in 3.12) is CPython's
#: implementation and may vanish in any release.
DOCUMENTED_UNDERSCORE_MODULES = {"__future__", "_thread"}


def test_no_module_imports_a_private_module_of_the_interpreter():
    package = DOMAIN.parent
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.relative_to(package.parent)}: {name}" for name in names
                      if name.startswith("_") and name.split(".")[0]
                      not in DOCUMENTED_UNDERSCORE_MODULES]
    assert found == []


# -- the storage port is sealed -------------------------------------------------------------

PACKAGE = DOMAIN.parent
STORAGE = PACKAGE / "adapters" / "storage"
#: Names that hold a store in the code outside the adapters (``ctx.storage``, ``storage``).
STORE_NAMES = {"storage", "store", "_storage"}


def _port_methods() -> set[str]:
    tree = ast.parse((STORAGE / "port.py").read_text())
    (port,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Storage"]
    return {n.name for n in port.body if isinstance(n, ast.FunctionDef)}


def _adapter_classes() -> set[str]:
    return {node.name for path in STORAGE.glob("*.py") if path.name != "port.py"
            for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ClassDef)}


def _holds_a_store(node: ast.AST) -> bool:
    return ((isinstance(node, ast.Name) and node.id in STORE_NAMES)
            or (isinstance(node, ast.Attribute) and node.attr in STORE_NAMES))


def storage_port_leaks(source: str, where: str, port: set[str], adapters: set[str]) -> list[str]:
    """Uses of a store beyond its port: an adapter class in ``isinstance`` or
    ``issubclass``, ``hasattr``/``getattr``/``setattr`` on a store, or any
    attribute of a store that is not a port method (``storage._conn``,
    ``storage.root``)."""
    found = []
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("isinstance", "issubclass") and len(node.args) == 2:
                classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
                for cls in classes:
                    name = cls.id if isinstance(cls, ast.Name) else getattr(cls, "attr", "")
                    if name in adapters:
                        found.append(f"{where}:{node.lineno}: {node.func.id}(..., {name})")
            if node.func.id in ("hasattr", "getattr", "setattr") and node.args and \
                    _holds_a_store(node.args[0]):
                found.append(f"{where}:{node.lineno}: {node.func.id} on a store")
        if isinstance(node, ast.Attribute) and _holds_a_store(node.value) and \
                node.attr not in port:
            found.append(f"{where}:{node.lineno}: .{node.attr} of a store")
    return found


def test_nothing_outside_the_storage_adapters_looks_behind_the_port():
    port, adapters = _port_methods(), _adapter_classes()
    assert {"put", "get", "list", "list_parts", "delete_parts", "tidy"} <= port
    assert {"LocalStorage", "SwiftStorage", "SwiftSession"} <= adapters
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if STORAGE not in path.parents:
            where = str(path.relative_to(PACKAGE.parent))
            found += storage_port_leaks(path.read_text(), where, port, adapters)
    assert found == []


@pytest.mark.parametrize("line", [
    "isinstance(storage, LocalStorage)",
    "isinstance(s, (int, swift.SwiftStorage))",
    "hasattr(storage, 'token_cache')",
    "ctx.storage._conn().get_container(x)",
    "storage.root",
    "self.storage.container",
    "store._translating('x')",
])
def test_the_port_check_sees_each_kind_of_leak(line):
    assert storage_port_leaks(line, "x.py", _port_methods(), _adapter_classes())


def test_the_port_check_lets_port_calls_through():
    code = "ctx.storage.put(n, s)\nstorage.list_parts(p)\nwith store.get(n) as r: r.read()\n"
    assert storage_port_leaks(code, "x.py", _port_methods(), _adapter_classes()) == []
