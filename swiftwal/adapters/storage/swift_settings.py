"""How to reach a Swift container: a value, cheap to import (no swiftclient)."""
from __future__ import annotations

import re
import urllib.parse

import attrs

from swiftwal.domain.errors import ConfigError

GIB = 1 << 30
#: Largest segment ever used, even if the cluster accepts bigger objects.
MAX_SEGMENT_SIZE = GIB

_VERSION_IN_PATH = (
    (re.compile(r"/(auth/)?v1(\.0)?/?\Z"), "1"),
    (re.compile(r"/v2(\.0)?/?\Z"), "2.0"),
    (re.compile(r"/v3/?\Z"), "3"),
)


def version_in_url(auth_url: str | None) -> str | None:
    """The auth protocol an auth URL names, or None for a versionless URL:
    ``/auth/v1.0`` or ``/v1.0`` is tempauth ("1"), ``/v2.0`` Keystone v2,
    ``/v3`` Keystone v3."""
    path = urllib.parse.urlsplit(auth_url or "").path
    for pattern, version in _VERSION_IN_PATH:
        if pattern.search(path):
            return version
    return None


def auth_version_from_url(auth_url: str | None) -> str:
    """The auth protocol an auth URL speaks; a versionless URL (a Keystone
    root) is taken as Keystone v3."""
    return version_in_url(auth_url) or "3"


_VERSION_NAMES = {"1": "1", "1.0": "1", "2": "2.0", "2.0": "2.0", "3": "3", "3.0": "3"}
#: ``OS_AUTH_TYPE`` values and whether each is an application credential.
AUTH_TYPES = {"password": False, "v2password": False, "v3password": False,
              "v3applicationcredential": True, "applicationcredential": True}


def normalize_auth_version(value: str, key: str = "OS_AUTH_VERSION") -> str:
    """``1``/``1.0`` -> "1", ``2``/``2.0`` -> "2.0", ``3``/``3.0`` -> "3"."""
    version = _VERSION_NAMES.get(str(value).strip().lower().lstrip("v"))
    if version is None:
        raise ConfigError(f"unknown {key} {value!r}", hint="use 1 (tempauth), 2.0 or 3")
    return version


def redact_url(url: str | None) -> str:
    """``url`` without user info, query or fragment (where secrets could hide)."""
    if not url:
        return "?"
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@attrs.frozen(kw_only=True)
class SwiftSettings:
    """Credentials and options of one Swift store.

    ``auth_version`` None follows ``auth_url``, and for a versionless
    Keystone URL ``identity_api_version`` (default 3); an application
    credential is always Keystone v3.  ``large_object_size`` None follows
    the cluster's ``/info`` ``swift.max_file_size`` (at most 1 GiB).
    ``retries`` is how many times a failed request is retried (with a backoff
    from ``backoff`` seconds, doubling) before ``StorageUnavailable``.
    """

    auth_url: str | None = None
    username: str | None = None
    password: str | None = attrs.field(default=None, repr=False)
    tenant_name: str | None = None
    project_name: str | None = None
    user_domain_name: str | None = None
    project_domain_name: str | None = None
    region_name: str | None = None
    interface: str | None = None
    auth_version: str | None = None
    identity_api_version: str | None = None
    project_id: str | None = None
    auth_type: str | None = None
    application_credential_id: str | None = None
    application_credential_secret: str | None = attrs.field(default=None, repr=False)
    cacert: str | None = None
    container: str = ""
    insecure: bool = False
    timeout: float = 60
    large_object_size: int | None = None
    preauth_url: str | None = None
    preauth_token: str | None = attrs.field(default=None, repr=False)
    retries: int = 3
    backoff: float = 0.5
    #: Segments of a large object sent or fetched at once.
    parallel: int = 4
    #: Seconds an uncommitted large-object segment lives (None: the adapter's 7 days).
    segment_expiry: int | None = None

    @property
    def uses_application_credential(self) -> bool:
        if self.auth_type:
            return AUTH_TYPES.get(self.auth_type.lower(), False)
        return bool(self.application_credential_id)

    @property
    def effective_auth_version(self) -> str:
        if self.auth_version:
            return normalize_auth_version(self.auth_version)
        if self.uses_application_credential:
            return "3"
        named = version_in_url(self.auth_url)
        if named is None and self.identity_api_version:
            return normalize_auth_version(self.identity_api_version, "OS_IDENTITY_API_VERSION")
        return named or "3"

    @property
    def uses_keystone(self) -> bool:
        return self.effective_auth_version != "1"

    def secret_material(self) -> str:
        """Everything secret this identity authenticates with (for cache keys)."""
        return "\x00".join((self.password or "", self.application_credential_secret or ""))

    def describe(self) -> str:
        """``swift://<container>`` and where it authenticates; never a secret."""
        where = redact_url(self.auth_url or self.preauth_url)
        return f"swift://{self.container} (auth {where})"


def from_config(settings, needs_container: bool) -> SwiftSettings:
    """The Swift settings of a ``swiftwal.config.Settings``; with ``OS_CLOUD``
    the named cloud of clouds.yaml fills every key not set explicitly."""
    if settings.get("OS_CLOUD"):
        from swiftwal.adapters.storage.clouds import settings_with_cloud

        settings = settings_with_cloud(settings)
    auth_type = settings.get("OS_AUTH_TYPE")  # checked with the other settings (config.py)
    values = SwiftSettings(
        auth_url=settings.get("OS_AUTH_URL"),
        username=settings.get("OS_USERNAME"),
        password=settings.get("OS_PASSWORD"),
        tenant_name=settings.get("OS_TENANT_NAME"),
        project_name=settings.get("OS_PROJECT_NAME"),
        project_id=settings.get("OS_PROJECT_ID"),
        user_domain_name=settings.get("OS_USER_DOMAIN_NAME"),
        project_domain_name=settings.get("OS_PROJECT_DOMAIN_NAME"),
        region_name=settings.get("OS_REGION_NAME"),
        interface=settings.get("OS_INTERFACE"),
        auth_version=settings.get("OS_AUTH_VERSION"),
        identity_api_version=settings.get("OS_IDENTITY_API_VERSION"),
        auth_type=auth_type,
        application_credential_id=settings.get("OS_APPLICATION_CREDENTIAL_ID"),
        application_credential_secret=settings.get("OS_APPLICATION_CREDENTIAL_SECRET"),
        cacert=settings.get("OS_CACERT"),
        container=settings.get("CONTAINER") or "",
        insecure=settings.flag("INSECURE"),
        timeout=settings.integer("TIMEOUT", 60),
        large_object_size=settings.integer("LARGE_OBJECT_SIZE"),
        parallel=settings.integer("PARALLEL", 4),
        segment_expiry=settings.integer("SEGMENT_EXPIRY"),
    )
    if values.uses_application_credential:
        required = ("OS_AUTH_URL", "OS_APPLICATION_CREDENTIAL_ID",
                    "OS_APPLICATION_CREDENTIAL_SECRET")
    else:
        required = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD")
    required += ("CONTAINER",) if needs_container else ()
    missing = [key for key in required if not settings.get(key)]
    if missing:
        raise ConfigError("missing " + ", ".join(missing),
                          hint="set them in the --config file, the environment, the options or "
                               "a clouds.yaml cloud named by OS_CLOUD, "
                               "or use --storage file:///path")
    values.effective_auth_version  # an unknown version is a ConfigError now, not at first use
    return values
