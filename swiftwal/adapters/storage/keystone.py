"""Keystone authentication through keystoneauth1 sessions.

``plugin_for`` chooses the keystoneauth1 plugin and its arguments (pure, no
import of keystoneauth1).  ``LazySession`` is what python-swiftclient gets as
its ``session``: keystoneauth1 is imported, and Keystone asked, only when a
token is really needed, so a process that finds a cached token never pays
for either.  Keystone's failures become swiftwal errors here, with messages
built from the status and the URL only (keystoneauth1's own may quote
response bodies).
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.parse
from typing import Iterator

from swiftwal.adapters.storage.swift_settings import SwiftSettings, redact_url, version_in_url
from swiftwal.domain.errors import (AuthenticationFailed, ConfigError, StorageError,
                                    StorageUnavailable)

SERVICE_TYPE = "object-store"


def identity_url(auth_url: str, version: str) -> str:
    """``auth_url`` with the version path keystoneauth1's versioned plugins
    need: a Keystone root such as ``https://host:5000`` (as clouds.yaml
    usually gives it) gets ``/v3`` or ``/v2.0``."""
    if version_in_url(auth_url) is not None:
        return auth_url
    parts = urllib.parse.urlsplit(auth_url)
    path = parts.path.rstrip("/") + ("/v2.0" if version == "2.0" else "/v3")
    return urllib.parse.urlunsplit(parts._replace(path=path))


def plugin_for(settings: SwiftSettings) -> tuple[str, dict[str, str]]:
    """``(plugin name, keyword arguments)``: ``v3applicationcredential``,
    ``v3password`` or ``v2password``.  Without a user domain, v3 uses the
    ``default`` domain, as does a project given by name without one."""
    version = settings.effective_auth_version
    if version == "1":
        raise ConfigError("tempauth (auth v1) does not use Keystone")
    named = version_in_url(settings.auth_url)
    if named not in (None, version):
        raise ConfigError(f"auth version {version} does not match the auth URL "
                          f"{redact_url(settings.auth_url)}",
                          hint="leave OS_AUTH_VERSION unset or make the URL agree with it")
    url = identity_url(settings.auth_url or "", version)
    if settings.uses_application_credential:
        if version != "3":
            raise ConfigError("application credentials need Keystone v3",
                              hint="use a /v3 auth URL or leave OS_AUTH_VERSION unset")
        return "v3applicationcredential", {
            "auth_url": url, "application_credential_id": settings.application_credential_id,
            "application_credential_secret": settings.application_credential_secret}
    project = settings.project_name or settings.tenant_name
    if version == "2.0":
        arguments = {"auth_url": url, "username": settings.username,
                     "password": settings.password, "tenant_name": project,
                     "tenant_id": settings.project_id}
        return "v2password", {k: v for k, v in arguments.items()
                               if v or k in ("username", "password")}
    arguments = {"auth_url": url, "username": settings.username, "password": settings.password,
                 "project_id": settings.project_id, "project_name": project}
    if settings.user_domain_name:
        arguments["user_domain_name"] = settings.user_domain_name
    else:
        arguments["user_domain_id"] = "default"
    if project and not settings.project_id:
        if settings.project_domain_name:
            arguments["project_domain_name"] = settings.project_domain_name
        else:
            arguments["project_domain_id"] = "default"
    return "v3password", {k: v for k, v in arguments.items() if v or k == "password"}


def make_session(settings: SwiftSettings):
    """A ``keystoneauth1.session.Session`` for ``settings``."""
    from keystoneauth1 import session
    from keystoneauth1.identity import v2, v3

    name, arguments = plugin_for(settings)
    plugin = {"v3applicationcredential": v3.ApplicationCredential, "v3password": v3.Password,
              "v2password": v2.Password}[name](**arguments)
    verify = False if settings.insecure else (settings.cacert or True)
    return session.Session(auth=plugin, verify=verify, timeout=settings.timeout,
                           connect_retries=settings.retries)


def quiet_keystoneauth_logger() -> None:
    """keystoneauth1 logs requests at debug level; failures are reported as errors."""
    logger = logging.getLogger("keystoneauth")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL + 1)


@contextlib.contextmanager
def keystone_errors(where: str) -> Iterator[None]:
    """Keystone's failures as swiftwal errors; ``where`` is the redacted auth URL."""
    try:
        yield
    except Exception as exc:
        from keystoneauth1 import exceptions as ks

        if isinstance(exc, (ks.Unauthorized, ks.Forbidden)):
            status = 401 if isinstance(exc, ks.Unauthorized) else 403
            raise AuthenticationFailed(
                f"keystone refused the credentials ({status}) at {where}",
                hint="check the user name, password or application credential, the project "
                     "and the domains") from None
        if isinstance(exc, ks.EndpointNotFound):
            raise ConfigError(f"keystone at {where} lists no {SERVICE_TYPE} endpoint for this "
                              f"region and interface",
                              hint="check OS_REGION_NAME and OS_INTERFACE") from None
        if isinstance(exc, (ks.MissingRequiredOptions, ks.MissingAuthPlugin)):
            raise ConfigError(f"incomplete keystone settings for {where}") from None
        if isinstance(exc, ks.NotFound):
            raise ConfigError(f"keystone answered 404 at {where}",
                              hint="check OS_AUTH_URL (a Keystone root, /v2.0 or /v3)") from None
        if isinstance(exc, (ks.ConnectionError, ks.HttpServerError, ks.RequestTimeout)):
            raise StorageUnavailable(f"cannot authenticate at {where}: {type(exc).__name__}",
                                     hint="check that Keystone is running and reachable "
                                          "from this host") from None
        if isinstance(exc, ks.ClientException):
            raise StorageError(f"keystone authentication at {where} failed: "
                               f"{type(exc).__name__}") from None
        raise


class LazySession:
    """The three methods python-swiftclient calls on a keystoneauth1 session,
    building the real one on first use.  ``invalidate`` always asks for one
    new authentication: a 401 on a token taken from the cache must re-auth
    (swiftclient itself retries that only once)."""

    def __init__(self, settings: SwiftSettings) -> None:
        self._settings = settings
        self._where = redact_url(settings.auth_url)
        self._session = None
        self._lock = threading.Lock()

    def _real(self):
        with self._lock:
            if self._session is None:
                quiet_keystoneauth_logger()
                self._session = make_session(self._settings)
            return self._session

    def _call(self, method: str, **kwargs):
        backoff = self._settings.backoff
        for attempt in range(self._settings.retries + 1):
            with keystone_errors(self._where):
                try:
                    return getattr(self._real(), method)(**kwargs)
                except Exception as exc:
                    # keystoneauth1 retried connection failures already; a 5xx (an
                    # overloaded or briefly locked Keystone) is retried here.
                    from keystoneauth1.exceptions import HttpServerError

                    if not isinstance(exc, HttpServerError) or attempt == self._settings.retries:
                        raise
            time.sleep(backoff)
            backoff *= 2
        raise AssertionError("unreachable")

    def get_token(self) -> str:
        return self._call("get_token")

    def get_endpoint(self, **kwargs) -> str:
        url = self._call("get_endpoint", **kwargs)
        if not url:
            raise ConfigError(f"keystone at {self._where} lists no {SERVICE_TYPE} endpoint "
                              f"for this region and interface",
                              hint="check OS_REGION_NAME and OS_INTERFACE")
        return url

    def token_expiry(self) -> float | None:
        """When the token it holds expires (seconds since the epoch), or None."""
        from swiftwal.adapters.storage.token_cache import token_expiry

        return token_expiry(self._session.auth) if self._session is not None else None

    def invalidate(self) -> bool:
        with self._lock:
            if self._session is not None:
                self._session.invalidate()
        return True
