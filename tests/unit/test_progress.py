"""Progress lines: silent off a terminal; numbers that agree with the bytes read."""
from __future__ import annotations

import io

from hypothesis import given, strategies as st

from swiftwal.adapters.progress import CountingReader, Progress, progress_line, progress_numbers


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


def test_the_line_shows_bytes_rate_and_the_time_left_from_the_total():
    mib = 1 << 20
    assert progress_line(10 * mib, 40 * mib, 5.0) == \
        "10.0 MiB / 40.0 MiB (25%), 2.0 MiB/s, ETA 16 s"
    # The total is an estimate (the databases' size): the count may pass it.
    assert progress_line(50 * mib, 40 * mib, 5.0) == "50.0 MiB / 40.0 MiB (100%), 10.0 MiB/s"
    assert progress_line(10 * mib, None, 5.0) == "10.0 MiB, 2.0 MiB/s"


@given(st.integers(0, 2**40), st.one_of(st.none(), st.integers(1, 2**40)), st.floats(0.001, 1e5))
def test_the_numbers_agree_with_the_line(done, total, elapsed):
    numbers = progress_numbers(done, total, elapsed)
    line = progress_line(done, total, elapsed)
    assert numbers["bytes"] == done and numbers["total_bytes"] == total
    assert (numbers["eta_s"] is None) == ("ETA" not in line)
    if numbers["eta_s"] is not None:
        assert f"ETA {numbers['eta_s']} s" in line
        # what is left, at the rate so far, rounded up
        assert numbers["eta_s"] >= (total - done) / (done / elapsed)


def test_off_a_terminal_events_come_at_most_an_interval_apart_and_once_at_the_end():
    now = [0.0]
    out = io.StringIO()
    reported = []
    progress = Progress("backup", 1000, stream=out, enabled=False, clock=lambda: now[0],
                        report=reported.append, report_interval=30)
    for _ in range(100):  # 100 s, 10 bytes a second
        now[0] += 1
        progress.add(10)
    progress.close()
    assert out.getvalue() == ""  # no carriage returns in a log
    assert [r["bytes"] for r in reported] == [300, 600, 900, 1000]
    assert [r["duration_s"] for r in reported] == [30, 60, 90, 100]
    assert reported[0] == {"bytes": 300, "total_bytes": 1000, "bytes_per_s": 10, "eta_s": 71,
                           "duration_s": 30}
    assert reported[-1]["eta_s"] is None


def test_a_terminal_gets_its_line_and_no_events():
    out = io.StringIO()
    reported = []
    progress = Progress("backup", 300, stream=out, enabled=True, report=reported.append)
    progress.add(100)
    progress.close()
    assert reported == [] and "100 B / 300 B (33%)" in out.getvalue()
