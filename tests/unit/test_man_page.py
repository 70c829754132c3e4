"""The man page is generated from docs/manual.md and kept in step with it."""
from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _builder():
    spec = importlib.util.spec_from_file_location("make_man", DOCS / "make_man.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_man_page_is_the_one_generated_from_the_manual():
    page = _builder().to_roff((DOCS / "manual.md").read_text(encoding="utf-8"))
    assert (DOCS / "swiftwal.1").read_text(encoding="utf-8") == page, \
        "run python docs/make_man.py"


def test_every_manual_section_is_a_man_section():
    builder = _builder()
    manual = (DOCS / "manual.md").read_text(encoding="utf-8")
    page = builder.to_roff(manual)
    for line in manual.splitlines():
        if line.startswith("## "):
            assert f".SH {line[3:].upper()}" in page
    assert not [l for l in page.splitlines() if l.startswith(".") and l.split()[0] not in
                (".TH", ".SH", ".PP", ".nf", ".fi", ".RS", ".RE", ".IP")]
