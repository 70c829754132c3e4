"""setup.cfg declares what the code imports, with lower bounds and no caps, and keeps what only
one feature needs in an extra that a plain install can do without."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from tests.support.packaging import ROOT, declared, normalized


def third_party_imports(root: Path) -> dict[str, list[tuple[Path, ast.AST, list[ast.AST]]]]:
    """Top-level module name -> where it is imported: the file, the statement and the
    statements enclosing it."""
    found: dict[str, list] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        stack = [(tree, [])]
        while stack:
            node, parents = stack.pop()
            for child in ast.iter_child_nodes(node):
                stack.append((child, parents + [node]))
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in ("swiftwal", "tests"):
                    found.setdefault(top, []).append((path, node, parents))
    return found


def providers(module: str) -> set[str]:
    """The distributions installed that provide ``module``, else the one named like it."""
    installed = importlib.metadata.packages_distributions().get(module, ())
    return {normalized(name) for name in installed} or {normalized(module)}


def test_every_requirement_has_a_lower_bound_and_no_cap():
    for group, requirements in declared().items():
        for name, spec in requirements.items():
            assert re.fullmatch(r">=\s*[0-9][0-9a-z.]*", spec), \
                f"{name} {spec!r} in {group or 'install_requires'}: give one '>=' bound, no cap"


def test_every_package_the_code_imports_is_declared():
    groups = declared()
    everything = set().union(*groups.values())
    for module, places in third_party_imports(ROOT / "swiftwal").items():
        assert providers(module) & everything, \
            f"{module} (imported in {places[0][0].relative_to(ROOT)}) comes from no declared package"


def test_what_an_extra_brings_is_imported_only_when_its_feature_is_used():
    # A module-level import would break a plain install on every command, not only the feature's.
    groups = declared()
    base = set(groups[""])
    optional = set().union(*(names for group, names in groups.items() if group not in ("", "test")))
    for module, places in third_party_imports(ROOT / "swiftwal").items():
        if not providers(module) & optional - base:
            continue
        for path, node, parents in places:
            guarded = any(isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef)) for p in parents) or any(
                isinstance(p, ast.Try) and any(_catches_import_error(h) for h in p.handlers)
                for p in parents)
            assert guarded, f"{path.relative_to(ROOT)}:{node.lineno} imports {module} when loaded"


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = [handler.type] if not isinstance(handler.type, ast.Tuple) else handler.type.elts
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError")
               for n in names)


def test_pyyaml_is_the_clouds_extra_and_cryptography_the_encryption_extra():
    groups = declared()
    assert "pyyaml" in groups["clouds"] and "pyyaml" not in groups[""]
    assert "cryptography" in groups["encryption"] and "cryptography" not in groups[""]


def test_the_test_extra_holds_what_the_tests_import():
    groups = declared()
    available = set(groups[""]) | set(groups["test"])
    for module, places in third_party_imports(ROOT / "tests").items():
        assert providers(module) & available, \
            f"{module} (imported in {places[0][0].relative_to(ROOT)}) is not in install_requires " \
            "or the test extra"
