"""Swift auth tokens kept between processes.

``archive_command`` and ``restore_command`` start one process per WAL file;
authenticating in each would add a round trip to Keystone or tempauth per
segment.  A token is kept in a file readable only by its user, keyed by
everything that selects an identity (auth URL, user, project, domains,
region, interface, auth version) and bound to the password through a salted
hash: a changed or wrong password (or application credential secret) never
reuses a token.  A Keystone token is kept until the expiry Keystone gave it
(as keystoneauth1 read it, ``expires_at``), less the two minutes within
which keystoneauth1 itself would authenticate again; a tempauth token,
whose expiry python-swiftclient does not pass on, for ``max_age`` seconds.
A token the store refuses (401) is replaced by python-swiftclient's own
re-authentication, which this cache then records.  Every failure to read or
write the cache only means authenticating again.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

#: For tokens of unknown expiry (tempauth): tempauth's default lifetime is a day,
#: Keystone's an hour; stay well inside both.
DEFAULT_MAX_AGE = 1800.0
#: keystoneauth1's ``MIN_TOKEN_LIFE_SECONDS``: a token closer to its expiry is renewed.
EXPIRY_MARGIN = 120.0


def token_expiry(plugin) -> float | None:
    """When the token a keystoneauth1 identity plugin holds expires, in
    seconds since the epoch (None without one): keystoneauth1's reading of
    Keystone's answer, restored as well by ``set_auth_state``."""
    expires = getattr(getattr(plugin, "auth_ref", None), "expires", None)
    return expires.timestamp() if expires is not None else None


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
            now = time.time()
            fresh = 0 <= now - float(record["saved"])
            if record.get("expires") is None:
                fresh = fresh and now - float(record["saved"]) < self._max_age
            else:
                fresh = fresh and now < float(record["expires"]) - EXPIRY_MARGIN
            if fresh and record["secret"] == self._secret_hash(record["salt"]):
                return str(record["url"]), str(record["token"])
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def save(self, url: str, token: str, expires: float | None = None) -> None:
        """Keep ``(url, token)``; ``expires``: the token's expiry (see ``token_expiry``)."""
        salt = os.urandom(16).hex()
        record = {"url": url, "token": token, "saved": time.time(), "salt": salt,
                  "secret": self._secret_hash(salt), "expires": expires}
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

    def watch(self, conn, expiry=lambda: None) -> None:
        """Record every token ``conn`` (a swiftclient Connection) obtains;
        ``expiry()`` tells when the one just obtained expires (None: unknown)."""
        authenticate = conn.get_auth

        def get_auth():
            url, token = authenticate()
            if url and token:
                self.save(url, token, expiry())
            return url, token

        conn.get_auth = get_auth
