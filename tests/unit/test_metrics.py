"""info's report as node_exporter textfile metrics (swiftwal.adapters.metrics):
what each metric says, read back with prometheus-client's own parser; the file is
replaced whole (the command's own errors: tests/integration/test_prometheus_file.py)."""
from __future__ import annotations

import datetime
import os

import pytest
from hypothesis import given, strategies as st
from prometheus_client.parser import text_string_to_metric_families

from swiftwal.adapters import metrics
from swiftwal.adapters.postgres import ArchiverStats

UTC = datetime.timezone.utc


def report(recovery_window=None, **wal) -> dict:
    built = {
        "format": 1, "now": "2026-03-01T12:00:00+00:00", "store": "file:///s",
        "backups": {"count": 2, "stored_bytes": 123456789, "oldest": "20260228T0100Z",
                    "newest": {"key": "20260301T0100Z", "finished_at": "2026-03-01T01:05:00+00:00",
                               "age_s": 39600.0, "legacy": False}},
        "wal": {"count": 40, "stored_bytes": 98765, "last_segment": "000000020000000000000031",
                "last_archived_at": "2026-03-01T11:59:48.500000+00:00", "age_s": 11.5, **wal},
        "gaps": [{"timeline": 2, "first": "000000020000000000000010",
                  "last": "000000020000000000000011", "count": 2}],
        "prune": None,
        "newest_verified": {"key": "20260228T0100Z", "finished_at": "2026-02-28T01:04:00+00:00",
                            "age_s": 125760.0},
    }
    if recovery_window is not None:
        built["recovery_window"] = recovery_window
    return built


def samples(data: bytes) -> dict:
    found = {}
    for family in text_string_to_metric_families(data.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def families(data: bytes) -> dict:
    return {f.name: f for f in text_string_to_metric_families(data.decode())}


def unix(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def test_every_number_of_the_report_is_exported_under_its_name():
    data = metrics.exposition(report(), ArchiverStats(3, 1772366400.25, "000000020000000000000030"))
    found = samples(data)
    assert found == {
        ("swiftwal_wal_last_archived_age_seconds", ()): 11.5,
        ("swiftwal_wal_last_archived_timestamp_seconds", ()): unix("2026-03-01T11:59:48.5+00:00"),
        ("swiftwal_backup_newest_age_seconds", ()): 39600.0,
        ("swiftwal_backup_newest_finished_timestamp_seconds", ()): unix("2026-03-01T01:05:00+00:00"),
        ("swiftwal_backup_newest_verified_age_seconds", ()): 125760.0,
        ("swiftwal_backup_newest_verified_finished_timestamp_seconds", ()):
            unix("2026-02-28T01:04:00+00:00"),
        ("swiftwal_backups", ()): 2,
        ("swiftwal_backups_stored_bytes", ()): 123456789,
        ("swiftwal_wal_files", ()): 40,
        ("swiftwal_wal_stored_bytes", ()): 98765,
        ("swiftwal_wal_gaps", ()): 1,
        ("swiftwal_archive_failures_total", ()): 3,
        ("swiftwal_archive_last_failure_timestamp_seconds", ()): 1772366400.25,
    }
    kinds = {name: f.type for name, f in families(data).items()}
    assert kinds["swiftwal_archive_failures"] == "counter"
    assert {k for k, v in kinds.items() if v != "gauge"} == {"swiftwal_archive_failures"}
    assert "not necessarily verified" in families(data)["swiftwal_backup_newest_age_seconds"] \
        .documentation.lower()


def test_what_is_not_known_is_left_out_rather_than_made_up():
    empty = report(last_segment=None, last_archived_at=None, age_s=None)
    empty["backups"].update(count=0, stored_bytes=0, newest=None, oldest=None)
    empty["newest_verified"] = None
    names = {name for name, _ in samples(metrics.exposition(empty, None))}
    assert not any("last_archived" in n or "newest" in n or "archive_" in n for n in names)
    assert {"swiftwal_backups", "swiftwal_wal_files"} <= names


def test_no_failure_since_the_statistics_reset_is_time_zero():
    found = samples(metrics.exposition(report(), ArchiverStats(0, None, None)))
    assert found[("swiftwal_archive_last_failure_timestamp_seconds", ())] == 0
    assert found[("swiftwal_archive_failures_total", ())] == 0


moments = st.one_of(st.none(), st.datetimes(datetime.datetime(2000, 1, 1),
                                            datetime.datetime(2100, 1, 1), timezones=st.just(UTC)))


@given(st.dictionaries(st.integers(1, 0xFFFFFFFF), st.tuples(moments, moments), max_size=5))
def test_the_recovery_window_of_each_timeline_is_exported_where_known(windows):
    window = [{"timeline": timeline, "earliest": None if a is None else a.isoformat(),
               "latest": None if b is None else b.isoformat()}
              for timeline, (a, b) in sorted(windows.items())]
    found = samples(metrics.exposition(report(recovery_window=window)))
    exported = {(n, dict(l)["timeline"]): v for (n, l), v in found.items() if "window" in n}
    expected = {}
    for timeline, (earliest, latest) in windows.items():
        for name, moment in (("start", earliest), ("end", latest)):
            if moment is not None:
                key = (f"swiftwal_recovery_window_{name}_timestamp_seconds", str(timeline))
                expected[key] = moment.timestamp()
    assert exported.keys() == expected.keys()
    assert all(exported[k] == pytest.approx(v, abs=1e-3) for k, v in expected.items())


def test_a_report_without_a_recovery_window_exports_none():
    names = {name for name, _ in samples(metrics.exposition(report()))}
    assert not any("recovery_window" in n for n in names)


def test_the_file_is_replaced_by_a_rename_and_readable_by_others(tmp_path):
    path = tmp_path / "swiftwal.prom"
    path.write_text("old\n")
    before = os.stat(path).st_ino
    old_umask = os.umask(0o022)
    try:
        metrics.write(str(path), b"swiftwal_backups 2.0\n")
    finally:
        os.umask(old_umask)
    assert os.stat(path).st_ino != before and path.read_bytes() == b"swiftwal_backups 2.0\n"
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert os.listdir(tmp_path) == ["swiftwal.prom"]
