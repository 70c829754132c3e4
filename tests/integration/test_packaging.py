"""The project as a user gets it: `python -m build` makes an sdist and, from it, a wheel that
installs into a fresh environment of the system Python with its command and its man page, and
that runs without the packages of its extras."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile

import pytest

from tests.support.packaging import ROOT, copy_checkout, make_venv, run, version


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """``(wheel, venv)``: the wheel built from a copy of the checkout, installed without extras."""
    base = tmp_path_factory.mktemp("packaging")
    source = copy_checkout(base / "src")
    dist = base / "dist"
    # no --wheel: the wheel is built from the sdist, as from an sdist on a package index
    run([sys.executable, "-m", "build", "--outdir", dist, source], timeout=600)
    wheels = list(dist.glob("swiftwal-*.whl"))
    assert len(wheels) == 1 and len(list(dist.glob("swiftwal-*.tar.gz"))) == 1, os.listdir(dist)
    venv = base / "venv"
    make_venv(venv)
    run([venv / "bin" / "pip", "install", "-q", wheels[0]], timeout=600)
    return wheels[0], venv


def test_the_wheel_holds_the_package_and_the_man_page_and_nothing_else(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    data = f"swiftwal-{version()}.data/data/"
    assert f"{data}share/man/man1/swiftwal.1" in names
    assert {name.split("/")[0] for name in names} == \
        {"swiftwal", f"swiftwal-{version()}.dist-info", f"swiftwal-{version()}.data"}


def test_the_installed_command_runs_and_knows_its_version(installed):
    _, venv = installed
    shown = run([venv / "bin" / "swiftwal", "--version"], timeout=60).stdout
    assert shown.strip() == f"swiftwal {version()}"
    assert "usage: swiftwal" in run([venv / "bin" / "swiftwal", "--help"], timeout=60).stdout
    run([venv / "bin" / "python", "-c", "import swiftwal"], timeout=60)


def test_the_man_page_is_installed_where_man_finds_it(installed):
    _, venv = installed
    page = venv / "share" / "man" / "man1" / "swiftwal.1"
    assert page.read_bytes() == (ROOT / "docs" / "swiftwal.1").read_bytes()
    # a trailing ':' keeps man's own search path after the venv's
    found = run(["man", "-w", "swiftwal"], timeout=60, env={"MANPATH": f"{venv / 'share' / 'man'}:"})
    assert found.stdout.strip() == str(page)


def test_os_cloud_without_the_clouds_extra_is_one_line_naming_it(installed, tmp_path):
    _, venv = installed
    missing = subprocess.run([venv / "bin" / "python", "-c", "import yaml"], capture_output=True)
    assert missing.returncode != 0, "a plain install brought PyYAML: this test proves nothing"
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  c:\n    auth:\n      auth_url: http://127.0.0.1:9/v3\n")
    result = subprocess.run([venv / "bin" / "swiftwal", "--os-cloud", "c", "--container", "x",
                             "list-backups"], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds)},
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 3, result.stderr
    assert result.stderr.count("\n") == 1 and "clouds extra" in result.stderr, result.stderr
