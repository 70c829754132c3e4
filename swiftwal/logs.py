"""Logging is configured once, here, by the CLI.

Console output for people (stderr), JSON lines for machines.  Nothing in the
domain logs; adapters may emit events through ``get_logger``.
"""
from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog


def configure(fmt: str, verbose: bool, stream: TextIO = sys.stderr) -> None:
    # People get warnings and errors (archive_command output lands in the
    # server log); machines get every event.
    level = logging.DEBUG if verbose else (logging.INFO if fmt == "json" else logging.WARNING)
    processors: list = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt == "json":
        processors += [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        processors = [structlog.processors.add_log_level, _console_line]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=True,
    )


def _console_line(_logger, _name, event_dict: dict) -> str:
    """``swiftwal: <event> key=value ...`` on one line; ``msg`` reads as prose."""
    level = event_dict.pop("level", "info")
    event = event_dict.pop("event", "")
    message = event_dict.pop("msg", None)
    fields = " ".join(f"{k}={v}" for k, v in event_dict.items())
    prefix = "swiftwal: " + ("" if level in ("info", "debug") else f"{level}: ")
    text = message or event
    return prefix + text + (f" ({event}{', ' + fields if fields else ''})" if message else
                            (" " + fields if fields else ""))


def get_logger(**bindings):
    return structlog.get_logger("swiftwal").bind(**bindings)
