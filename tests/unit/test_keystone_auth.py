"""Which auth each set of settings uses: tempauth, Keystone v2 or v3
password, or a v3 application credential; and the keystoneauth1 plugin that
gets it (built here, never sent: no server is needed)."""
from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from swiftwal.adapters.storage.keystone import identity_url, plugin_for
from swiftwal.adapters.storage.swift_settings import SwiftSettings, from_config, version_in_url
from swiftwal.adapters.storage.token_cache import TokenCache
from swiftwal.config import load_settings
from swiftwal.domain.errors import ConfigError

words = st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
maybe = st.one_of(st.none(), words)
hosts = st.sampled_from(["http://k:5000", "https://id.example.com", "http://[::1]:35357/identity"])
paths = st.sampled_from(["", "/", "/v2.0", "/v3", "/v3/", "/auth/v1.0", "/v1.0"])
versions = st.sampled_from([None, "1", "1.0", "2", "2.0", "3", "3.0", "v3"])


@st.composite
def swift_settings(draw):
    return SwiftSettings(
        auth_url=draw(hosts) + draw(paths), username=draw(maybe), password=draw(maybe),
        tenant_name=draw(maybe), project_name=draw(maybe), project_id=draw(maybe),
        user_domain_name=draw(maybe), project_domain_name=draw(maybe),
        auth_version=draw(versions), identity_api_version=draw(st.sampled_from([None, "2", "3"])),
        auth_type=draw(st.sampled_from([None, "password", "v3applicationcredential"])),
        application_credential_id=draw(maybe), application_credential_secret=draw(maybe))


@given(swift_settings())
@example(SwiftSettings(auth_url="http://k/auth/v1.0", identity_api_version="3"))
@example(SwiftSettings(auth_url="http://k:5000", identity_api_version="2"))
def test_the_version_is_explicit_else_credentials_else_url_else_identity_api_version(s):
    if s.auth_version:
        expected = {"1": "1", "1.0": "1", "2": "2.0", "2.0": "2.0"}.get(s.auth_version, "3")
    elif s.uses_application_credential:
        expected = "3"
    elif "v1.0" in s.auth_url:
        expected = "1"  # OS_IDENTITY_API_VERSION never turns tempauth into Keystone
    elif "/v2.0" in s.auth_url:
        expected = "2.0"
    elif "/v3" in s.auth_url:
        expected = "3"
    else:
        expected = {"2": "2.0"}.get(s.identity_api_version, "3")
    assert s.effective_auth_version == expected
    assert s.uses_keystone == (expected != "1")


@given(swift_settings())
def test_keystone_settings_choose_one_plugin_whose_arguments_it_accepts(s):
    from keystoneauth1.identity import v2, v3

    if not s.uses_keystone:
        with pytest.raises(ConfigError):
            plugin_for(s)
        return
    if version_in_url(s.auth_url) not in (None, s.effective_auth_version):
        with pytest.raises(ConfigError, match="does not match the auth URL"):
            plugin_for(s)
        return
    if s.uses_application_credential and s.effective_auth_version != "3":
        with pytest.raises(ConfigError, match="need Keystone v3"):
            plugin_for(s)
        return
    name, arguments = plugin_for(s)
    expected = ("v3applicationcredential" if s.uses_application_credential
                else "v2password" if s.effective_auth_version == "2.0" else "v3password")
    assert name == expected
    assert arguments["auth_url"].endswith("/v2.0" if name == "v2password" else ("/v3", "/v3/"))
    if name == "v3applicationcredential":
        assert arguments == {"auth_url": arguments["auth_url"],
                             "application_credential_id": s.application_credential_id,
                             "application_credential_secret": s.application_credential_secret}
    elif s.password:
        assert arguments["password"] == s.password
    plugin = {"v3applicationcredential": v3.ApplicationCredential, "v3password": v3.Password,
              "v2password": v2.Password}[name](**arguments)
    assert plugin.auth_url == arguments["auth_url"]


@given(swift_settings())
def test_v3_password_always_names_a_user_domain_and_a_named_projects_domain(s):
    if (not s.uses_keystone or s.uses_application_credential or s.effective_auth_version != "3"
            or version_in_url(s.auth_url) not in (None, "3")):
        return
    _, arguments = plugin_for(s)
    assert ("user_domain_name" in arguments) != ("user_domain_id" in arguments)
    if arguments.get("project_name") and "project_id" not in arguments:
        assert ("project_domain_name" in arguments) != ("project_domain_id" in arguments)
    assert arguments.get("project_name") == (s.project_name or s.tenant_name or None)


@given(hosts, st.sampled_from(["2.0", "3"]))
def test_a_keystone_root_gets_the_version_path(host, version):
    url = identity_url(host + "/", version)
    assert url == host + ("/v2.0" if version == "2.0" else "/v3")
    assert identity_url(url, "3") == url


def test_tokens_are_cached_per_identity_and_secret(tmp_path):
    base = SwiftSettings(auth_url="http://k/v3", application_credential_id="a",
                         application_credential_secret="one")
    cache = TokenCache(str(tmp_path), base)
    cache.save("http://swift/v1/AUTH_x", "tok")
    assert cache.load() == ("http://swift/v1/AUTH_x", "tok")
    other_secret = SwiftSettings(auth_url="http://k/v3", application_credential_id="a",
                                 application_credential_secret="two")
    assert TokenCache(str(tmp_path), other_secret).load() is None
    other_id = SwiftSettings(auth_url="http://k/v3", application_credential_id="b",
                             application_credential_secret="one")
    assert TokenCache(str(tmp_path), other_id).path != cache.path


def test_application_credential_settings_need_no_user_or_password(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    settings = load_settings({}, None, {
        "OS_AUTH_URL": "http://k/v3", "OS_APPLICATION_CREDENTIAL_ID": "id",
        "OS_APPLICATION_CREDENTIAL_SECRET_FILE": str(secret_file)})
    swift = from_config(settings, needs_container=False)
    assert swift.uses_application_credential
    assert swift.application_credential_secret == "from-a-file"
    assert "from-a-file" not in repr(swift) and "from-a-file" not in repr(settings)


@pytest.mark.parametrize("environ, message", [
    ({"OS_AUTH_URL": "http://k/v3", "OS_AUTH_TYPE": "v3applicationcredential"},
     "missing OS_APPLICATION_CREDENTIAL_ID, OS_APPLICATION_CREDENTIAL_SECRET"),
    ({"OS_AUTH_URL": "http://k/v3", "OS_AUTH_TYPE": "token"}, "OS_AUTH_TYPE must be"),
    ({"OS_AUTH_URL": "http://k/v3", "OS_USERNAME": "u", "OS_PASSWORD": "p",
      "OS_AUTH_VERSION": "4"}, "OS_AUTH_VERSION must be"),
])
def test_incomplete_or_unknown_auth_settings_are_config_errors(environ, message):
    with pytest.raises(ConfigError, match=message):
        from_config(load_settings({}, None, environ), needs_container=False)


_CONNECT = '''
import sys
from swiftwal.adapters.storage.swift_session import SwiftSession
from swiftwal.adapters.storage.swift_settings import SwiftSettings
from swiftwal.adapters.storage.token_cache import TokenCache
settings = SwiftSettings(auth_url=sys.argv[1], username="u", password="p", container="c")
session = SwiftSession(settings)
if sys.argv[2] == "cached":
    session.token_cache = TokenCache(sys.argv[3], settings)
    session.token_cache.save("http://127.0.0.1:9/v1/AUTH_x", "token")
conn = session._new_connection()
assert (conn.url, conn.token) == (("http://127.0.0.1:9/v1/AUTH_x", "token")
                                  if sys.argv[2] == "cached" else (None, None))
print("keystoneauth1" in sys.modules, "yaml" in sys.modules)
'''


@pytest.mark.parametrize("auth_url, cached", [
    ("http://127.0.0.1:9/auth/v1.0", "no"), ("http://127.0.0.1:9/v3", "cached"),
    ("http://127.0.0.1:9/v3", "no")])
def test_tempauth_and_cached_tokens_never_import_keystoneauth1(auth_url, cached, tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", _CONNECT, auth_url, cached, str(tmp_path)],
                            capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_a_readable_config_file_holding_a_credential_secret_is_warned_about(tmp_path):
    path = tmp_path / "swiftwal.conf"
    path.write_text("OS_AUTH_URL=http://k/v3\nOS_APPLICATION_CREDENTIAL_ID=id\n"
                    "OS_APPLICATION_CREDENTIAL_SECRET=Hidden-4242\n")
    path.chmod(0o644)
    settings = load_settings({}, str(path), {})
    assert any("readable by other users" in warning for warning in settings.warnings)
    assert not any("Hidden-4242" in warning for warning in settings.warnings)


def _keystone_failures():
    from keystoneauth1 import exceptions as ks

    from swiftwal.domain.errors import AuthenticationFailed, StorageError, StorageUnavailable

    return [(ks.Unauthorized("body with Secret-1"), AuthenticationFailed, 5),
            (ks.Forbidden(), AuthenticationFailed, 5),
            (ks.ConnectFailure("refused Secret-1"), StorageUnavailable, 4),
            (ks.ConnectTimeout(), StorageUnavailable, 4),
            (ks.ServiceUnavailable(), StorageUnavailable, 4),
            (ks.InternalServerError(), StorageUnavailable, 4),
            (ks.EmptyCatalog(), ConfigError, 3),
            (ks.NotFound(), ConfigError, 3),
            (ks.BadRequest("Secret-1"), StorageError, None)]


@pytest.mark.parametrize("index", range(9))
def test_keystone_failures_become_errors_with_the_documented_exit_status(index):
    from swiftwal.adapters.storage.keystone import keystone_errors
    from swiftwal.domain.errors import EXIT_STATUSES

    failure, kind, status = _keystone_failures()[index]
    with pytest.raises(kind) as caught:
        with keystone_errors("http://k/v3"):
            raise failure
    assert "Secret-1" not in str(caught.value) and "http://k/v3" in str(caught.value)
    if status is not None:
        assert next(code for cls, code in EXIT_STATUSES if isinstance(caught.value, cls)) == status


def test_os_cloud_on_the_command_line_beats_the_environment():
    from swiftwal.cli import cli_settings, build_parser

    args = build_parser(["list-wal"]).parse_args(["--os-cloud", "from-cli", "list-wal"])
    settings = load_settings(cli_settings(args), None, {"OS_CLOUD": "from-env"})
    assert settings.get("OS_CLOUD") == "from-cli"
