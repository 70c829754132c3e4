"""The library example in docs/library.md runs and shows what it says."""
from __future__ import annotations

import doctest
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "docs" / "library.md"
SECTION = "## Library use: prune planning"


def _section(text: str) -> str:
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    return text[start:] if end < 0 else text[start:end]


def test_prune_planning_example_runs():
    section = _section(LIBRARY.read_text())
    test = doctest.DocTestParser().get_doctest(section, {}, "library.md", str(LIBRARY), 0)
    assert len(test.examples) >= 10
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0 and result.attempted == len(test.examples)
