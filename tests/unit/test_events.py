"""Every event logged is a constant of swiftwal.events, and the manual lists
each with its level and keys: monitoring matches on the names."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from swiftwal import events

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "swiftwal"
#: The methods of a logger, structlog's and the light writer's alike.
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "critical", "exception", "msg"}
#: Methods whose first argument becomes an event name logged elsewhere: the
#: fast paths' summary through the light writer (``FastCall.done``).
EVENT_TAKERS = {"done"}
DECLARED = {name: value for name, value in vars(events).items()
            if name.isupper() and isinstance(value, str)}


class Sources:
    """The package's syntax trees, with each node's function and each
    function by name, to follow an event name from where it is logged back
    to where it was chosen."""

    def __init__(self, trees: dict[Path, ast.Module] | None = None) -> None:
        self.trees = trees if trees is not None else {
            path: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}
        self.functions: dict[str, list[ast.FunctionDef]] = {}
        self.parent: dict[ast.AST, ast.AST] = {}
        for tree in self.trees.values():
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    self.parent[child] = node
                if isinstance(node, ast.FunctionDef):
                    self.functions.setdefault(node.name, []).append(node)

    def calls(self, methods: set[str]):
        for path, tree in self.trees.items():
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr in methods and node.args:
                    yield path, node

    def function_of(self, node: ast.AST) -> ast.FunctionDef | None:
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, ast.FunctionDef):
                return node
        return None

    def undeclared(self, node: ast.AST, depth: int = 0) -> list[str]:
        """What ``node`` may evaluate to that is not an events constant."""
        if depth > 6:
            return [f"too far to follow: {ast.unparse(node)}"]
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "events":
            return [] if node.attr in DECLARED else [f"events.{node.attr} is not declared"]
        if isinstance(node, ast.IfExp):
            body = [] if self._guarded(node) else self.undeclared(node.body, depth + 1)
            return body + self.undeclared(node.orelse, depth + 1)
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return [p for element in node.elts for p in self.undeclared(element, depth + 1)]
        if isinstance(node, ast.Name):
            return self._variable(node, depth)
        return [f"not an events constant: {ast.unparse(node)}"]

    def _guarded(self, node: ast.IfExp) -> bool:
        """``name if name in KNOWN else ...`` with KNOWN events constants."""
        test = node.test
        return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
                and isinstance(node.body, ast.Name) and test.left.id == node.body.id
                and [type(op) for op in test.ops] == [ast.In]
                and not self.undeclared(test.comparators[0]))

    def _variable(self, name: ast.Name, depth: int) -> list[str]:
        function = self.function_of(name)
        if function is None:
            return [f"a module-level name: {name.id}"]
        parameters = [a.arg for a in function.args.args]
        if name.id in parameters:
            return self._argument(function, parameters.index(name.id), depth)
        problems, bound = [], False
        for node in ast.walk(function):
            if not isinstance(node, ast.Assign):
                continue
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id == name.id:
                    bound = True
                    problems += self.undeclared(node.value, depth + 1)
                elif isinstance(target, ast.Tuple) and name.id in [
                        e.id for e in target.elts if isinstance(e, ast.Name)]:
                    bound = True
                    index = [getattr(e, "id", None) for e in target.elts].index(name.id)
                    problems += self._returned(node.value, index, depth)
        return problems if bound else [f"{name.id} is not bound in {function.name}"]

    def _returned(self, value: ast.AST, index: int, depth: int) -> list[str]:
        """Element ``index`` of what the function called in ``value`` returns."""
        if not (isinstance(value, ast.Call)
                and isinstance(value.func, (ast.Name, ast.Attribute))):
            return [f"not the result of a call: {ast.unparse(value)}"]
        name = value.func.id if isinstance(value.func, ast.Name) else value.func.attr
        problems = []
        for function in self.functions.get(name, []):
            for node in ast.walk(function):
                if isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
                    problems += self.undeclared(node.value.elts[index], depth + 1)
        return problems if name in self.functions else [f"{name} is not ours"]

    def _argument(self, function: ast.FunctionDef, index: int, depth: int) -> list[str]:
        """What every call of ``function`` passes as its parameter ``index``."""
        offset = 1 if function.args.args and function.args.args[0].arg == "self" else 0
        problems = []
        for _, call in self.calls({function.name}):
            if len(call.args) > index - offset:
                problems += self.undeclared(call.args[index - offset], depth + 1)
        return problems


def test_every_event_logged_is_declared_in_events():
    sources = Sources()
    problems = [f"{path.relative_to(ROOT)}:{call.lineno}: {problem}"
                for path, call in sources.calls(LOG_METHODS | EVENT_TAKERS)
                for problem in sources.undeclared(call.args[0])]
    assert problems == []
    # the calls that log through the light writer are among those scanned
    seen = {path.name for path, _ in sources.calls(LOG_METHODS | EVENT_TAKERS)}
    assert {"archive_wal.py", "archive_async.py", "restore_async.py", "workers.py"} <= seen


EXAMPLE = """
def store():
    outcome = events.WAL_ARCHIVED
    return outcome, 1
def summary(self, event):
    self.log.info(event)
def good(log, call, stored):
    outcome, size = store()
    log.info(outcome)
    log.info(events.WAL_RESTORED if size else events.WAL_ARCHIVED)
    call.summary(stored if stored in (events.WAL_ARCHIVED,) else events.WAL_ARCHIVED)
def bad(log, call):
    name = "x.y"
    log.info(name)
    log.warning("wal.archived")
    log.error(events.NO_SUCH)
    call.summary("wal.restored")
"""


def test_the_scan_follows_variables_and_catches_what_is_not_declared():
    sources = Sources({Path("example.py"): ast.parse(EXAMPLE)})
    found = {call.lineno: sources.undeclared(call.args[0])
             for _, call in sources.calls(LOG_METHODS | {"summary"})}
    line = {text.strip(): number for number, text in enumerate(EXAMPLE.splitlines(), 1)}
    good, bad = line["def good(log, call, stored):"], line["def bad(log, call):"]
    assert [n for n, problems in found.items() if good < n < bad] == [good + 2, good + 3, good + 4]
    assert all(not found[n] for n in (good + 2, good + 3, good + 4))
    assert all(found[n] for n in (bad + 2, bad + 3, bad + 4))
    # the parameter of summary() is what its calls pass: the bad one is caught
    summary = line["self.log.info(event)"]
    assert found[summary] == ["not an events constant: 'wal.restored'"]


def test_event_names_are_dotted_lowercase_and_unique():
    assert all(re.fullmatch(r"[a-z_]+\.[a-z_]+", value) for value in DECLARED.values())
    assert len(set(DECLARED.values())) == len(DECLARED)


def test_the_manual_lists_every_event_with_its_level():
    manual = (ROOT / "docs" / "manual.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"^- `([a-z_]+\.[a-z_]+)` \(([a-z, ]+)\)", manual, re.MULTILINE))
    assert set(listed) == set(DECLARED.values())
    levels = {"debug", "info", "warning", "error"}
    assert all(set(level.split(", ")) <= levels for level in listed.values())
