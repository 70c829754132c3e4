"""The lower bounds in setup.cfg are versions the project works with: each declared package at
exactly its lowest allowed version, all at once, in a fresh environment of the system Python,
passes the unit tests and builds the project."""
from __future__ import annotations

import json

from tests.support.packaging import copy_checkout, declared, make_venv, normalized, run


def lowest_versions() -> dict[str, str]:
    """Each declared package pinned to its '>=' bound (the highest, if two groups differ)."""
    pins: dict[str, tuple[int, ...]] = {}
    texts: dict[str, str] = {}
    for requirements in declared().values():
        for name, spec in requirements.items():
            bound = spec.removeprefix(">=").strip()
            key = tuple(int(part) for part in bound.split("."))
            if name not in pins or key > pins[name]:
                pins[name], texts[name] = key, bound
    return texts


def same_version(installed: str, pinned: str) -> bool:
    # '7' pins 7.0.0: PEP 440 pads a release with zeros
    a, b = installed.split("."), pinned.split(".")
    width = max(len(a), len(b))
    return a + ["0"] * (width - len(a)) == b + ["0"] * (width - len(b))


def test_the_unit_tests_pass_and_the_project_builds_with_the_lowest_declared_versions(tmp_path):
    pins = lowest_versions()
    constraints = tmp_path / "lowest.txt"
    constraints.write_text("".join(f"{name}=={bound}\n" for name, bound in sorted(pins.items())))
    source = copy_checkout(tmp_path / "src")
    bin_dir = make_venv(tmp_path / "venv")
    extras = ",".join(sorted(group for group in declared() if group))
    run([bin_dir / "pip", "install", "-q", "-c", constraints, f"{source}[{extras}]"], timeout=600)

    listed = json.loads(run([bin_dir / "pip", "list", "--format=json"], timeout=120).stdout)
    installed = {normalized(p["name"]): p["version"] for p in listed}
    assert {name: installed.get(name) for name in pins
            if not same_version(installed.get(name, "none"), pins[name])} == {}

    # every unit test, each property with few examples: what can break is an API, not a case
    run([bin_dir / "python", "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider",
         "--hypothesis-profile=compat", f"--basetemp={tmp_path / 'unit'}"], timeout=600, cwd=source)
    run([bin_dir / "python", "-m", "build", "--wheel", "--outdir", tmp_path / "dist", source],
        timeout=600)
    assert len(list((tmp_path / "dist").glob("swiftwal-*.whl"))) == 1
