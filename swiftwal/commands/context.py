"""What every command gets: settings, logger, output and the store (opened lazily)."""
from __future__ import annotations

import sys
from typing import TextIO

import attrs

from swiftwal.config import Settings
from swiftwal.domain.errors import ConfigError


@attrs.define
class Context:
    settings: Settings
    verbose: bool = False
    debug: bool = False
    out: TextIO = attrs.field(factory=lambda: sys.stdout)
    _storage: object = None
    _log: object = None

    @property
    def log(self):
        if self._log is None:
            from swiftwal.logs import get_logger
            self._log = get_logger()
        return self._log

    @property
    def storage(self):
        if self._storage is None:
            self._storage = open_storage(self.settings)
        return self._storage

    def print(self, text: str = "") -> None:
        print(text, file=self.out)


def open_storage(settings: Settings):
    from swiftwal.adapters.storage.factory import open_storage as _open

    url = settings.get("STORAGE")
    if url in (None, "swift"):
        return _open(None, swift_settings(settings, needs_container=True))
    if url.startswith("swift://"):
        return _open(url, swift_settings(settings, needs_container=False))
    return _open(url, None)


def swift_settings(settings: Settings, needs_container: bool):
    from swiftwal.adapters.storage.swift_settings import SwiftSettings

    required = ("OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD") + (("CONTAINER",) if needs_container else ())
    missing = [key for key in required if not settings.get(key)]
    if missing:
        raise ConfigError("missing " + ", ".join(missing),
                          hint="set them in the --config file, the environment or the options, "
                               "or use --storage file:///path")
    return SwiftSettings(
        auth_url=settings.get("OS_AUTH_URL"),
        username=settings.get("OS_USERNAME"),
        password=settings.get("OS_PASSWORD"),
        tenant_name=settings.get("OS_TENANT_NAME"),
        project_name=settings.get("OS_PROJECT_NAME"),
        user_domain_name=settings.get("OS_USER_DOMAIN_NAME"),
        project_domain_name=settings.get("OS_PROJECT_DOMAIN_NAME"),
        region_name=settings.get("OS_REGION_NAME"),
        interface=settings.get("OS_INTERFACE"),
        auth_version=settings.get("OS_AUTH_VERSION"),
        container=settings.get("CONTAINER") or "",
        insecure=settings.flag("INSECURE"),
        timeout=settings.integer("TIMEOUT", 60),
        large_object_size=settings.integer("LARGE_OBJECT_SIZE"),
    )
