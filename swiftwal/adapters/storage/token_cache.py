"""Swift auth tokens kept between processes.

``archive_command`` and ``restore_command`` start one process per WAL file;
authenticating in each would add a round trip to Keystone or tempauth per
segment.  A token is kept in a file readable only by its user, keyed by
everything that selects an identity (auth URL, user, project, domains,
region, interface, auth version) and bound to the password through a salted
hash: a changed or wrong password (or application credential secret) never
reuses a token.  Tokens expire after
``max_age`` seconds; a token the store refuses (401) is replaced by
python-swiftclient's own re-authentication, which this cache then records.
Every failure to read or write the cache only means authenticating again.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

#: Keystone's default token lifetime is one hour; stay well inside it.
DEFAULT_MAX_AGE = 1800.0


class TokenCache:
    def __init__(self, directory: str, settings, max_age: float = DEFAULT_MAX_AGE) -> None:
        self.directory = directory
        self._settings = settings
        self._max_age = max_age
        identity = "\x00".join(str(getattr(settings, field) or "") for field in (
            "auth_url", "username", "tenant_name", "project_name", "user_domain_name",
            "project_domain_name", "region_name", "interface", "effective_auth_version",
            "project_id", "application_credential_id", "uses_application_credential"))
        self.path = os.path.join(directory, hashlib.sha256(identity.encode()).hexdigest()[:32])

    def _secret_hash(self, salt: str) -> str:
        password = self._settings.secret_material().encode("utf-8", "surrogateescape")
        return hashlib.sha256(salt.encode() + b"\x00" + password).hexdigest()

    def load(self) -> tuple[str, str] | None:
        """``(storage_url, token)`` if a fresh one for these credentials is cached."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                if os.fstat(handle.fileno()).st_uid != os.geteuid():
                    return None
                record = json.load(handle)
            fresh = 0 <= time.time() - float(record["saved"]) < self._max_age
            if fresh and record["secret"] == self._secret_hash(record["salt"]):
                return str(record["url"]), str(record["token"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def save(self, url: str, token: str) -> None:
        salt = os.urandom(16).hex()
        record = {"url": url, "token": token, "saved": time.time(), "salt": salt,
                  "secret": self._secret_hash(salt)}
        temp = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            os.rename(temp, self.path)
        except OSError:
            try:
                os.unlink(temp)
            except OSError:
                pass

    def forget(self) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass

    def watch(self, conn) -> None:
        """Record every token ``conn`` (a swiftclient Connection) obtains."""
        authenticate = conn.get_auth

        def get_auth():
            url, token = authenticate()
            if url and token:
                self.save(url, token)
            return url, token

        conn.get_auth = get_auth
