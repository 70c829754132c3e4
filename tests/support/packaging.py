"""What setup.cfg declares, and fresh environments to install the project into, for the tests
of its packaging."""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Fresh environments come from the Python that PostgreSQL's user runs swiftwal with.
SYSTEM_PYTHON = "/usr/bin/python3"
#: One requirement as setup.cfg writes it: a name, optional extras, its specifier.
REQUIREMENT = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(?P<spec>.*)")
#: What a copy of the checkout leaves out: history, build output, caches.
NOT_SOURCES = (".git", "build", "dist", "*.egg-info", "__pycache__", ".hypothesis",
               ".pytest_cache", ".tox", ".work")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config


def declared() -> dict[str, dict[str, str]]:
    """``{"": install_requires, extra: its requirements}``, each as ``{name: specifier}``."""
    config = setup_cfg()
    groups = {"": config["options"]["install_requires"]}
    groups.update(config["options.extras_require"])
    found = {}
    for group, text in groups.items():
        found[group] = {}
        for line in filter(None, (line.strip() for line in text.splitlines())):
            match = REQUIREMENT.fullmatch(line)
            assert match, f"cannot read the requirement {line!r}"
            found[group][normalized(match["name"])] = match["spec"].strip()
    return found


def version() -> str:
    return setup_cfg()["metadata"]["version"]


def copy_checkout(destination: Path) -> Path:
    """The sources as they are now, where building cannot leave anything in the checkout."""
    shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(*NOT_SOURCES))
    return destination


def make_venv(path: Path) -> Path:
    """A new virtual environment of the system Python; its ``bin`` directory."""
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", str(path)], check=True, timeout=120)
    return path / "bin"


def run(argv: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``argv``, which must succeed; its output is in the failure message when it does not."""
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1",
           **kwargs.pop("env", {})}
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env,
                            timeout=timeout, stdin=subprocess.DEVNULL, **kwargs)
    assert result.returncode == 0, \
        f"{' '.join(map(str, argv))} exited {result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result
