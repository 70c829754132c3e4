"""structlog for commands, the light writer for per-WAL commands: one output."""
from __future__ import annotations

import io
import json

import pytest
import structlog
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal import logs

fields = st.dictionaries(st.from_regex(r"[a-z][a-z_]{0,10}", fullmatch=True).filter(
    lambda k: k not in ("event", "level", "timestamp", "msg")),
    st.one_of(st.integers(), st.text(max_size=10), st.floats(allow_nan=False)), max_size=4)


def emit(fmt: str, light: bool, level: str, event: str, values: dict) -> str:
    stream = io.StringIO()
    logs.configure(fmt, verbose=True, stream=stream, light=light)
    getattr(logs.get_logger(), level)(event, **values)
    return stream.getvalue()


@pytest.fixture(autouse=True)
def reset_logging():
    yield
    structlog.reset_defaults()
    logs.configure("console", verbose=False, light=True)


@given(st.sampled_from(["debug", "info", "warning", "error"]), st.sampled_from(["wal.archived", "backup.completed"]),
       fields)
def test_both_writers_render_the_same_json(level, event, values):
    light = json.loads(emit("json", True, level, event, dict(values)))
    full = json.loads(emit("json", False, level, event, dict(values)))
    light.pop("timestamp"), full.pop("timestamp")
    assert light == full == {**json.loads(json.dumps(values)), "event": event, "level": level}


@given(st.sampled_from(["debug", "info", "warning", "error"]), fields)
def test_both_writers_write_the_same_json_line_but_for_its_time(level, values):
    """Byte for byte, keys in the same order: structlog's processors (level,
    timestamp, JSON renderer) and the light writer."""
    import datetime
    import re

    light = emit("json", True, level, "wal.archived", dict(values))
    full = emit("json", False, level, "wal.archived", dict(values))
    stamp = re.compile(r'"timestamp": "[^"]*"')
    assert stamp.sub('"timestamp": ""', light) == stamp.sub('"timestamp": ""', full)
    for line in (light, full):
        datetime.datetime.strptime(json.loads(line)["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")


@given(st.sampled_from(["info", "warning", "error"]), fields)
def test_both_writers_render_the_same_console_line(level, values):
    assert emit("console", True, level, "prune.planned", dict(values)) == \
        emit("console", False, level, "prune.planned", dict(values))


def test_console_is_quiet_below_warnings_unless_verbose():
    stream = io.StringIO()
    logs.configure("console", verbose=False, stream=stream)
    logs.get_logger().info("backup.completed", bytes=1)
    logs.get_logger().warning("config.warning", msg="careful")
    assert stream.getvalue() == "swiftwal: warning: careful (config.warning)\n"


def test_commands_log_through_structlog():
    logs.configure("json", verbose=False, stream=io.StringIO())
    with structlog.testing.capture_logs() as captured:
        logs.get_logger(backup="20261129T101530Z").info("backup.completed", bytes=42)
    assert captured == [{"backup": "20261129T101530Z", "bytes": 42, "event": "backup.completed",
                         "log_level": "info"}]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=6)


@given(st.dictionaries(st.text(max_size=12), json_values | st.builds(object), max_size=6))
@example({"path": "/pg_wal/\x7f\x01\x1f\"\\\n\t", "bytes": 16777216, "ratio": 0.25,
          "worker": True, "error": None})
@example({"path": "/données/\udcff", "inf": float("inf"), "nan": float("nan"), "list": [1]})
def test_json_lines_are_exactly_what_json_dumps_writes(values):
    """The light writer skips importing json for flat events; whatever the event
    holds (non-ASCII, control characters, nan, nested values, objects), the line
    is json.dumps's, byte for byte."""
    line = logs._json_line("info", "wal.archived", dict(values))
    expected = dict(values, event="wal.archived", level="info",
                    timestamp=json.loads(line)["timestamp"])
    assert line == json.dumps(expected, default=repr)


def test_json_timestamps_are_utc_with_microseconds():
    import datetime

    stamp = json.loads(logs._json_line("info", "wal.archived", {}))["timestamp"]
    parsed = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    assert abs(parsed - datetime.datetime.now(datetime.timezone.utc)).total_seconds() < 5


@pytest.mark.parametrize("light", [True, False])
def test_lines_logged_from_many_threads_are_never_joined(tmp_path, light):
    """The workers log from a thread per segment into one file that monitoring
    reads line by line: every line must be one whole JSON event."""
    import threading

    # Unbuffered, as stderr is (a worker's stderr is its log file).
    raw = open(tmp_path / "worker.log", "wb", buffering=0)
    with io.TextIOWrapper(raw, write_through=True) as stream:
        logs.configure("json", verbose=True, stream=stream, light=light)
        log = logs.get_logger()

        def emit(thread: int) -> None:
            for number in range(300):
                log.debug("wal.fetched_ahead", thread=thread, number=number)

        threads = [threading.Thread(target=emit, args=(t,)) for t in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    events = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()]
    assert sorted((e["thread"], e["number"]) for e in events) == [
        (t, n) for t in range(8) for n in range(300)]
