"""Build the man page docs/swiftwal.1 from docs/manual.md, the one source of both.

    python docs/make_man.py            # write docs/swiftwal.1
    python docs/make_man.py --check    # exit 1 if docs/swiftwal.1 is out of date
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _inline(text: str) -> str:
    text = text.replace("\\", "\\e")
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    return text


def _line(text: str) -> str:
    # roff treats a leading '.' or "'" as a request
    return "\\&" + text if text[:1] in (".", "'") else text


def to_roff(markdown: str, date: str = "") -> str:
    out = [f'.TH SWIFTWAL 1 "{date}" "swiftwal" "User Commands"']
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
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
        elif line.startswith("    ") or (line.startswith("        ") and out):
            block = []
            while index < len(lines) and (lines[index].startswith("    ") or not lines[index].strip()):
                if not lines[index].strip() and not (index + 1 < len(lines)
                                                     and lines[index + 1].startswith("    ")):
                    break
                block.append(lines[index].strip())
                index += 1
            out += [".PP", ".nf", ".RS 4", *(_line(b.replace("\\", "\\e")) for b in block), ".RE", ".fi"]
            continue
        elif re.match(r"(- |\d+\. )", line):
            item = re.sub(r"^(- |\d+\. )", "", line)
            index += 1
            while index < len(lines) and lines[index].startswith("  ") and lines[index].strip() \
                    and not lines[index].startswith("    " * 2):
                item += " " + lines[index].strip()
                index += 1
            out += [".IP \\(bu 2", _line(_inline(item))]
            continue
        elif line.strip():
            paragraph = [line.strip()]
            index += 1
            while index < len(lines) and lines[index].strip() and not lines[index].startswith(("#", "- ", "    ")) \
                    and not re.match(r"\d+\. ", lines[index]):
                paragraph.append(lines[index].strip())
                index += 1
            out += [".PP", *(_line(_inline(p)) for p in paragraph)]
            continue
        index += 1
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    page = to_roff((HERE / "manual.md").read_text(encoding="utf-8"))
    target = HERE / "swiftwal.1"
    if "--check" in argv:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != page:
            print("docs/swiftwal.1 is out of date: run python docs/make_man.py", file=sys.stderr)
            return 1
        return 0
    target.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
