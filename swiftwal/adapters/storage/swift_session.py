"""Connections to a Swift cluster: auth, per-thread connections, cluster facts.

Tempauth (auth v1) goes through python-swiftclient's own path; Keystone (v2,
v3, application credentials) through a keystoneauth1 session (``keystone``).
python-swiftclient is imported only when a first connection is made, and
keystoneauth1 only when Keystone is really asked for a token.
"""
from __future__ import annotations

import contextlib
import threading
from typing import Iterator

from swiftwal.adapters.storage.swift_connection import bounded_connection_class
from swiftwal.adapters.storage.swift_errors import (deadline_for, quiet_swiftclient_logger,
                                                    translate)
from swiftwal.adapters.storage.swift_settings import GIB, MAX_SEGMENT_SIZE, SwiftSettings
from swiftwal.domain.errors import ConfigError, SwiftwalError


def status(exc: BaseException) -> int | None:
    """The HTTP status of a swiftclient failure (None for transport errors)."""
    return getattr(exc, "http_status", None)


class SwiftSession:
    """Connections to one Swift container (one per thread) and what the cluster allows."""

    def __init__(self, settings: SwiftSettings, *, listing_page_size: int = 10000,
                 buffer_size: int = 32 << 20, token_cache=None) -> None:
        if not settings.container:
            raise ConfigError("no swift container configured", hint="set CONTAINER")
        if "/" in settings.container:
            raise ConfigError(f"invalid swift container name {settings.container!r}")
        self.settings = settings
        self.container = settings.container
        self._where = settings.describe()
        self._page = listing_page_size
        self._buffer = buffer_size
        self._local = threading.local()
        self._info: dict | None = None
        self._container_ready = False
        self._keystone = None
        #: A ``token_cache.TokenCache`` shared between processes, or None.
        self.token_cache = token_cache

    def describe(self) -> str:
        return self._where

    def capabilities(self) -> dict[str, bool]:
        """From the cluster's ``/info`` (all False when the cluster hides it)."""
        info = self._cluster_info()
        return {"large_objects": "slo" in info, "bulk_delete": "bulk_delete" in info}

    # -- connections -------------------------------------------------------------------

    def _new_connection(self, preauth: tuple[str, str] | None = None):
        quiet_swiftclient_logger()
        Connection = bounded_connection_class()
        s = self.settings
        url, token = preauth or (s.preauth_url, s.preauth_token)
        if self.token_cache is not None and not (url and token):
            url, token = self.token_cache.load() or (None, None)
        if s.uses_keystone:
            # Keystone through keystoneauth1: swiftclient asks the session for the
            # object-store endpoint and a token, and invalidates it on a 401.
            options = {"service_type": "object-store", "endpoint_type": s.interface or "public",
                       "region_name": s.region_name}
            conn = Connection(
                session=self._keystone_session(),
                os_options={k: v for k, v in options.items() if v},
                retries=s.retries, starting_backoff=s.backoff, max_backoff=8,
                insecure=s.insecure, cacert=s.cacert, timeout=s.timeout, preauthurl=url,
                preauthtoken=token, deadline=deadline_for(s.timeout))
        else:
            conn = Connection(
                authurl=s.auth_url, user=s.username, key=s.password, auth_version="1",
                retries=s.retries, starting_backoff=s.backoff, max_backoff=8,
                insecure=s.insecure, cacert=s.cacert, timeout=s.timeout, preauthurl=url,
                preauthtoken=token, deadline=deadline_for(s.timeout))
        if self.token_cache is not None:
            if s.uses_keystone:
                self.token_cache.watch(conn, self._keystone_session().token_expiry)
            else:
                self.token_cache.watch(conn)
        return conn

    def _keystone_session(self):
        """One lazily built keystoneauth1 session shared by this store's connections."""
        if self._keystone is None:
            from swiftwal.adapters.storage.keystone import LazySession

            self._keystone = LazySession(self.settings)
        return self._keystone

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._new_connection()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()

    @contextlib.contextmanager
    def _translating(self, action: str) -> Iterator[None]:
        try:
            yield
        except SwiftwalError:
            raise
        except Exception as exc:
            raise translate(exc, action, self._where) from exc

    # -- cluster facts -------------------------------------------------------------------

    def _cluster_info(self) -> dict:
        if self._info is None:
            with self._translating("read /info"):
                try:
                    self._info = self._conn().get_capabilities()
                except Exception as exc:
                    if status(exc) not in (404, 401, 403):
                        raise
                    self._info = {}  # /info disabled: assume Swift's defaults
        return self._info

    def segment_size(self) -> int:
        if self.settings.large_object_size:
            return self.settings.large_object_size
        max_file = self._cluster_info().get("swift", {}).get("max_file_size", 5 * GIB)
        return min(int(max_file), MAX_SEGMENT_SIZE)

    def _ensure_container(self) -> None:
        if self._container_ready:
            return
        with self._translating(f"check container {self.container}"):
            try:
                self._conn().head_container(self.container)
            except Exception as exc:
                if status(exc) != 404:
                    raise
                self._conn().put_container(self.container)
        self._container_ready = True
