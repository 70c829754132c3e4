"""The man page is generated from docs/manual.md and kept in step with it."""
from __future__ import annotations

import configparser
import datetime
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
#: What a reader of a command's man page looks for, in man-pages(7)'s names.
REQUIRED_SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "ENVIRONMENT",
                     "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO")


def _builder():
    spec = importlib.util.spec_from_file_location("make_man", DOCS / "make_man.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _setup_cfg_version() -> str:
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return config["metadata"]["version"]


def _committed() -> str:
    return (DOCS / "swiftwal.1").read_text(encoding="utf-8")


def test_the_committed_man_page_is_the_one_generated_from_the_manual():
    builder = _builder()
    committed = _committed()
    page = builder.to_roff((DOCS / "manual.md").read_text(encoding="utf-8"),
                           builder.committed_date(committed), _setup_cfg_version())
    assert committed == page, "run python docs/make_man.py"


def test_the_title_line_carries_a_date_and_the_version_of_setup_cfg():
    title = _committed().splitlines()[0]
    date = _builder().committed_date(_committed())
    datetime.date.fromisoformat(date)
    assert title == f'.TH SWIFTWAL 1 "{date}" "swiftwal {_setup_cfg_version()}" "User Commands"'


def test_the_page_has_the_sections_a_reader_expects():
    sections = [line[4:] for line in _committed().splitlines() if line.startswith(".SH ")]
    assert [s for s in sections if s in REQUIRED_SECTIONS] == list(REQUIRED_SECTIONS)


def test_every_manual_section_is_a_man_section():
    builder = _builder()
    manual = (DOCS / "manual.md").read_text(encoding="utf-8")
    page = builder.to_roff(manual)
    for line in manual.splitlines():
        if line.startswith("## "):
            assert f".SH {line[3:].upper()}" in page
    assert not [l for l in page.splitlines() if l.startswith(".") and l.split()[0] not in
                (".TH", ".SH", ".PP", ".nf", ".fi", ".RS", ".RE", ".IP")]


def test_numbered_steps_keep_their_numbers_and_what_is_under_them():
    page = _builder().to_roff("## Steps\n\n1. write:\n\n        A=1\n\n   then\n2. `run` it\n\n- a\n")
    assert page.splitlines()[2:] == [
        ".IP 1. 4", "write:",
        ".RS", ".PP", ".nf", ".RS 4", "A=1", ".RE", ".fi", ".RE",
        ".RS", ".PP", "then", ".RE",
        ".IP 2. 4", "\\fBrun\\fR it",
        ".IP \\(bu 2", "a"]


def test_a_paragraph_line_starting_with_a_number_does_not_start_a_list():
    page = _builder().to_roff("## S\n\nexits 0 to\n3. It does not\n\n1. one\n")
    assert page.splitlines()[2:] == [".PP", "exits 0 to", "3. It does not", ".IP 1. 4", "one"]


def test_code_spans_may_go_on_to_the_next_line():
    page = _builder().to_roff("## S\n\nsee `swiftwal\nCOMMAND --help` now\n")
    assert "see \\fBswiftwal\nCOMMAND --help\\fR now" in page


def test_an_unchanged_page_keeps_its_date_and_a_changed_one_gets_today(monkeypatch):
    builder = _builder()
    manual = "# swiftwal\n\nsummary\n\n## Synopsis\n\n    swiftwal\n"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1796000000")  # 2026-11-30 UTC
    old = builder.to_roff(manual, "2025-01-02", builder.version())
    assert builder.build(manual, old) == old
    changed = builder.build(manual + "\nmore\n", old)
    assert builder.committed_date(changed) == "2026-11-30"
    assert builder.committed_date(builder.build(manual, "")) == "2026-11-30"
