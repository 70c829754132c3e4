"""Where a restore puts each tablespace, the tablespace_map file, transfer
rates, and a backup record with tablespaces (its format and round trip)."""
from __future__ import annotations

import attrs
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.domain.backup import BackupRecord, TablespaceBackup
from swiftwal.domain.errors import InvalidInput, UsageError
from swiftwal.domain.rates import max_rate, parse_rate
from swiftwal.domain.tablespaces import (parse_mapping, parse_tablespace_map, plan_targets,
                                         render_tablespace_map)

ONE = TablespaceBackup(16384, "/srv/ts/one", "backups/K/16384.tar.zst", 10, 5, "a" * 64)
TWO = TablespaceBackup(16390, "/srv/ts/two", "backups/K/16390.tar.zst", 10, 5, "b" * 64)


def test_tablespaces_go_back_where_they_were_unless_mapped():
    plan = plan_targets([ONE, TWO], "/restore/data", {}, None)
    assert [(t.directory, t.moved) for t in plan] == [("/srv/ts/one", False),
                                                      ("/srv/ts/two", False)]
    plan = plan_targets([ONE, TWO], "/restore/data", {16384: "/new/one"}, "/new/all")
    assert [(t.directory, t.moved) for t in plan] == [("/new/one", True),
                                                      ("/new/all/16390", True)]


@pytest.mark.parametrize("mapping, map_all, words", [
    ({16384: "/restore/data/one"}, None, "overlaps"),  # inside the data directory
    ({16384: "/restore"}, None, "overlaps"),  # holding it
    ({16384: "/x", 16390: "/x/y"}, None, "overlaps"),
    ({16384: "/x"}, "/x", "overlaps"),  # /x/16390 is inside /x
    ({99: "/x"}, None, "no tablespace with oid 99"),
])
def test_targets_that_overlap_or_name_no_tablespace_are_refused(mapping, map_all, words):
    with pytest.raises(UsageError, match=words):
        plan_targets([ONE, TWO], "/restore/data", mapping, map_all)


def test_a_map_for_a_backup_without_tablespaces_has_no_effect_and_is_refused():
    with pytest.raises(UsageError, match="no tablespaces"):
        plan_targets([], "/restore/data", {}, "/x")
    assert plan_targets([], "/restore/data", {}, None) == []


@pytest.mark.parametrize("text", ["16384", "x=/a", "=/a", "16384="])
def test_a_malformed_mapping_is_a_usage_error(text):
    with pytest.raises(UsageError):
        parse_mapping(text)


paths = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                min_size=1).map(lambda s: "/" + s)


@given(st.dictionaries(st.integers(1, 2**32 - 1), paths, max_size=5))
@example({16384: "/a b\\c\nd\re"})
def test_tablespace_map_round_trips(entries):
    assert parse_tablespace_map(render_tablespace_map(entries.items())) == entries


def test_tablespace_map_as_postgresql_writes_it():
    assert parse_tablespace_map("16384 /srv/ts one\n16390 /srv/a\\\\b\n") == {
        16384: "/srv/ts one", 16390: "/srv/a\\b"}


@pytest.mark.parametrize("text, rate", [("100", 100), ("4M", 4096), ("512k", 512), (" 32 ", 32)])
def test_rates_read_as_pg_basebackup_reads_them(text, rate):
    assert max_rate(text) == rate


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5M", "10G", "31", "2000000", "M", "fast"])
def test_a_rate_pg_basebackup_would_refuse_is_refused(text):
    with pytest.raises(InvalidInput):
        max_rate(text)
    if text in ("31", "2000000"):
        assert parse_rate(text) > 0  # MAX_UPLOAD_RATE has no such range


def record(**changes) -> BackupRecord:
    data = {"format": 1, "key": "20261129T101530Z", "label": "l", "start_lsn": "0/2000028",
            "stop_lsn": "0/2000100", "timeline": 1, "start_segment": "000000010000000000000002",
            "stop_segment": "000000010000000000000002", "pg_version": "15",
            "system_identifier": "1", "segment_size": 16 << 20, "raw_size": 100,
            "stored_size": 50, "data_object": "backups/20261129T101530Z/base.tar.zst",
            "compression": "zstd", "sha256": "c" * 64, "wal_included": False,
            "finished_at": "2026-11-29T10:16:00+00:00"}
    data.update(changes)
    return BackupRecord.from_json_dict(data)


def test_a_record_with_tablespaces_is_format_2_and_round_trips():
    plain = record(backup_from="standby")
    assert plain.record_format == 1 and plain.backup_from == "standby"
    with_spaces = attrs.evolve(plain, tablespaces=(ONE, TWO))
    data = with_spaces.to_json_dict()
    assert data["format"] == 2
    assert BackupRecord.from_json_dict(data) == with_spaces
    assert with_spaces.total_stored_size == 60 and with_spaces.total_raw_size == 120
    assert [name for name, _, _ in with_spaces.stored_objects()] == [
        plain.data_object, ONE.data_object, TWO.data_object]


@pytest.mark.parametrize("changes", [
    {"format": 1, "tablespaces": [ONE.to_json_dict()]},  # an old reader would restore it alone
    {"format": 2},  # neither incremental nor with tablespaces
    {"format": 2, "tablespaces": [ONE.to_json_dict(), ONE.to_json_dict()]},
    {"format": 2, "tablespaces": [{**ONE.to_json_dict(), "location": "relative"}]},
    {"backup_from": "replica"},
])
def test_an_inconsistent_record_is_refused(changes):
    with pytest.raises(InvalidInput):
        record(**changes)


# -- an incremental backup of a cluster with tablespaces --------------------------------------

def test_base_backup_asks_for_an_incremental_backup_only_when_given_the_parents_manifest():
    from swiftwal.adapters.replication import BackupOptions, command

    full = command(BackupOptions(label="it's", checkpoint="fast"), 170000)
    assert full == ("BASE_BACKUP (LABEL 'it''s', TABLESPACE_MAP, CHECKPOINT 'fast', "
                    "MANIFEST 'yes')")
    assert command(BackupOptions(label="it's", checkpoint="fast",
                                 incremental="/tmp/parent.backup_manifest"), 180000) == \
        full[:-1] + ", INCREMENTAL)"


def _pg_combinebackup_mapping(arg: str):
    """How pg_combinebackup reads ``--tablespace-mapping=OLD=NEW`` (its
    add_tablespace_mapping): ``\\=`` a literal ``=``, any other ``=`` the separator."""
    old, new, current = [], [], None
    current = old
    for i, char in enumerate(arg):
        if char == "\\" and arg[i + 1:i + 2] == "=":
            continue
        if char == "=" and (i == 0 or arg[i - 1] != "\\"):
            assert current is old, "multiple = signs"
            current = new
            continue
        current.append(char)
    return "".join(old), "".join(new)


@given(st.text(st.sampled_from("ab=\\ /é"), max_size=12), st.text(st.sampled_from("ab=\\ /"),
                                                                    max_size=12))
@example("/srv/a=b", "/x")
def test_tablespace_mappings_reach_pg_combinebackup_whole(old_parent, new_parent):
    from swiftwal.adapters.postgres import _escape_equals

    # the paths restore_chain gives: a staging directory's member or result
    old = f"/{old_parent}/.swiftwal-staging/20260101T000000Z"
    new = f"/{new_parent}/.swiftwal-staging/combined"
    assert _pg_combinebackup_mapping(f"{_escape_equals(old)}={_escape_equals(new)}") == (old, new)
