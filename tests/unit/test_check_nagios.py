"""``check --nagios`` through the command line against a local-directory store:
the status follows the ages of what is stored, and whatever goes wrong, from the
options on, ends in one plugin line and a status of 0..3."""
from __future__ import annotations

import datetime
import io
import json
import os
import re
import time

import attrs
import pytest

from swiftwal.adapters.storage.local import LocalStorage
from swiftwal.commands.check_nagios import as_plugin
from swiftwal.domain.backup import BackupKey
from tests.support.inprocess import run_cli
from tests.unit.strategies import numbered_record
from tests.unit.test_monitoring import PLUGIN_LINE

SEGMENT = "000000010000000000000003"


@pytest.fixture
def store(tmp_path):
    return tmp_path / "store"


def configure(tmp_path, store, **settings) -> str:
    config = tmp_path / "swiftwal.conf"
    lines = {"STORAGE": f"file://{store}", "CACHE_DIR": str(tmp_path / "cache"), **settings}
    config.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    return str(config)


def archive_segment(store, age_s: float = 0) -> None:
    LocalStorage(str(store)).put(f"wal/{SEGMENT}.zst", io.BytesIO(b"segment"))
    moment = time.time() - age_s
    os.utime(store / "wal" / f"{SEGMENT}.zst", (moment, moment))


def store_backup(store, age_s: float) -> None:
    finished = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=age_s)
    key = BackupKey.from_datetime(finished - datetime.timedelta(seconds=60))
    record = attrs.evolve(numbered_record(1, 2), key=key, finished_at=finished,
                          data_object=f"backups/{key}/base.tar.zst")
    LocalStorage(str(store)).put(f"backups/{key}/backup.json",
                                 io.BytesIO(json.dumps(record.to_json_dict()).encode()))


def nagios(config, *extra) -> tuple[int, str]:
    status, out, _err = run_cli([f"--config={config}", "check", "--nagios", *extra])
    lines = out.splitlines()
    assert len(lines) == 1 and PLUGIN_LINE.fullmatch(lines[0]), out
    assert ["OK", "WARNING", "CRITICAL", "UNKNOWN"][status] == lines[0].split()[1]
    return status, lines[0]


def test_fresh_wal_and_backup_are_ok_with_their_ages_as_perfdata(tmp_path, store):
    archive_segment(store, age_s=5)
    store_backup(store, age_s=3600)
    status, line = nagios(configure(tmp_path, store))
    assert status == 0, line
    perfdata = dict(re.findall(r"(\w+)=(\S+)", line.split(" | ")[1]))
    assert re.fullmatch(r"[5-9]s;3600;7200", perfdata["archive_age"]), line
    assert re.fullmatch(r"36[0-9]{2}s;93600;180000", perfdata["backup_age"]), line


@pytest.mark.parametrize("age, expected", [(30, 0), (90, 1), (200, 2)])
def test_the_status_follows_the_age_of_the_last_segment_and_the_thresholds(
        tmp_path, store, age, expected):
    archive_segment(store, age_s=age)
    store_backup(store, age_s=10)
    config = configure(tmp_path, store, CHECK_ARCHIVE_WARNING=60, CHECK_ARCHIVE_CRITICAL=120)
    status, line = nagios(config)
    assert status == expected and ";60;120 " in line, line


def test_a_late_backup_warns(tmp_path, store):
    archive_segment(store)
    store_backup(store, age_s=7200)
    status, line = nagios(configure(tmp_path, store, CHECK_BACKUP_WARNING=3600,
                                    CHECK_BACKUP_CRITICAL=86400))
    assert status == 1 and "newest backup finished 2h 0m ago (warning above 1h 0m)" in line


def test_an_empty_store_is_critical(tmp_path, store):
    store.mkdir()
    status, line = nagios(configure(tmp_path, store))
    assert status == 2 and "no WAL archived" in line and "archive_age=U;" in line


@pytest.mark.parametrize("settings, said", [
    ({"CHECK_ARCHIVE_WARNING": 7201}, "CHECK_ARCHIVE_WARNING (7201) is above CHECK_ARCHIVE_CRITICAL"),
    ({"CHECK_BACKUP_CRITICAL": "1d"}, "CHECK_BACKUP_CRITICAL must be a whole number of seconds"),
    ({"CHECK_ARCHIVE_WARNING": "0"}, "CHECK_ARCHIVE_WARNING must be a whole number of seconds"),
])
def test_bad_thresholds_are_unknown(tmp_path, store, settings, said):
    archive_segment(store)
    status, line = nagios(configure(tmp_path, store, **settings))
    assert status == 3 and said in line, line


@pytest.mark.parametrize("argv", [
    ["check", "--nagios", "--no-such-option"],
    ["check", "--nagios", "--json"],
    ["--config=/nonexistent/swiftwal.conf", "check", "--nagios"],
    ["--log-format=xml", "check", "--nagios"],
])
def test_bad_options_and_settings_still_answer_as_a_plugin(tmp_path, store, argv):
    archive_segment(store)
    status, out, err = run_cli([f"--storage=file://{store}", *argv])
    assert status == 3 and PLUGIN_LINE.fullmatch(out.strip()), (out, err)
    assert out.startswith("SWIFTWAL UNKNOWN - ") and "Traceback" not in out + err


@pytest.mark.parametrize("error", [RuntimeError("bug | here\nsecond line"), KeyboardInterrupt()])
def test_anything_unexpected_is_one_unknown_line(capsys, error):
    def command():
        raise error

    assert as_plugin(command) == 3
    out = capsys.readouterr().out
    assert PLUGIN_LINE.fullmatch(out.rstrip("\n")) and out.count("\n") == 1, out


def test_plain_check_is_not_a_plugin(tmp_path, store):
    status, out, err = run_cli([f"--config={configure(tmp_path, store)}", "check",
                                "--no-archive-test", "-H", str(tmp_path / "no-server")])
    assert status == 1 and not out.startswith("SWIFTWAL") and "FAIL  server:" in out, out + err
