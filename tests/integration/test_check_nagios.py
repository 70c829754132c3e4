"""``swiftwal check --nagios`` on a real PostgreSQL 15 archiving into a real Swift:
OK with fresh WAL and a fresh backup, WARNING then CRITICAL as the last segment
ages past low thresholds, CRITICAL when Swift is down or refuses; always one
plugin line and a status of 0..3."""
from __future__ import annotations

import os
import re
import time

import pytest

from tests.support.cycle import archiving_primary, flush_archive, take_backup
from tests.unit.test_monitoring import PLUGIN_LINE

pytestmark = pytest.mark.parametrize("store", ["swift"], indirect=True)


def nagios(store, env=None, extra_config=None) -> tuple[int, str]:
    result = store.run("check", "--nagios", check=False, env=env, extra_config=extra_config,
                       timeout=120)
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and PLUGIN_LINE.fullmatch(lines[0]), (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert ["OK", "WARNING", "CRITICAL", "UNKNOWN"][result.returncode] == lines[0].split()[1]
    return result.returncode, lines[0]


def limits(warning: int, critical: int) -> dict:
    return {"SWIFTWAL_CHECK_ARCHIVE_WARNING": str(warning),
            "SWIFTWAL_CHECK_ARCHIVE_CRITICAL": str(critical)}


def test_the_plugin_follows_the_archive_and_answers_critical_without_swift(
        store, pg_factory, swift, tmp_path):
    primary = archiving_primary(pg_factory, store)
    status, line = nagios(store)
    assert status == 2 and "no backup" in line, line  # archiving, but nothing to restore from

    take_backup(store, primary)
    flush_archive(primary)
    archived = time.monotonic()
    status, line = nagios(store)
    assert status == 0, line
    archive_age = int(re.search(r"archive_age=(\d+)s;3600;7200 ", line).group(1))
    assert archive_age < 60 and re.search(r"backup_age=\d+s;93600;180000$", line), line

    # Nothing switches WAL any more (archive_timeout is 0): the last segment only ages.
    time.sleep(max(0.0, archived + 3 - time.monotonic()))
    status, line = nagios(store, env=limits(2, 600))
    assert status == 1 and "(warning above 2s)" in line and ";2;600 " in line, line
    status, line = nagios(store, env=limits(1, 2))
    assert status == 2 and "(critical above 2s)" in line, line

    wrong = str(tmp_path / "wrong-key.conf")
    with open(store.config_path) as source, open(wrong, "w") as target:
        target.write(re.sub(r"(?m)^OS_PASSWORD=.*$", "OS_PASSWORD=not-the-key", source.read()))
    os.chmod(wrong, 0o644)
    status, line = nagios(store, extra_config=wrong)
    assert status == 2 and "not-the-key" not in line, line

    swift.stop_proxy()
    try:
        status, line = nagios(store, env={"SWIFTWAL_TIMEOUT": "2"})
    finally:
        swift.start_proxy()
    assert status == 2 and "|" not in line, line
    assert nagios(store)[0] == 0
