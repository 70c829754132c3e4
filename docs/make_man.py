"""Build the man page docs/swiftwal.1 from docs/manual.md, the one source of both.

    python docs/make_man.py            # write docs/swiftwal.1
    python docs/make_man.py --check    # exit 1 if docs/swiftwal.1 is out of date

The version in the page's title line comes from setup.cfg, where the version lives. Its date
is when the page's text last changed: rebuilding an unchanged page keeps the date it has, so
the committed page stays exactly what this script generates; a changed page gets today's date
(or SOURCE_DATE_EPOCH's, for reproducible builds).
"""
from __future__ import annotations

import configparser
import datetime
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET = HERE / "swiftwal.1"
LIST_ITEM = re.compile(r"(- |(\d+)\. )")
TITLE = re.compile(r'\.TH SWIFTWAL 1 "([^"]*)" "swiftwal ([^"]*)"')


def _inline(text: str) -> str:
    text = text.replace("\\", "\\e")
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    return text


def _line(text: str) -> str:
    # roff treats a leading '.' or "'" as a request
    return "\\&" + text if text[:1] in (".", "'") else text


def _code(block: list[str]) -> list[str]:
    # a continued command keeps its own indentation under the block's first line
    margin = min(_indent(b) for b in block if b.strip())
    block = [b[margin:] for b in block]
    return [".PP", ".nf", ".RS 4", *(_line(b.replace("\\", "\\e")) for b in block), ".RE", ".fi"]


def _text(lines: list[str]) -> list[str]:
    # inline markup first, over the whole paragraph: a `code` span may go on to the next line
    return [_line(text) for text in _inline("\n".join(lines)).split("\n")]


def _interrupts(line: str, in_list: bool) -> bool:
    # as in CommonMark: outside a list, a wrapped line such as "3. It does" goes on with its
    # paragraph; only a bullet or a list starting at 1 begins a list there
    item = LIST_ITEM.match(line)
    return bool(item) and (in_list or item.group(2) in (None, "1"))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def to_roff(markdown: str, date: str = "", version: str = "") -> str:
    """The page for ``markdown``, a subset of Markdown: one ``#`` title and its summary, ``##``
    sections, paragraphs, code indented four spaces, and ``-`` or ``1.`` lists whose items may
    hold paragraphs (indented two or three spaces) and code (indented eight)."""
    title = f"swiftwal {version}" if version else "swiftwal"
    out = [f'.TH SWIFTWAL 1 "{date}" "{title}" "User Commands"']
    lines = markdown.splitlines()
    index = 0
    in_item = False  # after a list item, until a line at the left margin

    def nested(block: list[str]) -> list[str]:
        # .RS moves the margin to the item's text, so what follows lines up under it
        return [".RS", *block, ".RE"]

    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
            continue
        if _indent(line) == 0 and not LIST_ITEM.match(line):
            in_item = False
        if line.startswith("# "):
            index += 2
            summary = []
            while index < len(lines) and lines[index].strip():
                summary.append(lines[index].strip())
                index += 1
            out += [".SH NAME", "swiftwal \\- " + _inline(" ".join(summary)).rstrip(".")]
            continue
        if line.startswith("## "):
            out.append(f".SH {line[3:].upper()}")
            index += 1
            continue
        if _indent(line) >= 4 and not (in_item and 4 <= _indent(line) < 8):
            block = []
            while index < len(lines) and (_indent(lines[index]) >= 4 or not lines[index].strip()):
                if not lines[index].strip() and not (index + 1 < len(lines)
                                                     and lines[index + 1].startswith("    ")):
                    break
                block.append(lines[index])
                index += 1
            out += nested(_code(block)) if in_item and _indent(line) >= 8 else _code(block)
            continue
        item = LIST_ITEM.match(line)
        if item:
            text = line[item.end():]
            index += 1
            while index < len(lines) and lines[index].startswith("  ") and lines[index].strip() \
                    and _indent(lines[index]) < 8:
                text += " " + lines[index].strip()
                index += 1
            tag = f"{item.group(2)}. 4" if item.group(2) else "\\(bu 2"
            out += [f".IP {tag}", _line(_inline(text))]
            in_item = True
            continue
        paragraph = [line.strip()]
        index += 1
        while index < len(lines) and lines[index].strip() \
                and not lines[index].startswith(("#", "    ")) \
                and not _interrupts(lines[index], in_item):
            paragraph.append(lines[index].strip())
            index += 1
        block = [".PP", *_text(paragraph)]
        out += nested(block) if in_item and _indent(line) > 0 else block
    return "\n".join(out) + "\n"


def version() -> str:
    config = configparser.ConfigParser(interpolation=None)
    config.read(HERE.parent / "setup.cfg", encoding="utf-8")
    return config["metadata"]["version"]


def committed_date(page: str) -> str:
    """The date in a page's title line ("" when it has none)."""
    match = TITLE.match(page)
    return match.group(1) if match else ""


def today() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    now = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
           else datetime.datetime.now(datetime.timezone.utc))
    return now.date().isoformat()


def build(manual: str, current: str) -> str:
    """The page for ``manual``, dated as ``current`` if that is the same page."""
    page = to_roff(manual, committed_date(current), version())
    return page if page == current and committed_date(current) else \
        to_roff(manual, today(), version())


def main(argv: list[str]) -> int:
    manual = (HERE / "manual.md").read_text(encoding="utf-8")
    current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
    page = build(manual, current)
    if "--check" in argv:
        if current != page:
            print("docs/swiftwal.1 is out of date: run python docs/make_man.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
