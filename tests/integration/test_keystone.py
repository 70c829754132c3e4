"""Keystone v3 against a real local Keystone and a Swift proxy that trusts it:
password and application-credential auth from ``OS_*`` variables, the config
file and ``OS_CLOUD`` + clouds.yaml (secrets in secure.yaml); an archive-wal,
list-wal, restore-wal round trip on each path; tokens cached between calls
and renewed once when refused; a wrong password (exit 5) and Keystone down
(exit 4) in one line; no secret in any output, nor in any command line
(watched on two of the paths).

Debian's Keystone 22 has no v2.0 API any more: v2 is covered by the unit tests
of plugin selection only (tests/unit/test_keystone_auth.py)."""
from __future__ import annotations

import contextlib
import json
import os
import uuid

import pytest
import yaml

from tests.support.swiftwal_cli import Store, _chown_postgres, postgres_dir
from tests.integration.test_bad_input import one_line_error, segment_bytes, wal_file
from tests.integration.test_secrets import CommandLines
from tests.support.pg_cluster import make_reachable

AUTH_FAILED = 5
UNAVAILABLE = 4
SEGMENT = "000000010000000000000003"
NEXT_SEGMENT = "000000010000000000000004"


def _owned_file(path: str, text: str) -> str:
    with open(path, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    _chown_postgres(path)
    return path


def keystone_store(directory, swiftwal_bin, lines: dict[str, str]) -> Store:
    """A config file with ``lines``, a fresh container and a private token cache."""
    base = make_reachable(directory)
    container = "ks-" + uuid.uuid4().hex[:12]
    cache = postgres_dir(base / "cache")
    config = {**lines, "CONTAINER": container, "CACHE_DIR": cache}
    path = _owned_file(str(base / "swiftwal.conf"),
                       "".join(f"{k}={v}\n" for k, v in config.items()))
    return Store("swift", path, container, str(swiftwal_bin))


def write_clouds(directory, keystone, cloud: str, credential: bool) -> dict[str, str]:
    """clouds.yaml without secrets and secure.yaml with them, readable by postgres;
    returns the environment that selects the cloud."""
    base = make_reachable(directory)
    if credential:
        auth = {"auth_url": keystone.server.url,
                "application_credential_id": keystone.credential_id}
        secret = {"application_credential_secret": keystone.credential_secret}
        extra = {"auth_type": "v3applicationcredential"}
    else:
        auth = {"auth_url": keystone.server.url, "username": keystone.user,
                "project_name": keystone.project, "user_domain_name": "Default",
                "project_domain_name": "Default"}
        secret = {"password": keystone.password}
        extra = {}
    clouds = {"clouds": {cloud: {"auth": auth, "region_name": "RegionOne",
                                 "interface": "public", "identity_api_version": 3, **extra},
                         "other": {"auth": {"auth_url": "http://127.0.0.1:9/v3"}}}}
    path = _owned_file(str(base / "clouds.yaml"), yaml.safe_dump(clouds))
    _owned_file(str(base / "secure.yaml"), yaml.safe_dump({"clouds": {cloud: {"auth": secret}}}))
    return {"OS_CLOUD": cloud, "OS_CLIENT_CONFIG_FILE": path}


PATHS = ["password-env", "password-config", "password-clouds", "credential-env",
         "credential-clouds"]


def store_and_env(path: str, keystone, tmp_path, swiftwal_bin) -> tuple[Store, dict]:
    """The store and environment that authenticate through ``path``."""
    kind, source = path.split("-")
    if source == "config":
        return keystone_store(tmp_path / "s", swiftwal_bin, keystone.password_env()), {}
    store = keystone_store(tmp_path / "s", swiftwal_bin, {})
    if source == "env":
        env = keystone.credential_env() if kind == "credential" else keystone.password_env()
        return store, env
    return store, write_clouds(tmp_path / "clouds", keystone, f"wal-{kind}", kind == "credential")


def secrets_of(keystone) -> list[str]:
    return [keystone.password, keystone.credential_secret]


def assert_no_secret(keystone, *results, lines: CommandLines | None = None) -> None:
    for secret in secrets_of(keystone):
        for result in results:
            assert secret not in result.stdout and secret not in result.stderr
        if lines is not None:
            assert lines.containing(secret) == []


@pytest.mark.parametrize("path", PATHS)
def test_wal_round_trip_through_each_keystone_path(path, keystone, tmp_path, swiftwal_bin):
    store, env = store_and_env(path, keystone, tmp_path, swiftwal_bin)
    wal_dir = postgres_dir(tmp_path / "wal")
    content = segment_bytes(SEGMENT)
    segment = wal_file(wal_dir, SEGMENT, content)
    # Watching every process's command line costs a core: two paths are enough to see
    # that no child gets a secret from the environment or from secure.yaml.
    watching = path in ("password-env", "credential-clouds")
    with CommandLines() if watching else contextlib.nullcontext() as lines:
        archived = store.run("archive-wal", segment, env=env)
        listed = store.run("list-wal", env=env)
        fetched = os.path.join(wal_dir, "fetched")
        restored = store.run("restore-wal", SEGMENT, fetched, env=env, cwd=wal_dir)
        missing = store.run("restore-wal", NEXT_SEGMENT, fetched + "2", env=env, cwd=wal_dir,
                            check=False)
    assert SEGMENT in listed.stdout
    with open(fetched, "rb") as handle:
        assert handle.read() == content
    assert missing.returncode == 1, missing.stderr
    assert_no_secret(keystone, archived, listed, restored, missing, lines=lines)
    # The objects are in the project's account, where Keystone's catalog points.
    assert store.location in keystone.swift_account_containers()


def test_later_calls_reuse_the_cached_token_and_a_refused_one_is_renewed_once(
        keystone, tmp_path, swiftwal_bin):
    store = keystone_store(tmp_path / "s", swiftwal_bin, keystone.password_env())
    wal_dir = postgres_dir(tmp_path / "wal")
    first = wal_file(wal_dir, SEGMENT, segment_bytes(SEGMENT))
    env = {"SWIFTWAL_ARCHIVE_LOOKAHEAD": "0", "SWIFTWAL_RESTORE_PREFETCH": "0"}
    store.run("archive-wal", first, env=env)
    token_files = [name for name in os.listdir(os.path.join(cache_dir(store), "tokens"))
                   if not name.endswith(".tmp")]
    assert len(token_files) == 1
    asked = keystone.token_requests()
    second = wal_file(wal_dir, NEXT_SEGMENT, segment_bytes(NEXT_SEGMENT))
    store.run("archive-wal", second, env=env)
    store.run("restore-wal", SEGMENT, os.path.join(wal_dir, "back"), env=env, cwd=wal_dir)
    assert keystone.token_requests() == asked, "a cached token was not reused"

    # A token Swift refuses (revoked, expired early): one new authentication, then success.
    record_path = os.path.join(cache_dir(store), "tokens", token_files[0])
    with open(record_path) as handle:
        record = json.load(handle)
    record["token"] = "gAAAAA-not-a-valid-token"
    with open(record_path, "w") as handle:  # in place: the file stays postgres's
        json.dump(record, handle)
    store.run("restore-wal", NEXT_SEGMENT, os.path.join(wal_dir, "back2"), env=env, cwd=wal_dir)
    assert keystone.token_requests() == asked + 1
    with open(record_path) as handle:
        assert json.load(handle)["token"] != "gAAAAA-not-a-valid-token"


def cache_dir(store: Store) -> str:
    with open(store.config_path) as handle:
        return next(line.split("=", 1)[1].strip() for line in handle
                    if line.startswith("CACHE_DIR="))


@pytest.mark.parametrize("source", ["env", "clouds"])
def test_a_wrong_password_is_one_line_and_exit_5(source, keystone, tmp_path, swiftwal_bin):
    store = keystone_store(tmp_path / "s", swiftwal_bin, {})
    wrong = "Wrong-" + keystone.password[::-1]
    if source == "env":
        env = {**keystone.password_env(), "OS_PASSWORD": wrong}
    else:
        env = write_clouds(tmp_path / "clouds", keystone, "wal", credential=False)
        env["OS_PASSWORD"] = wrong  # explicit settings win over the cloud's
    wal_dir = postgres_dir(tmp_path / "wal")
    segment = wal_file(wal_dir, SEGMENT, segment_bytes(SEGMENT))
    for args in (["list-wal"], ["archive-wal", segment], ["--debug", "list-wal"]):
        result = store.run(*args, env=env, check=False)
        if "--debug" not in args:
            one_line_error(result, AUTH_FAILED, "keystone refused the credentials (401)")
        else:
            assert result.returncode == AUTH_FAILED
        for secret in (wrong, *secrets_of(keystone)):
            assert secret not in result.stdout + result.stderr


def test_a_wrong_application_credential_secret_is_exit_5(keystone, tmp_path, swiftwal_bin):
    store = keystone_store(tmp_path / "s", swiftwal_bin, {})
    env = {**keystone.credential_env(), "OS_APPLICATION_CREDENTIAL_SECRET": "not-the-secret"}
    one_line_error(store.run("list-wal", env=env, check=False), AUTH_FAILED, "401")


def test_keystone_down_is_one_line_and_exit_4(keystone, tmp_path, swiftwal_bin):
    store = keystone_store(tmp_path / "s", swiftwal_bin, keystone.password_env())
    wal_dir = postgres_dir(tmp_path / "wal")
    segment = wal_file(wal_dir, SEGMENT, segment_bytes(SEGMENT))
    keystone.server.stop()
    try:
        for args in (["list-wal"], ["archive-wal", segment]):
            result = store.run(*args, env={"SWIFTWAL_TIMEOUT": "5"}, check=False)
            one_line_error(result, UNAVAILABLE, "cannot authenticate at", keystone.auth_url)
    finally:
        keystone.server.resume()
    store.run("archive-wal", segment)


def test_a_cloud_that_is_not_in_clouds_yaml_is_a_config_error(keystone, tmp_path, swiftwal_bin):
    store = keystone_store(tmp_path / "s", swiftwal_bin, {})
    env = write_clouds(tmp_path / "clouds", keystone, "wal", credential=False)
    env["OS_CLOUD"] = "nowhere"
    one_line_error(store.run("list-wal", env=env, check=False), 3, "cloud 'nowhere' not found")
