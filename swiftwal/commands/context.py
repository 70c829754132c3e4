"""What every command gets: settings, logger, output and the store (opened lazily)."""
from __future__ import annotations

import os
import sys
from typing import TextIO

import attrs

from swiftwal.config import Settings


@attrs.define
class Context:
    settings: Settings
    verbose: bool = False
    debug: bool = False
    out: TextIO = attrs.field(factory=lambda: sys.stdout)
    _storage: object = None
    _log: object = None
    printed: bool = attrs.field(default=False, init=False)  # anything on ``out`` yet
    _create: bool = attrs.field(default=False, init=False)
    _tokens: bool = attrs.field(default=False, init=False)

    @property
    def log(self):
        if self._log is None:
            from swiftwal.logs import get_logger
            self._log = get_logger()
        return self._log

    @property
    def storage(self):
        """The store, which must exist: a command that only reads never
        creates it, so a mistyped path cannot pass for an empty archive."""
        if self._storage is None:
            self._storage = open_storage(self.settings, self._create, self._tokens)
        return self._storage

    def storage_to_write(self):
        """The store of a command that writes (archive-wal, backup): a local
        directory that does not exist yet is created by its first write."""
        if self._storage is None:
            self._create = True
        return self.storage

    def share_tokens(self) -> None:
        """Keep the store's auth tokens for later processes (in ``CACHE_DIR``):
        for the commands PostgreSQL starts once per WAL file, and their workers,
        which would otherwise authenticate once per file.  Say it before the
        store is first used (``storage``, ``storage_to_write``): one opened
        without it is dropped and opened again."""
        if not self._tokens:
            self._tokens = True
            self._storage = None

    def override_parallel(self, parallel: int | None) -> None:
        """``--parallel N`` of backup and restore: ``PARALLEL`` for this run,
        before the store is opened (it reads the setting then)."""
        if parallel is None:
            return
        if parallel < 1:
            from swiftwal.domain.errors import UsageError

            raise UsageError(f"--parallel must be 1 or more, not {parallel}")
        if self._storage is not None:
            raise RuntimeError("--parallel must be applied before the store is opened")
        self.settings = self.settings.with_values({**self.settings.values,
                                                   "PARALLEL": str(parallel)})

    def print(self, text: str = "") -> None:
        self.printed = True
        print(text, file=self.out)


def open_storage(settings: Settings, create: bool = False, share_tokens: bool = False):
    from swiftwal.adapters.storage.factory import open_storage as _open

    url = settings.get("STORAGE")
    tokens = None
    if share_tokens:
        from swiftwal.adapters.spool import cache_root

        tokens = os.path.join(cache_root(settings.get("CACHE_DIR")), "tokens")
    if url in (None, "swift"):
        return _open(None, swift_settings(settings, needs_container=True),
                     token_cache_dir=tokens)
    if url.startswith("swift://"):
        return _open(url, swift_settings(settings, needs_container=False),
                     token_cache_dir=tokens)
    return _open(url, None, create=create)


def swift_settings(settings: Settings, needs_container: bool):
    from swiftwal.adapters.storage.swift_settings import from_config

    return from_config(settings, needs_container)
