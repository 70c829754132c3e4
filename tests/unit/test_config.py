"""Config precedence, the 0.2.2 file format, and secrets kept out of sight."""
from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swiftwal.config import KEYS, TYPED_KEYS, load_settings, parse_config_text
from swiftwal.domain.errors import ConfigError

keys = st.sampled_from(sorted(KEYS))
#: Read by load_settings when set: their values must name readable files.
SECRET_FILES = ("OS_PASSWORD_FILE", "OS_APPLICATION_CREDENTIAL_SECRET_FILE")
values = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                 max_size=30).map(str.strip).filter(bool)
#: Values each typed key accepts, as people write them.
WELL_FORMED = {
    "COMPRESSION": ["zstd", "gzip", "GZIP"], "LOG_FORMAT": ["console", "json", "JSON"],
    "OS_INTERFACE": ["public", "internal", "admin", "internalURL"],
    "OS_AUTH_TYPE": ["password", "v3applicationcredential", "v3password"],
    "OS_AUTH_VERSION": ["1", "1.0", "2.0", "3", "v3"], "OS_IDENTITY_API_VERSION": ["2.0", "3"],
    "INSECURE": ["yes", "no", "true", "false", "on", "off", "1", "0", "Yes"],
    "TIMEOUT": ["1", "60", "3600"], "SEGMENT_EXPIRY": ["1", "604800"],
    "LARGE_OBJECT_SIZE": ["1", "5368709120"], "WAL_SEGMENT_SIZE": ["1048576", "16777216", "1073741824"],
    "PARALLEL": ["1", "4", "64"], "MAX_UPLOAD_RATE": ["1", "512k", "10M"], "ARCHIVE_LOOKAHEAD": ["0", "8"], "RESTORE_PREFETCH": ["0", "8"],
    "ARCHIVE_MARK_DONE": ["yes", "no", "off"], "COMPRESSION_LEVEL": ["1", "3", "9"],
    **dict.fromkeys(("CHECK_ARCHIVE_WARNING", "CHECK_ARCHIVE_CRITICAL", "CHECK_BACKUP_WARNING",
                     "CHECK_BACKUP_CRITICAL"), ["1", "3600", "180000"]),
}
#: Refused by every typed key (zstd's fast levels are negative: -8 is refused instead of -1).
MALFORMED = ["abc", "-1", "4x", "1.5", "yes please", "zstd,gzip", "16MB", "0x10"]
INSTEAD = {("COMPRESSION_LEVEL", "-1"): "-8"}


def value_of(key: str):
    return st.sampled_from(WELL_FORMED[key]) if key in TYPED_KEYS else values


def settings_of(max_size: int = 6):
    """Mappings of keys to values each key accepts."""
    return st.lists(keys, unique=True, max_size=max_size).flatmap(
        lambda chosen: st.fixed_dictionaries({key: value_of(key) for key in chosen}))


def write(tmp_path, text: str, mode: int = 0o600) -> str:
    path = tmp_path / "swiftwal.conf"
    path.write_text(text)
    os.chmod(path, mode)
    return str(path)


def test_a_0_2_2_config_file_reads_unchanged(tmp_path):
    path = write(tmp_path, "OS_AUTH_URL=https://keystone.example.com:5000/v2.0\nOS_USERNAME=pgprod\n"
                           "OS_PASSWORD=secret\nOS_TENANT_NAME=db\nCONTAINER=pgprod\n")
    settings = load_settings({}, path, {})
    assert settings.container == "pgprod"
    assert settings.get("OS_TENANT_NAME") == "db"
    assert settings.warnings == ()


@given(st.dictionaries(keys, values, max_size=6))
def test_key_value_lines_round_trip(mapping):
    text = "# comment\n[DEFAULT]\n\n" + "".join(f"{k} = {v}\n" for k, v in mapping.items())
    assert parse_config_text(text, "f") == mapping


def layers_of(key: str):
    optional = st.none() | value_of(key)
    return st.tuples(optional, optional, optional)


@given(st.lists(keys, unique=True, max_size=6).flatmap(
    lambda chosen: st.fixed_dictionaries({key: layers_of(key) for key in chosen})))
def test_command_line_beats_environment_beats_file(layers):
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        file_values = {k: f for k, (f, _e, _c) in layers.items() if f is not None and k not in SECRET_FILES}
        path = os.path.join(directory, "c.conf")
        with open(path, "w") as handle:
            handle.writelines(f"{k}={v}\n" for k, v in file_values.items())
        os.chmod(path, 0o600)
        environ = {(k if k.startswith("OS_") else f"SWIFTWAL_{k}"): e
                   for k, (_f, e, _c) in layers.items() if e is not None and k not in SECRET_FILES}
        cli = {k: c for k, (_f, _e, c) in layers.items() if k not in SECRET_FILES}
        settings = load_settings(cli, path, environ)
        for key, (f, e, c) in layers.items():
            if key in SECRET_FILES:
                continue
            expected = c if c is not None else e if e is not None else f
            assert settings.get(key) == expected


def test_a_readable_file_holding_a_password_is_warned_about(tmp_path):
    path = write(tmp_path, "OS_PASSWORD=hunter2\n", mode=0o644)
    settings = load_settings({}, path, {})
    assert any("readable by other users" in w for w in settings.warnings)
    assert not any("hunter2" in w for w in settings.warnings)
    assert "hunter2" not in repr(settings)


def test_password_from_a_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    settings = load_settings({}, write(tmp_path, f"OS_PASSWORD_FILE={secret}\n"), {})
    assert settings.get("OS_PASSWORD") == "s3cret"


@pytest.mark.parametrize("text", ["no equals sign here\n", "=value\n"])
def test_malformed_lines_name_the_file_and_line(tmp_path, text):
    path = write(tmp_path, "CONTAINER=x\n" + text)
    with pytest.raises(ConfigError, match=r"line 2"):
        load_settings({}, path, {})


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({}, str(tmp_path / "nope.conf"), {})


@given(settings_of(max_size=40), keys.flatmap(lambda key: st.tuples(st.just(key), value_of(key))))
def test_the_spool_key_follows_the_store_and_never_holds_a_secret(mapping, changed_key):
    from swiftwal.config import Settings, _NOT_THE_STORE

    key, value = changed_key
    before = Settings(mapping)
    after = Settings({**mapping, key: value})
    for name, (_, secret) in KEYS.items():
        if secret:
            assert f"{name}=" not in before.public_key()
    changed = before.public_key() != after.public_key()
    if KEYS[key][1] or key in _NOT_THE_STORE:
        assert not changed, f"{key} does not say where objects go"
    elif mapping.get(key) != value:
        assert changed, f"{key} says where or how objects are stored"


def test_every_typed_key_is_a_key_and_has_examples():
    assert set(TYPED_KEYS) <= set(KEYS)
    assert set(WELL_FORMED) == set(TYPED_KEYS)


@given(st.sampled_from(sorted(TYPED_KEYS)).flatmap(lambda key: st.tuples(st.just(key),
                                                                         value_of(key))))
def test_a_well_formed_value_loads_from_every_source(key_and_value):
    key, value = key_and_value
    environ_name = key if key.startswith("OS_") else f"SWIFTWAL_{key}"
    for cli, environ in (({key: value}, {}), ({}, {environ_name: value})):
        assert load_settings(cli, None, environ).get(key) == value


@pytest.mark.parametrize("key", sorted(TYPED_KEYS))
@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_value_is_one_config_error_naming_the_key_and_its_source(tmp_path, key, value):
    value = INSTEAD.get((key, value), value)
    environ_name = key if key.startswith("OS_") else f"SWIFTWAL_{key}"
    path = write(tmp_path, f"{key}={value}\n")
    for cli, config_file, environ, source in (
            ({}, path, {}, f"the config file {path}"),
            ({}, None, {environ_name: value}, f"the environment ({environ_name})"),
            ({key: value}, None, {}, "the command line")):
        with pytest.raises(ConfigError) as raised:
            load_settings(cli, config_file, environ)
        assert raised.value.message.startswith(f"{key} must be "), raised.value.message
        assert repr(value) in raised.value.message and "\n" not in raised.value.message
        assert raised.value.hint == f"from {source}"


WHOLE_NUMBERS = {"TIMEOUT": 1, "SEGMENT_EXPIRY": 1, "LARGE_OBJECT_SIZE": 1, "PARALLEL": 1,
                 "ARCHIVE_LOOKAHEAD": 0, "RESTORE_PREFETCH": 0, "CHECK_ARCHIVE_WARNING": 1,
                 "CHECK_ARCHIVE_CRITICAL": 1, "CHECK_BACKUP_WARNING": 1, "CHECK_BACKUP_CRITICAL": 1}


@given(st.sampled_from(sorted(WHOLE_NUMBERS)), st.integers(-10, 10**12))
def test_whole_numbers_read_as_written_and_below_their_minimum_are_refused(key, number):
    minimum = WHOLE_NUMBERS[key]
    if number >= minimum:
        assert load_settings({key: str(number)}, None, {}).integer(key) == number
    else:
        with pytest.raises(ConfigError, match=key):
            load_settings({key: str(number)}, None, {})


@given(st.integers(0, 31))
def test_the_wal_segment_size_is_a_power_of_two_from_1_mib_to_1_gib(shift):
    for size in (1 << shift, (1 << shift) + 1, 3 << shift):
        if 1 << 20 <= size <= 1 << 30 and not size & (size - 1):
            assert load_settings({"WAL_SEGMENT_SIZE": str(size)}, None, {}).integer(
                "WAL_SEGMENT_SIZE") == size
        else:
            with pytest.raises(ConfigError, match="WAL_SEGMENT_SIZE"):
                load_settings({"WAL_SEGMENT_SIZE": str(size)}, None, {})


def test_typed_values_come_typed():
    settings = load_settings({"COMPRESSION": "GZIP"}, None, {"SWIFTWAL_INSECURE": "Yes",
                                                            "SWIFTWAL_PARALLEL": "7"})
    assert settings.compression == "gzip" and settings.flag("INSECURE") is True
    assert settings.integer("PARALLEL", 4) == 7 and settings.integer("TIMEOUT", 60) == 60


@given(st.integers(-20, 30), st.sampled_from(["zstd", "gzip"]))
def test_a_compression_level_is_one_the_codec_has(level, codec):
    fits = 1 <= level <= 9 if codec == "gzip" else -7 <= level <= 22 and level != 0
    settings = {"COMPRESSION": codec, "COMPRESSION_LEVEL": str(level)}
    if fits:
        assert load_settings(settings, None, {}).integer("COMPRESSION_LEVEL") == level
    else:
        with pytest.raises(ConfigError, match="COMPRESSION_LEVEL"):
            load_settings(settings, None, {})
