"""clouds.yaml and secure.yaml: what a cloud sets, what overrides it, and
clear one-line errors for a missing cloud or a malformed file."""
from __future__ import annotations

import os
import sys

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.adapters.storage.clouds import (AUTH_KEYS, CLOUD_KEYS, cloud_settings, merge,
                                              settings_with_cloud)
from swiftwal.adapters.storage.swift_settings import from_config
from swiftwal.config import KEYS, load_settings
from swiftwal.domain.errors import ConfigError

texts = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1,
                max_size=20).map(str.strip).filter(bool)
names = st.text("abcdefgh-_0123456789", min_size=1, max_size=10)
auth_sections = st.dictionaries(st.sampled_from(sorted(AUTH_KEYS)), texts, max_size=6)
top_sections = st.dictionaries(st.sampled_from(sorted(CLOUD_KEYS)), texts, max_size=3)
# YAML documents: nested mappings of scalars
documents = st.recursive(st.one_of(st.integers(), texts, st.booleans(), st.none()),
                         lambda inner: st.dictionaries(names, inner, max_size=4), max_leaves=12)


@st.composite
def clouds_documents(draw):
    clouds = {}
    for name in draw(st.lists(names, min_size=1, max_size=3, unique=True)):
        cloud = dict(draw(top_sections))
        cloud["auth"] = draw(auth_sections)
        clouds[name] = cloud
    return {"clouds": clouds}


def test_every_key_a_cloud_can_set_is_a_setting():
    assert set(AUTH_KEYS.values()) | set(CLOUD_KEYS.values()) <= set(KEYS)


@given(clouds_documents(), st.data())
def test_a_cloud_sets_exactly_its_auth_and_top_level_keys(document, data):
    name = data.draw(st.sampled_from(sorted(document["clouds"])))
    cloud = document["clouds"][name]
    values = cloud_settings(document, None, name, "clouds.yaml")
    expected = {AUTH_KEYS[k]: v for k, v in cloud["auth"].items()}
    expected.update({CLOUD_KEYS[k]: v for k, v in cloud.items() if k != "auth"})
    assert values == expected


@given(clouds_documents(), auth_sections, st.data())
def test_secure_yaml_wins_over_clouds_yaml_key_by_key(document, secrets, data):
    name = data.draw(st.sampled_from(sorted(document["clouds"])))
    secure = {"clouds": {name: {"auth": secrets}}}
    values = cloud_settings(document, secure, name, "clouds.yaml")
    for key, value in secrets.items():
        assert values[AUTH_KEYS[key]] == value
    for key, value in document["clouds"][name]["auth"].items():
        if key not in secrets:
            assert values[AUTH_KEYS[key]] == value


@given(documents, documents)
@example({"a": {"b": 1, "c": 2}}, {"a": {"b": 3}})
def test_merge_keeps_every_key_and_the_overriding_leaves(base, over):
    merged = merge(base, over)
    if isinstance(base, dict) and isinstance(over, dict):
        assert set(merged) == set(base) | set(over)
        for key in over:
            if not (isinstance(over[key], dict) and isinstance(base.get(key), dict)):
                assert merged[key] == over[key]
    else:
        assert merged == over


@given(clouds_documents(), names)
def test_a_missing_cloud_is_a_config_error_naming_it(document, name):
    if name in document["clouds"]:
        return
    with pytest.raises(ConfigError) as caught:
        cloud_settings(document, None, name, "/x/clouds.yaml")
    assert repr(name) in str(caught.value) and "\n" not in str(caught.value)


@given(documents, names)
@example(["a list"], "c")
@example({"clouds": ["c"]}, "c")
@example({"clouds": {"c": "text"}}, "c")
@example({"clouds": {"c": {"auth": ["x"]}}}, "c")
@example({"clouds": {"c": {"auth": {"password": ["x"]}}}}, "c")
def test_any_document_gives_settings_or_a_config_error(document, name):
    try:
        values = cloud_settings(document, None, name, "clouds.yaml")
    except ConfigError as exc:
        assert "\n" not in str(exc)
    else:
        assert all(isinstance(v, str) for v in values.values())


@pytest.mark.parametrize("verify, expected", [
    (False, {"INSECURE": "yes"}), ("no", {"INSECURE": "yes"}), (True, {}),
    ("/etc/ssl/ca.pem", {"OS_CACERT": "/etc/ssl/ca.pem"})])
def test_verify_false_is_insecure_and_a_path_is_a_ca_bundle(verify, expected):
    document = {"clouds": {"c": {"auth": {}, "verify": verify}}}
    assert cloud_settings(document, None, "c", "clouds.yaml") == expected


# -- reading the files ---------------------------------------------------------------------

def _write(path, document) -> str:
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return str(path)


def test_explicit_settings_win_over_the_cloud_and_secure_yaml_fills_the_password(tmp_path):
    clouds = _write(tmp_path / "clouds.yaml", {"clouds": {"prod": {
        "auth": {"auth_url": "http://k:5000", "username": "u", "project_name": "p"},
        "region_name": "R1", "interface": "internal"}}})
    _write(tmp_path / "secure.yaml", {"clouds": {"prod": {"auth": {"password": "s3cret"}}}})
    settings = load_settings({}, None, {"OS_CLOUD": "prod", "OS_CLIENT_CONFIG_FILE": clouds,
                                        "OS_REGION_NAME": "R2", "SWIFTWAL_CONTAINER": "c"})
    swift = from_config(settings, needs_container=True)
    assert (swift.auth_url, swift.username, swift.password) == ("http://k:5000", "u", "s3cret")
    assert (swift.region_name, swift.interface, swift.project_name) == ("R2", "internal", "p")
    assert swift.effective_auth_version == "3"
    assert "s3cret" not in repr(swift) and "s3cret" not in repr(settings_with_cloud(settings))


def test_an_explicit_secure_file_is_used(tmp_path):
    clouds = _write(tmp_path / "clouds.yaml", {"clouds": {"c": {"auth": {
        "auth_url": "http://k/v3", "application_credential_id": "id1"}}}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    secure = _write(elsewhere / "s.yaml", {"clouds": {"c": {"auth": {
        "application_credential_secret": "sec"}}}})
    settings = load_settings({}, None, {"OS_CLOUD": "c", "OS_CLIENT_CONFIG_FILE": clouds,
                                        "OS_CLIENT_SECURE_FILE": secure})
    swift = from_config(settings, needs_container=False)
    assert swift.uses_application_credential
    assert (swift.application_credential_id, swift.application_credential_secret) == ("id1", "sec")


@pytest.mark.parametrize("content, message", [
    ("clouds: {c: [1,\n", "is not valid YAML"),
    ("- a\n- b\n", "expected a mapping"),
    (b"\xff\xfe", "is not UTF-8"),
    ("clouds: {other: {auth: {}}}\n", "cloud 'c' not found"),
])
def test_bad_clouds_yaml_is_one_config_error_line(tmp_path, content, message):
    path = tmp_path / "clouds.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    settings = load_settings({}, None, {"OS_CLOUD": "c", "OS_CLIENT_CONFIG_FILE": str(path)})
    with pytest.raises(ConfigError) as caught:
        from_config(settings, needs_container=False)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_an_unreadable_or_missing_clouds_yaml_is_a_config_error(tmp_path):
    settings = load_settings({}, None, {"OS_CLOUD": "c",
                                        "OS_CLIENT_CONFIG_FILE": str(tmp_path / "none.yaml")})
    with pytest.raises(ConfigError, match="does not exist"):
        from_config(settings, needs_container=False)
    path = _write(tmp_path / "clouds.yaml", {"clouds": {"c": {"auth": {}}}})
    os.chmod(path, 0)
    if os.geteuid() != 0:  # root reads anything
        settings = load_settings({}, None, {"OS_CLOUD": "c", "OS_CLIENT_CONFIG_FILE": path})
        with pytest.raises(ConfigError, match="cannot be read"):
            from_config(settings, needs_container=False)


def test_clouds_yaml_is_found_in_the_working_directory(tmp_path, monkeypatch):
    _write(tmp_path / "clouds.yaml", {"clouds": {"here": {"auth": {
        "auth_url": "http://k/v2.0", "username": "u", "password": "p", "project_name": "t"}}}})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "nohome"))
    swift = from_config(load_settings({}, None, {"OS_CLOUD": "here"}), needs_container=False)
    assert (swift.auth_url, swift.effective_auth_version) == ("http://k/v2.0", "2.0")


def test_missing_credentials_after_the_cloud_are_named(tmp_path):
    clouds = _write(tmp_path / "clouds.yaml", {"clouds": {"c": {"auth": {"auth_url": "http://k"}}}})
    settings = load_settings({}, None, {"OS_CLOUD": "c", "OS_CLIENT_CONFIG_FILE": clouds})
    with pytest.raises(ConfigError, match="missing OS_USERNAME, OS_PASSWORD, CONTAINER"):
        from_config(settings, needs_container=True)


def test_a_cloud_without_pyyaml_is_one_config_error_line_naming_the_extra(tmp_path, monkeypatch):
    clouds = _write(tmp_path / "clouds.yaml", {"clouds": {"c": {"auth": {"auth_url": "http://k"}}}})
    monkeypatch.setitem(sys.modules, "yaml", None)  # what a plain install, without PyYAML, has
    settings = load_settings({}, None, {"OS_CLOUD": "c", "OS_CLIENT_CONFIG_FILE": clouds})
    with pytest.raises(ConfigError) as caught:
        from_config(settings, needs_container=False)
    assert "swiftwal[clouds]" in caught.value.hint and "clouds extra" in caught.value.message
    assert "\n" not in str(caught.value)
