"""How to reach a Swift container: a value, cheap to import (no swiftclient)."""
from __future__ import annotations

import re
import urllib.parse

import attrs

GIB = 1 << 30
#: Largest segment ever used, even if the cluster accepts bigger objects.
MAX_SEGMENT_SIZE = GIB

_VERSION_IN_PATH = (
    (re.compile(r"/(auth/)?v1(\.0)?/?\Z"), "1"),
    (re.compile(r"/v2(\.0)?/?\Z"), "2.0"),
    (re.compile(r"/v3/?\Z"), "3"),
)


def auth_version_from_url(auth_url: str | None) -> str:
    """The auth protocol an auth URL speaks: ``/auth/v1.0`` or ``/v1.0`` is
    tempauth ("1"), ``/v2.0`` Keystone v2, ``/v3`` (or anything else, such as
    a versionless Keystone root) Keystone v3."""
    path = urllib.parse.urlsplit(auth_url or "").path
    for pattern, version in _VERSION_IN_PATH:
        if pattern.search(path):
            return version
    return "3"


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

    ``auth_version`` None follows ``auth_url``; ``large_object_size`` None
    follows the cluster's ``/info`` ``swift.max_file_size`` (at most 1 GiB).
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
    container: str = ""
    insecure: bool = False
    timeout: float = 60
    large_object_size: int | None = None
    preauth_url: str | None = None
    preauth_token: str | None = attrs.field(default=None, repr=False)
    retries: int = 3
    backoff: float = 0.5

    @property
    def effective_auth_version(self) -> str:
        return self.auth_version or auth_version_from_url(self.auth_url)

    def describe(self) -> str:
        """``swift://<container>`` and where it authenticates; never a secret."""
        where = redact_url(self.auth_url or self.preauth_url)
        return f"swift://{self.container} (auth {where})"
