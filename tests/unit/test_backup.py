"""Backup keys, backup labels and backup records."""
from __future__ import annotations

import datetime
import json

import attrs
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from swiftwal.domain.backup import (BackupKey, BackupRecord, legacy_backup_record,
                                    parse_backup_label)
from swiftwal.domain.errors import InvalidBackupKey, InvalidInput
from swiftwal.domain.lsn import Lsn
from swiftwal.domain.walnames import Segment

from .strategies import UTC, backup_keys, backup_records

LABEL_15 = """START WAL LOCATION: 0/5C000020 (file 00000001000000000000005C)
CHECKPOINT LOCATION: 0/5C000058
BACKUP METHOD: streamed
BACKUP FROM: primary
START TIME: 2013-08-29 01:10:19 ICT
LABEL: pg_basebackup (via swiftwal)
START TIMELINE: 1
"""
LABEL_91 = """START WAL LOCATION: 0/5C000020 (file 00000001000000000000005C)
CHECKPOINT LOCATION: 0/5C000058
START TIME: 2013-08-29 01:10:19 ICT
LABEL: pg_basebackup (via swiftwal)
"""


@given(backup_keys)
@example(BackupKey.parse("20130828T1810Z"))
@example(BackupKey.parse("99991231T235959Z"))
def test_backup_key_round_trip(key):
    assert BackupKey.parse(str(key)) == key
    assert len(str(key)) == (16 if key.with_seconds else 14)


@given(backup_keys, backup_keys)
def test_backup_keys_of_both_forms_sort_by_time(a, b):
    if a.time < b.time:
        assert a < b
        assert str(a)[:13] <= str(b)[:13]


def test_minute_and_seconds_forms_sort_together():
    keys = [BackupKey.parse(k) for k in
            ["20130828T181005Z", "20130828T1811Z", "20130828T1810Z", "20130828T180959Z"]]
    assert [str(k) for k in sorted(keys)] == [
        "20130828T180959Z", "20130828T1810Z", "20130828T181005Z", "20130828T1811Z"]
    assert BackupKey.parse("20130828T1810Z").time == datetime.datetime(2013, 8, 28, 18, 10,
                                                                       tzinfo=UTC)


def test_key_from_datetime_is_utc_with_seconds():
    ict = datetime.timezone(datetime.timedelta(hours=7))
    key = BackupKey.from_datetime(datetime.datetime(2013, 8, 29, 1, 10, 19, 500, tzinfo=ict))
    assert str(key) == "20130828T181019Z"
    with pytest.raises(InvalidBackupKey):
        BackupKey.from_datetime(datetime.datetime(2013, 8, 29))


@pytest.mark.parametrize("text", ["", "20130828T1810", "20130828 1810Z", "20131328T1810Z",
                                  "20130828T2510Z", "20130828T18100Z", "2013-08-28T18:10Z",
                                  "20130828t1810z", "20130828T181060Z"])
def test_invalid_backup_key_is_rejected_naming_it(text):
    with pytest.raises(InvalidBackupKey) as info:
        BackupKey.parse(text)
    assert repr(text) in str(info.value)


@pytest.mark.parametrize("text", [LABEL_15, LABEL_91])
def test_backup_label_of_old_and_new_servers(text):
    label = parse_backup_label(text)
    assert label.start_lsn == Lsn.parse("0/5C000020")
    assert label.start_segment == Segment.parse("00000001000000000000005C")
    assert label.timeline == 1
    assert label.checkpoint_lsn == Lsn.parse("0/5C000058")
    assert label.label == "pg_basebackup (via swiftwal)"


@pytest.mark.parametrize("text", [
    "", "LABEL: x\n", "START WAL LOCATION: 0/5C000020\n",
    "START WAL LOCATION: 0/5C000020 (file 00000001000000000000005D)\n",
    LABEL_15.replace("START TIMELINE: 1", "START TIMELINE: 2"),
    LABEL_15.replace("START TIMELINE: 1", "START TIMELINE: one"),
])
def test_invalid_backup_label_is_rejected(text):
    with pytest.raises(InvalidInput):
        parse_backup_label(text)


def test_backup_label_with_the_wrong_segment_size_is_rejected():
    with pytest.raises(InvalidInput) as info:
        parse_backup_label(LABEL_15, 64 * 1024 * 1024)
    assert "segment size" in (info.value.hint or "")


@given(backup_records())
def test_record_json_round_trip(record):
    as_json = json.loads(json.dumps(record.to_json_dict()))
    assert BackupRecord.from_json_dict(as_json) == record


@given(backup_records(), st.sampled_from(["key", "start_lsn", "timeline", "segment_size",
                                          "wal_included", "start_segment"]),
       st.sampled_from([None, "bad", 1.5, [], True]))
def test_record_with_a_bad_field_is_rejected_naming_it(record, field, value):
    assume(not (field == "wal_included" and value is True))
    data = record.to_json_dict()
    data[field] = value
    with pytest.raises(InvalidInput) as info:
        BackupRecord.from_json_dict(data)
    assert field in str(info.value) or repr(value) in str(info.value)


def test_record_of_a_newer_format_is_refused():
    data = legacy_backup_record("20130828T1810Z", "pg_basebackup_20130828T1810Z.tgz", 10,
                                LABEL_91).to_json_dict()
    data["format"] = 3
    with pytest.raises(InvalidInput) as caught:
        BackupRecord.from_json_dict(data)
    assert caught.value.message == "unsupported backup record format 3"


@given(backup_records())
def test_an_incremental_record_is_written_in_a_format_older_readers_refuse(record):
    """A reader of format 1 only (swiftwal before incremental backups) ignores the
    keys it does not know: it would take an incremental for a full backup, prune
    its parent and restore it alone.  Format 2 makes it refuse instead."""
    data = record.to_json_dict()
    assert data["format"] == (2 if record.chain else 1)
    assert data["type"] == ("incremental" if record.chain else "full")
    assert data["chain"] == [str(k) for k in record.chain]
    data["format"] = 3 - data["format"]
    with pytest.raises(InvalidInput) as caught:
        BackupRecord.from_json_dict(data)
    assert "cannot be of type" in caught.value.message


def test_a_record_without_the_new_fields_is_a_full_backup():
    data = legacy_backup_record("20130828T1810Z", "pg_basebackup_20130828T1810Z.tgz", 10,
                                LABEL_91).to_json_dict()
    for name in ("type", "parent", "chain", "manifest_object", "manifest_size",
                 "manifest_sha256"):
        del data[name]
    record = BackupRecord.from_json_dict(data)
    assert (record.backup_type, record.parent, record.chain, record.manifest_object) == \
        ("full", None, (), None)


@pytest.mark.parametrize("fields, message", [
    (dict(backup_type="incremental"), "must name its parent last in its chain"),
    (dict(parent=BackupKey.parse("20130828T1800Z")), "has a parent"),
    (dict(backup_type="incremental", parent=BackupKey.parse("20130828T1800Z"),
          chain=(BackupKey.parse("20130828T1700Z"),)), "must name its parent last"),
    (dict(backup_type="incremental", parent=BackupKey.parse("20130828T1900Z"),
          chain=(BackupKey.parse("20130828T1900Z"),)), "must be older backups"),
    (dict(backup_type="differential"), "backup type 'differential' is not one of full, "
                                       "incremental"),
])
def test_an_incremental_must_name_an_older_chain_ending_with_its_parent(fields, message):
    record = legacy_backup_record("20130828T1810Z", "pg_basebackup_20130828T1810Z.tgz", 10,
                                  LABEL_91)
    with pytest.raises(InvalidInput) as caught:
        attrs.evolve(record, **fields)
    assert message in str(caught.value)


def test_legacy_record_and_consistency_range():
    record = legacy_backup_record("20130828T1810Z", "pg_basebackup_20130828T1810Z.tgz", 10,
                                  LABEL_15)
    assert record.legacy and record.compression == "gzip"
    assert record.consistency_range() == (Segment.parse("00000001000000000000005C"), None)
    assert BackupRecord.from_json_dict(record.to_json_dict()) == record
