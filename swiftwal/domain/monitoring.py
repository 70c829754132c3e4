"""Judging the archive for a Nagios/Icinga plugin: ages and thresholds in, one
status and one plugin output line out.

The line follows the Monitoring Plugins Development Guidelines:
``SWIFTWAL <STATUS> - <text> | <perfdata>``, where each perfdata item is
``label=value[UOM];warn;crit`` and ``U`` stands for a value that could not be
determined.  The status is the plugin's exit status (``Status``).
"""
from __future__ import annotations

import enum
from typing import Optional, Sequence

import attrs

from swiftwal.domain.errors import InvalidInput

SERVICE = "SWIFTWAL"


class Status(enum.IntEnum):
    """Plugin exit statuses, in order of gravity."""

    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3


def _positive(instance, attribute, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise InvalidInput(f"{attribute.name} threshold must be a positive whole number of "
                           f"seconds, not {value!r}")


@attrs.frozen
class Thresholds:
    """Ages in whole seconds: above ``warning`` warns, above ``critical`` is critical
    (the guidelines' plain ``N`` range: alert outside 0..N)."""

    warning: int = attrs.field(validator=_positive)
    critical: int = attrs.field(validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.warning > self.critical:
            raise InvalidInput(f"the warning threshold ({self.warning} s) is above the "
                               f"critical one ({self.critical} s)")


@attrs.frozen
class AgeCheck:
    """How old one thing is (``age_s`` None: there is none), judged against ``thresholds``.

    ``label`` is the perfdata label (letters, digits, ``_``); ``subject`` starts
    the sentence (``"WAL archived"``); ``absent`` is said when there is nothing."""

    label: str
    subject: str
    absent: str
    age_s: Optional[float]
    thresholds: Thresholds

    @property
    def seconds(self) -> Optional[int]:
        """The age as printed in perfdata; the status is judged on this very value, so
        a grapher and the status never disagree (a clock ahead of the store's counts as 0)."""
        return None if self.age_s is None else max(0, int(self.age_s))

    @property
    def status(self) -> Status:
        seconds = self.seconds
        if seconds is None or seconds > self.thresholds.critical:
            return Status.CRITICAL  # nothing archived or backed up is as bad as too old
        if seconds > self.thresholds.warning:
            return Status.WARNING
        return Status.OK

    def summary(self) -> str:
        if self.seconds is None:
            return self.absent
        text = f"{self.subject} {duration(self.seconds)} ago"
        if self.status == Status.CRITICAL:
            return f"{text} (critical above {duration(self.thresholds.critical)})"
        if self.status == Status.WARNING:
            return f"{text} (warning above {duration(self.thresholds.warning)})"
        return text

    def perfdata(self) -> str:
        value = "U" if self.seconds is None else f"{self.seconds}s"
        return f"{self.label}={value};{self.thresholds.warning};{self.thresholds.critical}"


@attrs.frozen
class Verdict:
    status: Status
    line: str


def judge(checks: Sequence[AgeCheck]) -> Verdict:
    """The worst status of ``checks``; the text names the worst first, so that a
    notification cut short still says what is wrong."""
    if not checks:
        return failure(Status.UNKNOWN, "nothing to check")
    status = max(check.status for check in checks)
    ordered = sorted(checks, key=lambda check: -check.status)  # stable: ties keep their order
    text = ", ".join(check.summary() for check in ordered)
    perfdata = " ".join(check.perfdata() for check in checks)
    return Verdict(status, f"{SERVICE} {status.name} - {text} | {perfdata}")


def failure(status: Status, message: str) -> Verdict:
    """A check that could not be made: ``message`` on one line, without perfdata."""
    return Verdict(status, f"{SERVICE} {status.name} - {one_line(message) or 'unknown error'}")


def one_line(text: str) -> str:
    """``text`` fit for the line: ``|`` starts perfdata and a newline starts long
    output, so neither may come from an error message."""
    printable = "".join(c if c.isprintable() else " " for c in text.replace("|", "/"))
    return " ".join(printable.split())


def duration(seconds: int) -> str:
    """``12s``, ``5m 3s``, ``2h 1m``, ``3d 4h``: enough to read at a glance."""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"
