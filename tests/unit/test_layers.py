"""Layers lean on what is below them only: the CLI sits on top and nothing
under swiftwal/commands or swiftwal/adapters imports it; adapters import no
command; a command never reaches into another command, only into the
modules several commands share.  And the exit statuses the errors declare
are those docs/exit-codes.md documents."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from swiftwal.domain import errors

PACKAGE = Path(__file__).resolve().parents[2] / "swiftwal"
COMMANDS = PACKAGE / "commands"
ADAPTERS = PACKAGE / "adapters"
#: Modules under swiftwal/commands that are no command but what several share.
SHARED = {"catalog", "context", "fast_call"}
#: A command's own modules besides its main one: check's --nagios plugin.
PARTS = {"check_nagios": "check"}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or inside a function, as
    dotted names (``from swiftwal.commands import catalog`` gives
    ``swiftwal.commands.catalog``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def sources(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.py"))


def test_the_modules_imported_are_read_in_every_form():
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".py") as handle:
        handle.write("import swiftwal.cli\nfrom swiftwal import cli\n"
                     "def f():\n    from swiftwal.commands.verify import run\n")
        handle.flush()
        found = imported_modules(Path(handle.name))
    assert {"swiftwal.cli", "swiftwal.commands.verify"} <= found


@pytest.mark.parametrize("path", sources(COMMANDS) + sources(ADAPTERS),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_commands_and_adapters_never_import_the_cli(path):
    assert "swiftwal.cli" not in imported_modules(path)


@pytest.mark.parametrize("path", sources(ADAPTERS), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_adapters_import_no_command(path):
    below = {m for m in imported_modules(path) if m.startswith("swiftwal.commands")}
    assert below == set()


def command_imports(path: Path) -> set[str]:
    """The modules of swiftwal/commands ``path`` imports, by their short name."""
    return {m.split(".")[2] for m in imported_modules(path)
            if m.startswith("swiftwal.commands.")} - {path.stem}


@pytest.mark.parametrize("path", sources(COMMANDS), ids=lambda p: p.name)
def test_a_command_imports_no_other_command(path):
    reached = {name for name in command_imports(path)
               if name not in SHARED and PARTS.get(name) != path.stem}
    assert reached == set(), f"{path.name} reaches into {sorted(reached)}"


def test_the_modules_named_shared_exist_and_are_no_command():
    from swiftwal.cli import COMMANDS as REGISTERED

    present = {path.stem for path in sources(COMMANDS)}
    registered = {module.rsplit(".", 1)[1] for module in REGISTERED.values()}
    assert SHARED | set(PARTS) <= present and set(PARTS.values()) <= registered
    assert not (SHARED | set(PARTS)) & registered
    assert present - {"__init__"} - SHARED - set(PARTS) == registered


# -- exit statuses: the code and docs/exit-codes.md ---------------------------------------

EXIT_CODES = PACKAGE.parent / "docs" / "exit-codes.md"


def documented_statuses() -> dict[int, set[str]]:
    """The table of docs/exit-codes.md: each status with the error codes on its row."""
    rows = {}
    for line in EXIT_CODES.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].isdigit():
            rows[int(cells[0])] = set(re.findall(r"`([^`]+)`", cells[1])) or (
                {"any"} if cells[1] == "any" else set())
    return rows


def test_the_documented_exit_statuses_are_the_errors_statuses():
    documented = documented_statuses()
    kinds = {kind: kind.exit_status for kind, _ in errors.EXIT_STATUSES}
    for kind, status in kinds.items():
        assert kind.code in documented.get(status, ()), (kind.__name__, kind.code, status)
    declared = {status: {k.code for k, s in kinds.items() if s == status}
                for status in set(kinds.values())}
    others = {errors.EXIT_OK: set(), errors.EXIT_NOT_IN_ARCHIVE: set(),
              errors.EXIT_INTERNAL: set(), errors.EXIT_ABORT_RECOVERY: {"any"},
              errors.EXIT_INTERRUPTED: set()}
    assert documented == {**declared, **others}


def test_each_error_kind_is_documented_once():
    rows = documented_statuses()
    codes = [code for row in rows.values() for code in row if code != "any"]
    assert len(codes) == len(set(codes))
    assert set(codes) == {kind.code for kind, _ in errors.EXIT_STATUSES}


def test_the_table_of_statuses_agrees_with_each_errors_own_status():
    """``EXIT_STATUSES`` read first match first (as callers did) gives each
    error the status it declares."""
    for kind, _ in errors.EXIT_STATUSES:
        error = kind("t", 1) if kind is errors.ToolFailed else kind("x")
        first = next(status for cls, status in errors.EXIT_STATUSES if isinstance(error, cls))
        assert first == error.exit_status == errors.exit_status(error)


def test_a_relayed_error_keeps_what_it_was_given_and_its_own_status():
    cause = errors.ConfigError("PARALLEL must be a whole number", hint="from the environment")
    relayed = errors.RelayedError.of(cause, errors.EXIT_ABORT_RECOVERY)
    assert (relayed.code, relayed.message, relayed.hint) == (cause.code, cause.message, cause.hint)
    assert relayed.exit_status == errors.exit_status(relayed) == 126
    assert cause.exit_status == 3, "the cause is left as it was"
    assert errors.exit_status(ValueError("a bug")) == errors.EXIT_INTERNAL
