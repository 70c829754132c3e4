"""Choose a storage adapter from a ``--storage`` URL."""
from __future__ import annotations

import urllib.parse

import attrs

from swiftwal.adapters.storage.port import Storage
from swiftwal.adapters.storage.swift_settings import SwiftSettings
from swiftwal.domain.errors import ConfigError


def open_storage(url: str | None, swift_settings: SwiftSettings | None, *,
                 create: bool = False, token_cache_dir: str | None = None) -> Storage:
    """``file:///path`` is a local directory; ``swift://container`` (or None,
    using the settings' container) is Swift with ``swift_settings``.  A local
    directory must exist (``ConfigError`` "no such store") unless ``create``:
    then its first write creates it.  ``token_cache_dir``: Swift keeps its
    auth tokens there for later processes (see ``token_cache``); a local
    directory has none to keep."""
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme == "file":
            if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
                raise ConfigError(f"invalid storage URL {url!r}", hint="use file:///absolute/path")
            from swiftwal.adapters.storage.local import LocalStorage

            return LocalStorage(urllib.parse.unquote(parts.path), must_exist=not create)
        if parts.scheme != "swift":
            raise ConfigError(f"unknown storage URL {url!r}",
                              hint="use swift://CONTAINER or file:///absolute/path")
        container = urllib.parse.unquote(parts.netloc + parts.path).strip("/")
        if swift_settings is None:
            swift_settings = SwiftSettings()
        if container:
            swift_settings = attrs.evolve(swift_settings, container=container)
    if swift_settings is None:
        raise ConfigError("no storage configured",
                          hint="give --storage file:///path or the Swift settings")
    if not (swift_settings.auth_url or swift_settings.preauth_url):
        raise ConfigError("no swift auth URL configured", hint="set OS_AUTH_URL")
    from swiftwal.adapters.storage.swift import SwiftStorage

    cache = None
    if token_cache_dir is not None:
        from swiftwal.adapters.storage.token_cache import TokenCache

        cache = TokenCache(token_cache_dir, swift_settings)
    return SwiftStorage(swift_settings, token_cache=cache)
