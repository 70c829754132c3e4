"""Recovery targets: the chosen backup always reaches the target and no newer one
does; settings round-trip through postgresql.conf quoting; bad input is refused."""
from __future__ import annotations

import datetime

import pytest
from hypothesis import given, example, strategies as st

from swiftwal.domain import errors
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.recovery import (MANAGED_SETTINGS, RecoveryTarget, choose_backup,
                                      conf_quote, parse_target_time, rewrite_auto_conf)
from tests.unit.strategies import backup_records

UTC = datetime.timezone.utc
times = st.datetimes(min_value=datetime.datetime(2000, 1, 1),
                     max_value=datetime.datetime(2100, 1, 1), timezones=st.just(UTC))
records = st.lists(backup_records(timeline=1), max_size=6).map(
    lambda items: sorted({r.key: r for r in items}.values(), key=lambda r: r.key))


@given(records, times)
def test_time_target_chooses_the_newest_backup_that_ended_before_it(backups, moment):
    target = RecoveryTarget.build(time=moment.isoformat())
    ended = [b for b in backups if b.finished_at is not None and b.finished_at <= moment]
    if not ended:
        with pytest.raises(errors.InvalidInput):
            choose_backup(backups, target, {})
        return
    assert choose_backup(backups, target, {}) == ended[-1]


@given(records, st.integers(0, 2**64 - 1).map(Lsn))
def test_lsn_target_chooses_the_newest_backup_that_stopped_before_it(backups, lsn):
    target = RecoveryTarget.build(lsn=str(lsn))
    stopped = [b for b in backups if b.stop_lsn is not None and b.stop_lsn <= lsn]
    if not stopped:
        with pytest.raises(errors.InvalidInput):
            choose_backup(backups, target, {})
        return
    assert choose_backup(backups, target, {}) == stopped[-1]


@given(records.filter(bool), st.text(min_size=1, max_size=63).filter(lambda s: s.strip()))
def test_name_target_takes_the_newest_backup(backups, name):
    assert choose_backup(backups, RecoveryTarget.build(name=name), {}) == backups[-1]


@given(st.text(max_size=80))
@example("it's a \\path")
def test_conf_quote_is_read_back_by_postgresql_rules(value):
    quoted = conf_quote(value)
    inner = quoted[1:-1]
    # postgresql.conf: '' is a quote, backslash escapes the next character
    out, i = [], 0
    while i < len(inner):
        if inner[i] == "\\":
            out.append(inner[i + 1]); i += 2
        elif inner[i] == "'":
            assert inner[i + 1] == "'"; out.append("'"); i += 2
        else:
            out.append(inner[i]); i += 1
    assert "".join(out) == value


@given(st.lists(st.sampled_from(MANAGED_SETTINGS + ("port", "archive_mode")), max_size=8))
def test_rewriting_drops_every_stale_recovery_setting(names):
    existing = "".join(f"{name} = 'old'\n" for name in names)
    target = RecoveryTarget.build(name="x", action="promote")
    text = rewrite_auto_conf(existing, target.settings("cmd %f %p"))
    before, after = text.split("# recovery settings written by swiftwal restore\n")
    kept = [line.split("=")[0].strip() for line in before.splitlines()]
    assert kept == [name for name in names if name not in MANAGED_SETTINGS]
    assert after == ("restore_command = 'cmd %f %p'\nrecovery_target_name = 'x'\n"
                     "recovery_target_action = 'promote'\n")


@pytest.mark.parametrize("text", ["2026-01-01 10:00:00", "yesterday", ""])
def test_times_without_a_zone_are_refused(text):
    with pytest.raises(errors.InvalidInput):
        parse_target_time(text)


def test_zones_are_kept():
    assert parse_target_time("2026-01-01T10:00:00Z") == datetime.datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert parse_target_time("2026-01-01T12:00:00+02:00") == datetime.datetime(2026, 1, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("kwargs", [
    {"time": "2026-01-01T00:00:00Z", "name": "a"}, {"standby": True, "name": "a"},
    {"action": "promote"}, {"name": "a", "action": "explode"}, {"timeline": "sideways"}])
def test_contradictory_options_are_usage_errors(kwargs):
    with pytest.raises(errors.UsageError):
        RecoveryTarget.build(**kwargs)


def test_standby_writes_standby_signal():
    target = RecoveryTarget.build(standby=True)
    assert target.signal_file == "standby.signal"
    assert target.settings("c") == (("restore_command", "c"),)
