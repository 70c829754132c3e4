"""Progress lines: silent off a terminal; numbers that agree with the bytes read."""
from __future__ import annotations

import io

from hypothesis import given, strategies as st

from swiftwal.adapters.progress import CountingReader, Progress, progress_line


@given(st.integers(0, 2**40), st.integers(1, 2**40), st.floats(0.001, 1e5))
def test_percentage_never_passes_100_and_eta_only_while_unfinished(done, total, elapsed):
    line = progress_line(done, total, elapsed)
    percent = int(line.split("(")[1].split("%")[0])
    assert 0 <= percent <= 100
    assert ("ETA" in line) == (done < total and done > 0)


@given(st.binary(max_size=5000), st.integers(1, 700))
def test_counting_reader_counts_every_byte_and_changes_none(data, chunk):
    out = io.StringIO()
    progress = Progress("x", len(data), stream=out, enabled=False)
    reader = CountingReader(io.BytesIO(data), progress)
    read = b"".join(iter(lambda: reader.read(chunk), b""))
    progress.close()
    assert read == data and progress.done == len(data) and out.getvalue() == ""


def test_a_terminal_gets_one_rewritten_line_and_a_newline():
    ticks = iter(range(100))
    out = io.StringIO()
    progress = Progress("restore", 300, stream=out, enabled=True, interval=1, clock=lambda: next(ticks))
    for _ in range(3):
        progress.add(100)
    progress.close()
    text = out.getvalue()
    assert text.endswith("\n") and "\n" not in text[:-1]
    assert text.count("\r") >= 2 and "300 B / 300 B (100%)" in text
