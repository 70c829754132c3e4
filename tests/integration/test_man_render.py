"""docs/swiftwal.1 as man-db shows it to a reader: every expected section, the version and
date of its title line, and numbered steps that show their numbers."""
from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.unit.test_man_page import REQUIRED_SECTIONS, _builder

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
    manual = (ROOT / "docs" / "manual.md").read_text(encoding="utf-8")
    written = re.findall(r"^(\d+)\. ", manual, flags=re.MULTILINE)
    # a step follows a blank line or a heading; filling may also start a paragraph's line with "3."
    shown = re.findall(r"\n(?:|[A-Z][^a-z\n]*)\n {7}(\d+)\. +\S", render(PAGE))
    assert written and shown == written


def test_what_is_under_a_step_stays_under_it(tmp_path):
    builder = _builder()
    page = tmp_path / "steps.1"
    page.write_text(builder.to_roff(
        "# t\n\nsummary\n\n## Steps\n\n1. First:\n\n        code line\n\n   then this.\n"
        "2. Second.\n\nAfter.\n"), encoding="utf-8")
    lines = [line for line in render(page).splitlines() if line.strip()]
    body = lines[lines.index("STEPS") + 1:]
    indents = {line.strip(): len(line) - len(line.lstrip()) for line in body}
    step = indents["1.  First:"]
    assert indents["code line"] > indents["then this."] > step == indents["2.  Second."]
    assert indents["After."] == step
