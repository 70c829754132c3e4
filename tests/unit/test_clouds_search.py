"""Where clouds.yaml, secure.yaml and clouds-public.yaml are found, and how
a cloud's profile is applied: as openstacksdk's ``openstack.config`` does."""
from __future__ import annotations

import json
import os

import pytest
import yaml

from swiftwal.adapters.storage.clouds import candidates, cloud_settings, search_dirs
from swiftwal.adapters.storage.swift_settings import from_config
from swiftwal.config import load_settings
from swiftwal.domain.errors import ConfigError


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A working directory and a home of their own, no XDG variables."""
    home, work = tmp_path / "home", tmp_path / "work"
    work.mkdir()
    (home / ".config" / "openstack").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_CONFIG_DIRS", raising=False)
    monkeypatch.chdir(work)
    return home, work


def write(path, document) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) if path.suffix == ".json" else yaml.safe_dump(document))
    return str(path)


def swift_for(cloud: str, **environ):
    return from_config(load_settings({}, None, {"OS_CLOUD": cloud, **environ}),
                       needs_container=False)


AUTH = {"auth_url": "http://k/v3", "username": "u", "password": "p", "project_name": "t"}


def test_the_search_path_is_openstacksdks():
    environ = {"XDG_CONFIG_HOME": "/x/conf", "XDG_CONFIG_DIRS": "/site1:/site2"}
    assert search_dirs("/h", environ) == [".", "/x/conf/openstack", "/h/.config/openstack",
                                          "/site1/openstack", "/site2/openstack",
                                          "/etc/openstack"]
    assert search_dirs("/h", {}) == [".", "/h/.config/openstack", "/etc/xdg/openstack",
                                     "/etc/openstack"]
    assert candidates("/e/c.yaml", "clouds", "/h", {})[:5] == [
        "/e/c.yaml", "./clouds.yaml", "./clouds.yml", "./clouds.json",
        "/h/.config/openstack/clouds.yaml"]


def test_the_working_directory_comes_before_the_users_directory(places):
    home, work = places
    write(home / ".config" / "openstack" / "clouds.yaml",
          {"clouds": {"c": {"auth": {**AUTH, "username": "from-home"}}}})
    assert swift_for("c").username == "from-home"
    write(work / "clouds.yml", {"clouds": {"c": {"auth": {**AUTH, "username": "from-work"}}}})
    assert swift_for("c").username == "from-work"


def test_xdg_config_home_and_json_files_are_read(places, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    write(tmp_path / "xdg" / "openstack" / "clouds.json", {"clouds": {"c": {"auth": AUTH}}})
    assert swift_for("c").auth_url == "http://k/v3"


def test_secure_yaml_is_found_on_the_search_path_too(places):
    home, work = places
    write(work / "clouds.yaml", {"clouds": {"c": {"auth": {**AUTH, "password": None}}}})
    write(home / ".config" / "openstack" / "secure.yaml",
          {"clouds": {"c": {"auth": {"password": "from-secure"}}}})
    assert swift_for("c").password == "from-secure"


PUBLIC = {"public-clouds": {"vendor": {
    "auth": {"auth_url": "https://identity.example/v3", "project_domain_name": "Dom",
             "user_domain_name": "Dom"},
    "region_name": "R1", "interface": "internal", "identity_api_version": 3}}}


@pytest.mark.parametrize("key", ["profile", "cloud"])
def test_a_profile_from_clouds_public_yaml_comes_first_and_the_cloud_wins(places, key):
    home, work = places
    write(home / ".config" / "openstack" / "clouds-public.yaml", PUBLIC)
    write(work / "clouds.yaml", {"clouds": {"c": {
        key: "vendor", "region_name": "R2",
        "auth": {"username": "u", "password": "p", "project_name": "t",
                 "user_domain_name": "Mine"}}}})
    swift = swift_for("c")
    assert swift.auth_url == "https://identity.example/v3"
    assert (swift.username, swift.project_name) == ("u", "t")
    assert (swift.user_domain_name, swift.project_domain_name) == ("Mine", "Dom")
    assert (swift.region_name, swift.interface) == ("R2", "internal")


def test_an_unknown_profile_is_a_config_error_naming_it(places):
    home, work = places
    write(home / ".config" / "openstack" / "clouds-public.yaml", PUBLIC)
    write(work / "clouds.yaml", {"clouds": {"c": {"profile": "elsewhere", "auth": AUTH}}})
    with pytest.raises(ConfigError, match="profile 'elsewhere' of cloud 'c' not found"):
        swift_for("c")


def test_clouds_public_yaml_is_read_only_for_a_cloud_with_a_profile(places):
    home, work = places
    (home / ".config" / "openstack" / "clouds-public.yaml").write_text("{broken: [")
    write(work / "clouds.yaml", {"clouds": {"c": {"auth": AUTH}}})
    assert swift_for("c").username == "u"


def test_secure_values_apply_over_the_profile_too():
    clouds = {"clouds": {"c": {"profile": "vendor", "auth": {"username": "u"}}}}
    secure = {"clouds": {"c": {"auth": {"password": "s", "auth_url": "http://mine/v3"}}}}
    values = cloud_settings(clouds, secure, "c", "clouds.yaml", PUBLIC)
    assert values["OS_AUTH_URL"] == "http://mine/v3" and values["OS_PASSWORD"] == "s"
    assert values["OS_PROJECT_DOMAIN_NAME"] == "Dom" and values["OS_REGION_NAME"] == "R1"


def test_the_explicit_file_still_comes_first_and_must_exist(places, tmp_path):
    home, work = places
    write(work / "clouds.yaml", {"clouds": {"c": {"auth": {**AUTH, "username": "cwd"}}}})
    chosen = write(tmp_path / "else" / "mine.yaml", {"clouds": {"c": {"auth": AUTH}}})
    assert swift_for("c", OS_CLIENT_CONFIG_FILE=chosen).username == "u"
    with pytest.raises(ConfigError, match="does not exist"):
        swift_for("c", OS_CLIENT_CONFIG_FILE=os.path.join(str(tmp_path), "none.yaml"))
