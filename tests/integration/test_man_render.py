"""docs/swiftwal.1 as man-db shows it to a reader: every expected section, the version and
date of its title line, and numbered steps that show their numbers."""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.unit.test_man_page import REQUIRED_SECTIONS

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "swiftwal.1"


def render(page: Path) -> str:
    assert shutil.which("man"), "man is missing: scripts/install-deps installs Debian's man-db"
    env = {**os.environ, "MANWIDTH": "100", "LC_ALL": "C.UTF-8", "MANPAGER": "cat",
           "PAGER": "cat"}
    env.pop("MAN_KEEP_FORMATTING", None)
    # --warnings: groff's complaints about the roff reach stderr, which must stay empty
    result = subprocess.run(["man", "--warnings", "-l", str(page)], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stderr, result.stderr
    # man-db leaves out overstrike and colour when its output is not a terminal
    assert "\b" not in result.stdout and "\x1b" not in result.stdout
    return result.stdout


def test_man_shows_every_section_a_reader_expects():
    headings = [line for line in render(PAGE).splitlines() if re.fullmatch(r"[A-Z][^a-z]*", line)]
    for section in REQUIRED_SECTIONS:
        assert section in headings, f"no {section} section in {headings}"


def test_man_shows_the_version_of_setup_cfg_and_the_date():
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    version = config["metadata"]["version"]
    date = re.match(r'\.TH \S+ 1 "(\d{4}-\d{2}-\d{2})"', PAGE.read_text(encoding="utf-8")).group(1)
    footer = render(PAGE).rstrip("\n").splitlines()[-1]
    assert f"swiftwal {version}" in footer and date in footer, footer


def test_man_shows_numbered_steps_as_numbers():
    text = render(PAGE)
    quick_start = text[text.index("\nQUICK START\n"):]
    quick_start = quick_start[:re.search(r"\n[A-Z][^a-z\n]*\n", quick_start[1:]).start() + 1]
    steps = re.findall(r"^ +(\d+)\. +\S", quick_start, flags=re.MULTILINE)
    assert steps == ["1", "2", "3"], quick_start
    # the step's code stays under the step, indented past its text
    assert re.search(r"^ {7}1\. +Write the config file.*\n\n {11,}OS_AUTH_URL=", quick_start,
                     flags=re.MULTILINE), quick_start
