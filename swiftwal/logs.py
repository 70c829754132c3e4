"""Logging is configured once, here, by the CLI.

Console output for people (stderr), JSON lines for machines.  Nothing in the
domain logs; adapters may emit events through ``get_logger``.  Every event
name is a constant of ``swiftwal.events``.

Events are data: ``log.info(events.WAL_ARCHIVED, wal_name=..., bytes=...)``.
Commands log through structlog: its processors add the level and, for JSON,
the timestamp, and render the line.  ``archive-wal``, ``restore-wal`` and
their workers are the exception: PostgreSQL starts a process per WAL file,
and importing structlog (it imports asyncio) took 45-95 ms on a test machine,
several times a whole fast-path call (12-15 ms, 9 of them the interpreter's
own start); it made a worker's start, which the call that starts it waits
for, 27 ms longer (59 ms instead of 86, medians).
Those write the very same lines through the few lines of standard library
below (``configure(..., light=True)``): the console line is rendered by the
same function, and the JSON line is what structlog's renderer writes, byte
for byte (tests/unit/test_logs.py).
"""
from __future__ import annotations

import sys
import time
from _thread import allocate_lock

TYPE_CHECKING = False  # typing itself costs archive_command time

if TYPE_CHECKING:
    from typing import Any, TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class _Config:
    fmt = "console"
    level = LEVELS["warning"]
    stream: TextIO | None = None
    light = True


def configure(fmt: str, verbose: bool, stream: TextIO | None = None, light: bool = False) -> None:
    # People get warnings and errors (archive_command output lands in the
    # server log); machines get every event.
    _Config.fmt = fmt
    _Config.level = LEVELS["debug"] if verbose else (
        LEVELS["info"] if fmt == "json" else LEVELS["warning"])
    _Config.stream = stream
    _Config.light = light
    if not light:
        _configure_structlog()


#: What both writers put in a JSON line's ``timestamp``: ISO 8601, UTC, microseconds.
TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _configure_structlog() -> None:
    import structlog

    processors: list = [structlog.processors.add_log_level]
    if _Config.fmt == "json":
        processors += [structlog.processors.TimeStamper(fmt=TIMESTAMP_FORMAT, utc=True),
                       structlog.processors.JSONRenderer(default=repr)]
    else:
        processors.append(_render_console)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_Config.level),
        logger_factory=_StructlogWriterFactory(),
        cache_logger_on_first_use=False,
    )


def _render_console(_logger, _method: str, event_dict: dict) -> str:
    """structlog's last processor for people: the light writer's console line."""
    event = event_dict.pop("event")
    return _console_line(event_dict.pop("level"), event, event_dict)


class _StructlogWriterFactory:
    """structlog's final step: print the rendered line to the configured stream."""

    def __call__(self, *_args):
        return self

    def _write(self, line: str) -> None:
        _write_line(line)

    debug = info = warning = warn = error = critical = msg = _write


_WRITE_LOCK = allocate_lock()


def _write_line(line: str) -> None:
    # One write per line, under a lock: the workers log from several threads,
    # and print() writes the newline separately, so two lines could be joined.
    with _WRITE_LOCK:
        stream = _Config.stream or sys.stderr
        stream.write(line + "\n")
        stream.flush()


class EventLogger:
    """``debug/info/warning/error(event, **fields)``; ``bind`` adds fields."""

    def __init__(self, bindings: dict[str, Any]) -> None:
        self._bindings = bindings

    def bind(self, **bindings: Any) -> "EventLogger":
        return EventLogger({**self._bindings, **bindings})

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if LEVELS[level] < _Config.level:
            return
        event_dict = {**self._bindings, **fields}
        line = (_json_line(level, event, event_dict) if _Config.fmt == "json"
                else _console_line(level, event, event_dict))
        _write_line(line)

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, fields)

    warn = warning

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", event, fields)

    def critical(self, event: str, **fields: Any) -> None:
        self._emit("critical", event, fields)


def _json_line(level: str, event: str, event_dict: dict[str, Any]) -> str:
    """What ``json.dumps(event_dict, default=repr)`` writes, byte for byte, but
    for the usual flat events without importing json and datetime: together
    they cost 5 ms of every archive_command and restore_command call."""
    event_dict["event"] = event
    event_dict["level"] = level
    event_dict["timestamp"] = _utc_timestamp()
    members = []
    for key, value in event_dict.items():
        key_text = _json_scalar(key) if type(key) is str else None  # json.dumps quotes keys
        value_text = _json_scalar(value)
        if key_text is None or value_text is None:
            import json

            return json.dumps(event_dict, default=repr)
        members.append(f"{key_text}: {value_text}")
    return "{" + ", ".join(members) + "}"


def _utc_timestamp() -> str:
    """ISO 8601 in UTC with microseconds: 2026-11-29T10:15:30.123456Z."""
    seconds, nanoseconds = divmod(time.time_ns(), 1_000_000_000)
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            + f".{nanoseconds // 1000:06d}Z")


_JSON_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(32), 127)}
_JSON_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
                      ord("\t"): "\\t", ord("\b"): "\\b", ord("\f"): "\\f"})


def _json_scalar(value: Any) -> str | None:
    """``value`` as json.dumps writes it, or None where json itself is needed."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is float:
        return repr(value) if value - value == 0 else None  # not inf or nan
    if kind is str and value.isascii():  # json.dumps escapes the rest as \uXXXX
        return '"' + value.translate(_JSON_ESCAPES) + '"'
    return None


def _console_line(level: str, event: str, event_dict: dict[str, Any]) -> str:
    """``swiftwal: <event> key=value ...`` on one line; ``msg`` reads as prose."""
    message = event_dict.pop("msg", None)
    fields = " ".join(f"{k}={v}" for k, v in event_dict.items())
    prefix = "swiftwal: " + ("" if level in ("info", "debug") else f"{level}: ")
    text = message or event
    return prefix + text + (f" ({event}{', ' + fields if fields else ''})" if message else
                            (" " + fields if fields else ""))


def get_logger(**bindings: Any):
    if _Config.light:
        return EventLogger(dict(bindings))
    import structlog

    return structlog.get_logger("swiftwal").bind(**bindings)
