"""The token cache keeps a Keystone token as long as Keystone said it lives:
the expiry comes from a real keystoneauth1 identity plugin, its state
installed with ``set_auth_state`` as keystoneauth1 restores a saved token."""
from __future__ import annotations

import datetime
import json

import pytest

from swiftwal.adapters.storage.keystone import LazySession
from swiftwal.adapters.storage.swift_settings import SwiftSettings
from swiftwal.adapters.storage.token_cache import (DEFAULT_MAX_AGE, EXPIRY_MARGIN, TokenCache,
                                                   token_expiry)

SETTINGS = SwiftSettings(auth_url="http://127.0.0.1:9/v3", username="u", password="p",
                         project_name="p", container="c")
URL = "http://127.0.0.1:9/v1/AUTH_p"


def plugin_expiring_in(seconds: float):
    """A keystoneauth1 v3 password plugin holding a token that expires in ``seconds``."""
    from keystoneauth1.identity import v3

    expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    plugin = v3.Password(auth_url=SETTINGS.auth_url, username="u", password="p",
                         user_domain_id="default", project_name="p",
                         project_domain_id="default")
    plugin.set_auth_state(json.dumps({"auth_token": "gAAAA-token", "body": {"token": {
        "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "methods": ["password"],
        "catalog": []}}}))
    return plugin


def cached_after_saving(tmp_path, plugin, max_age: float = DEFAULT_MAX_AGE):
    cache = TokenCache(str(tmp_path), SETTINGS, max_age=max_age)
    cache.save(URL, plugin.auth_ref.auth_token, token_expiry(plugin))
    return cache.load()


def test_a_token_keystone_gave_a_long_life_outlives_the_fixed_age(tmp_path):
    assert cached_after_saving(tmp_path, plugin_expiring_in(7200), max_age=0) == (
        URL, "gAAAA-token")


@pytest.mark.parametrize("seconds", [-3600, -1, EXPIRY_MARGIN - 5])
def test_a_token_past_or_near_its_expiry_is_not_reused(tmp_path, seconds):
    assert cached_after_saving(tmp_path, plugin_expiring_in(seconds), max_age=1e9) is None


def test_the_margin_is_the_one_keystoneauth1_renews_within():
    from keystoneauth1.identity.base import BaseIdentityPlugin

    assert EXPIRY_MARGIN == BaseIdentityPlugin.MIN_TOKEN_LIFE_SECONDS


def test_keystoneauth1s_saved_state_carries_the_expiry():
    """What ``get_auth_state`` saves, ``set_auth_state`` restores with the same expiry."""
    from keystoneauth1.identity import v3

    first = plugin_expiring_in(3000)
    second = v3.Password(auth_url=SETTINGS.auth_url, username="u", password="p",
                         user_domain_id="default")
    assert token_expiry(second) is None
    second.set_auth_state(first.get_auth_state())
    assert token_expiry(second) == pytest.approx(token_expiry(first))
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    assert 2990 < token_expiry(second) - now <= 3000


def test_the_lazy_session_tells_the_expiry_of_the_token_it_holds():
    session = LazySession(SETTINGS)
    assert session.token_expiry() is None  # nothing built, nothing asked
    real = session._real()
    real.auth.set_auth_state(plugin_expiring_in(600).get_auth_state())
    assert session.token_expiry() == pytest.approx(token_expiry(real.auth))


def test_a_token_of_unknown_expiry_lives_max_age(tmp_path):
    cache = TokenCache(str(tmp_path), SETTINGS, max_age=DEFAULT_MAX_AGE)
    cache.save(URL, "AUTH_tk")
    assert cache.load() == (URL, "AUTH_tk")
    assert TokenCache(str(tmp_path), SETTINGS, max_age=0).load() is None


def test_a_record_from_before_expiries_were_kept_still_reads(tmp_path):
    cache = TokenCache(str(tmp_path), SETTINGS)
    cache.save(URL, "AUTH_tk")
    with open(cache.path) as handle:
        record = json.load(handle)
    del record["expires"]
    with open(cache.path, "w") as handle:
        json.dump(record, handle)
    assert cache.load() == (URL, "AUTH_tk")
