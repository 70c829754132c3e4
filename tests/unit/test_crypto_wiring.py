"""How the commands use the cipher: what counts as encrypted, which key is
refused by name, what a backup record says, and the key file setting."""
from __future__ import annotations

import datetime
import os

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

pytest.importorskip("cryptography", reason="SKIPPED LOUDLY: the optional cryptography package "
                    "is not installed, so client-side encryption is untested")

from swiftwal.adapters import crypto
from swiftwal.adapters.compression import compress_bytes, decompress_bytes
from swiftwal.config import load_settings
from swiftwal.domain.backup import BackupRecord
from swiftwal.domain.errors import ConfigError, IntegrityError
from tests.unit.strategies import backup_records

keys = st.binary(min_size=32, max_size=32)
codecs = st.sampled_from(["zstd", "gzip"])


@given(st.binary(max_size=4000), keys, codecs, st.booleans())
def test_what_archive_wal_stores_reads_back_with_or_without_its_metadata(data, key, codec, with_meta):
    stored = crypto.encrypt_bytes(compress_bytes(codec, data), key)
    metadata = crypto.object_metadata(key) if with_meta else {}
    assert decompress_bytes(codec, crypto.plain_stored(stored, key, "o", metadata)) == data


@given(st.binary(max_size=4000), st.one_of(st.none(), keys), codecs)
def test_unencrypted_objects_are_read_as_they_are_whatever_the_key(data, key, codec):
    stored = compress_bytes(codec, data)
    assert crypto.plain_stored(stored, key, "o", {"compression": codec}) == stored


@given(st.binary(max_size=2000), keys, keys)
def test_another_key_is_refused_by_name_when_the_metadata_names_the_key(data, key, other):
    stored = crypto.encrypt_bytes(data, key)
    if crypto.key_id(other) == crypto.key_id(key):
        return
    with pytest.raises(ConfigError, match="another key"):
        crypto.plain_stored(stored, other, "o", crypto.object_metadata(key))
    # without the metadata the cipher itself refuses it
    with pytest.raises(IntegrityError, match="fails authentication"):
        crypto.plain_stored(stored, other, "o", {})


@given(st.binary(max_size=2000), keys, st.booleans())
def test_no_key_is_a_configuration_error_never_data(data, key, with_meta):
    stored = crypto.encrypt_bytes(data, key)
    with pytest.raises(ConfigError, match="no encryption key is configured"):
        crypto.plain_stored(stored, None, "o", crypto.object_metadata(key) if with_meta else {})


@given(st.binary(min_size=1, max_size=2000), keys)
def test_metadata_saying_encrypted_over_plain_bytes_fails_authentication(data, key):
    stored = compress_bytes("zstd", data)
    with pytest.raises(IntegrityError):
        crypto.plain_stored(stored, key, "o", crypto.object_metadata(key))


@given(backup_records(), st.one_of(st.none(), keys))
def test_a_record_round_trips_its_encryption_and_says_it_as_metadata(record, key):
    import attrs

    if key is not None:
        record = attrs.evolve(record, encryption=crypto.ALGORITHM,
                              encryption_key_id=crypto.key_id(key))
    again = BackupRecord.from_json_dict(record.to_json_dict())
    assert again == record
    assert crypto.encrypted("o", key, crypto.record_metadata(again)) is (key is not None)


def test_records_written_before_encryption_read_as_unencrypted():
    record = {"format": 1, "key": "20240102T030405Z", "label": "l", "start_lsn": "0/2000028",
              "stop_lsn": "0/2000100", "timeline": 1, "start_segment": "000000010000000000000002",
              "stop_segment": "000000010000000000000002", "pg_version": "15",
              "system_identifier": "1", "segment_size": 16 << 20, "raw_size": 1, "stored_size": 1,
              "data_object": "backups/20240102T030405Z/base.tar.zst", "compression": "zstd",
              "sha256": None, "wal_included": False,
              "finished_at": datetime.datetime(2024, 1, 2, tzinfo=datetime.timezone.utc).isoformat(),
              "legacy": False}
    parsed = BackupRecord.from_json_dict(record)
    assert parsed.encryption is None and crypto.record_metadata(parsed) == {}


@example(0o600)
@example(0o640)
@example(0o604)
@given(st.integers(0o400, 0o777))
def test_a_key_file_others_may_read_is_warned_about(tmp_path_factory, mode):
    directory = tmp_path_factory.mktemp("key")
    path = os.path.join(str(directory), "key")
    with open(path, "wb") as handle:
        handle.write(os.urandom(32))
    os.chmod(path, mode)
    settings = load_settings({}, None, {"SWIFTWAL_ENCRYPTION_KEY_FILE": path})
    warned = [w for w in settings.warnings if "encryption key file" in w]
    assert bool(warned) == bool(mode & 0o077)
    assert crypto.configured_key(settings) is not None


def test_a_missing_or_malformed_key_file_is_one_configuration_error(tmp_path):
    missing = load_settings({}, None, {"SWIFTWAL_ENCRYPTION_KEY_FILE": str(tmp_path / "absent")})
    with pytest.raises(ConfigError, match="cannot be read"):
        crypto.configured_key(missing)
    (tmp_path / "short").write_bytes(b"0123")
    short = load_settings({}, None, {"SWIFTWAL_ENCRYPTION_KEY_FILE": str(tmp_path / "short")})
    with pytest.raises(ConfigError, match="32 bytes or 64 hex digits"):
        crypto.configured_key(short)
    assert crypto.configured_key(load_settings({}, None, {})) is None
