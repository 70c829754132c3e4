"""Logging is configured once, here, by the CLI.

Console output for people (stderr), JSON lines for machines.  Nothing in the
domain logs; adapters may emit events through ``get_logger``.

Events are data: ``log.info("wal.archived", wal_name=..., bytes=...)``.  The
writer is a few lines of standard library on purpose: ``archive_command`` and
``restore_command`` start a process per WAL file, and structlog (which
imports asyncio) or ``logging`` would cost more than the work on a hot path.
The JSON lines keep structlog's shape (fields, ``event``, ``level``,
``timestamp``) so consumers need not care which wrote them.
"""
from __future__ import annotations

import sys
from typing import Any, TextIO

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class _Config:
    fmt = "console"
    level = LEVELS["warning"]
    stream: TextIO | None = None


def configure(fmt: str, verbose: bool, stream: TextIO | None = None) -> None:
    # People get warnings and errors (archive_command output lands in the
    # server log); machines get every event.
    _Config.fmt = fmt
    _Config.level = LEVELS["debug"] if verbose else (
        LEVELS["info"] if fmt == "json" else LEVELS["warning"])
    _Config.stream = stream


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
        stream = _Config.stream or sys.stderr
        print(line, file=stream, flush=True)

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
    import datetime
    import json

    event_dict["event"] = event
    event_dict["level"] = level
    event_dict["timestamp"] = datetime.datetime.now(datetime.timezone.utc).isoformat().replace(
        "+00:00", "Z")
    return json.dumps(event_dict, default=repr)


def _console_line(level: str, event: str, event_dict: dict[str, Any]) -> str:
    """``swiftwal: <event> key=value ...`` on one line; ``msg`` reads as prose."""
    message = event_dict.pop("msg", None)
    fields = " ".join(f"{k}={v}" for k, v in event_dict.items())
    prefix = "swiftwal: " + ("" if level in ("info", "debug") else f"{level}: ")
    text = message or event
    return prefix + text + (f" ({event}{', ' + fields if fields else ''})" if message else
                            (" " + fields if fields else ""))


def get_logger(**bindings: Any) -> EventLogger:
    return EventLogger(dict(bindings))
