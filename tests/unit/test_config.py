"""Config precedence, the 0.2.2 file format, and secrets kept out of sight."""
from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swiftwal.config import KEYS, load_settings, parse_config_text
from swiftwal.domain.errors import ConfigError

keys = st.sampled_from(sorted(KEYS))
#: Read by load_settings when set: their values must name readable files.
SECRET_FILES = ("OS_PASSWORD_FILE", "OS_APPLICATION_CREDENTIAL_SECRET_FILE")
values = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                 max_size=30).map(str.strip).filter(bool)


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


@given(st.dictionaries(keys, st.tuples(st.one_of(st.none(), values), st.one_of(st.none(), values),
                                       st.one_of(st.none(), values)), max_size=6))
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


@given(st.dictionaries(keys, values), keys, values)
def test_the_spool_key_follows_the_store_and_never_holds_a_secret(mapping, key, value):
    from swiftwal.config import Settings, _NOT_THE_STORE

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
