"""The Nagios plugin verdict (swiftwal.domain.monitoring), as properties."""
from __future__ import annotations

import re

import pytest
from hypothesis import example, given, strategies as st

from swiftwal.domain.errors import InvalidInput
from swiftwal.domain.monitoring import AgeCheck, Status, Thresholds, failure, judge

# The Monitoring Plugins Development Guidelines: "SERVICE STATUS - text | perfdata", each
# perfdata item 'label'=value[UOM];[warn];[crit];[min];[max] with value in [-0-9.] or U.
_LABEL = r"(?:'[^'=]+'|[^'= |]+)"
_VALUE = r"(?:-?[0-9.]+(?:[a-zA-Z%]+)?|U)"
_PERF = rf"{_LABEL}={_VALUE}(?:;-?[0-9.]*){{0,4}}"
PLUGIN_LINE = re.compile(rf"SWIFTWAL (OK|WARNING|CRITICAL|UNKNOWN) - [^|\n]+"
                         rf"(?: \| {_PERF}(?: {_PERF})*)?")

ages = st.one_of(st.none(), st.floats(-1e3, 1e9, allow_nan=False))


@st.composite
def thresholds(draw) -> Thresholds:
    warning = draw(st.integers(1, 10 ** 7))
    return Thresholds(warning, warning + draw(st.integers(0, 10 ** 7)))


def archive(age, limits) -> AgeCheck:
    return AgeCheck("archive_age", "WAL archived", "no WAL archived", age, limits)


def backup(age, limits) -> AgeCheck:
    return AgeCheck("backup_age", "newest backup finished", "no backup", age, limits)


def later(age, extra):
    """``age`` made older by ``extra`` seconds (None, never archived, is older than any)."""
    return None if age is None or extra is None else age + extra


@given(ages, ages, thresholds(), thresholds(), st.one_of(st.none(), st.floats(0, 1e9)),
       st.one_of(st.none(), st.floats(0, 1e9)))
@example(3600.0, 0.0, Thresholds(3600, 7200), Thresholds(10, 20), 0.5, None)
def test_the_status_never_improves_as_the_archive_and_the_backup_get_older(
        archive_age, backup_age, archive_limits, backup_limits, more, more_backup):
    young = judge([archive(archive_age, archive_limits), backup(backup_age, backup_limits)])
    old = judge([archive(later(archive_age, more), archive_limits),
                 backup(later(backup_age, more_backup), backup_limits)])
    assert young.status <= old.status


@given(ages, ages, thresholds(), thresholds())
def test_the_line_is_one_plugin_status_line_with_the_status_it_exits_with(
        archive_age, backup_age, archive_limits, backup_limits):
    verdict = judge([archive(archive_age, archive_limits), backup(backup_age, backup_limits)])
    match = PLUGIN_LINE.fullmatch(verdict.line)
    assert match, verdict.line
    assert match.group(1) == verdict.status.name and verdict.status != Status.UNKNOWN
    assert verdict.line.count(" | ") == 1 and "archive_age=" in verdict.line


@given(ages, thresholds())
@example(3600.0, Thresholds(3600, 7200))
@example(3601.0, Thresholds(3600, 7200))
@example(7200.9, Thresholds(3600, 7200))
@example(-5.0, Thresholds(1, 1))
def test_the_status_agrees_with_the_perfdata_value_and_thresholds_it_prints(age, limits):
    """Whatever a grapher reads from the perfdata, it would draw the same conclusion."""
    check = archive(age, limits)
    value, warning, critical = re.fullmatch(r"archive_age=(\d+s|U);(\d+);(\d+)",
                                            check.perfdata()).groups()
    assert (int(warning), int(critical)) == (limits.warning, limits.critical)
    if value == "U":
        assert check.status == Status.CRITICAL
    else:
        seconds = int(value[:-1])
        expected = (Status.CRITICAL if seconds > limits.critical else
                    Status.WARNING if seconds > limits.warning else Status.OK)
        assert check.status == expected


@given(st.sampled_from(list(Status)), st.text())
@example(Status.CRITICAL, "swift unreachable | retry\nTraceback (most recent call last):")
@example(Status.UNKNOWN, "")
def test_a_check_that_failed_still_prints_one_plugin_line(status, message):
    verdict = failure(status, message)
    match = PLUGIN_LINE.fullmatch(verdict.line)
    assert match and match.group(1) == status.name, verdict.line
    assert "|" not in verdict.line and verdict.line.isprintable()


@given(ages, thresholds())
def test_the_worst_finding_is_named_first(age, limits):
    fine = backup(0.0, Thresholds(10, 20))
    verdict = judge([fine, archive(age, limits)])
    text = verdict.line.split(" - ", 1)[1].split(" | ")[0]
    assert text.startswith("no WAL" if age is None else "WAL") == (verdict.status != Status.OK)


@pytest.mark.parametrize("warning, critical", [(0, 10), (10, 5), (-1, 5), (5, 2.5), (True, 5)])
def test_thresholds_out_of_order_or_not_positive_whole_seconds_are_refused(warning, critical):
    with pytest.raises(InvalidInput):
        Thresholds(warning, critical)


def test_known_lines():
    limits = Thresholds(3600, 7200)
    assert judge([archive(12.4, limits), backup(3700, Thresholds(93600, 180000))]).line == (
        "SWIFTWAL OK - WAL archived 12s ago, newest backup finished 1h 1m ago"
        " | archive_age=12s;3600;7200 backup_age=3700s;93600;180000")
    assert judge([archive(5000, limits), backup(None, limits)]).line == (
        "SWIFTWAL CRITICAL - no backup, WAL archived 1h 23m ago (warning above 1h 0m)"
        " | archive_age=5000s;3600;7200 backup_age=U;3600;7200")
