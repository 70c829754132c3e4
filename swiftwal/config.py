"""Settings from the command line, the environment and the config file.

Precedence: command line over environment over file.  The file keeps the
0.2.2 format (``KEY=value`` lines, no section header needed) and its keys
(``OS_AUTH_URL``, ``OS_USERNAME``, ``OS_PASSWORD``, ``OS_TENANT_NAME``,
``CONTAINER``); newer settings use the same style (see ``KEYS``).  In the
environment, the ``OS_*`` keys keep their names and the others are read as
``SWIFTWAL_<KEY>``.
"""
from __future__ import annotations

import os
import stat
TYPE_CHECKING = False  # typing itself costs archive_command time

from swiftwal.domain.errors import ConfigError

if TYPE_CHECKING:
    from typing import Mapping

# key -> (description, secret?)
KEYS: dict[str, tuple[str, bool]] = {
    "OS_AUTH_URL": ("authentication URL (tempauth /auth/v1.0, Keystone /v2.0 or /v3)", False),
    "OS_USERNAME": ("user name", False),
    "OS_PASSWORD": ("password or key", True),
    "OS_PASSWORD_FILE": ("file holding the password (first line)", False),
    "OS_TENANT_NAME": ("tenant (Keystone v2) or project name", False),
    "OS_PROJECT_NAME": ("project name (Keystone v3)", False),
    "OS_USER_DOMAIN_NAME": ("user domain (Keystone v3)", False),
    "OS_PROJECT_DOMAIN_NAME": ("project domain (Keystone v3)", False),
    "OS_REGION_NAME": ("region", False),
    "OS_INTERFACE": ("endpoint interface: public, internal or admin", False),
    "OS_AUTH_VERSION": ("auth version (1, 2.0, 3); default from the URL", False),
    "OS_IDENTITY_API_VERSION": ("Keystone version (2.0 or 3) for a Keystone URL without one",
                                False),
    "OS_PROJECT_ID": ("project id (Keystone v3, instead of the name)", False),
    "OS_AUTH_TYPE": ("password (default) or v3applicationcredential", False),
    "OS_APPLICATION_CREDENTIAL_ID": ("application credential id (Keystone v3)", False),
    "OS_APPLICATION_CREDENTIAL_SECRET": ("application credential secret", True),
    "OS_APPLICATION_CREDENTIAL_SECRET_FILE": ("file holding the application credential secret "
                                              "(first line)", False),
    "OS_CACERT": ("CA bundle that signs the Keystone and Swift certificates", False),
    "OS_CLOUD": ("cloud name in clouds.yaml", False),
    "OS_CLIENT_CONFIG_FILE": ("clouds.yaml to read (default: ./, ~/.config/openstack/, "
                              "/etc/openstack/)", False),
    "OS_CLIENT_SECURE_FILE": ("secure.yaml merged over clouds.yaml (default: beside it)", False),
    "CONTAINER": ("container holding everything", False),
    "STORAGE": ("swift (default) or file:///path for a local directory", False),
    "COMPRESSION": ("zstd (default) or gzip (pigz for backups), for new objects", False),
    "LOG_FORMAT": ("console or json", False),
    "LARGE_OBJECT_SIZE": ("largest single object in bytes (default: the cluster's)", False),
    "INSECURE": ("yes to disable TLS certificate checks", False),
    "TIMEOUT": ("seconds for each network call (default 60)", False),
    "WAL_SEGMENT_SIZE": ("WAL segment size in bytes (default 16 MiB; read from files when known)", False),
    "PG_BIN_DIR": ("directory of pg_basebackup and psql", False),
    "CACHE_DIR": ("directory for look-ahead records, prefetched WAL and auth tokens "
                  "(default ~/.cache/swiftwal)", False),
    "ARCHIVE_LOOKAHEAD": ("other .ready WAL segments archive-wal uploads ahead (default 8, 0: off)",
                          False),
    "RESTORE_PREFETCH": ("next WAL segments restore-wal fetches ahead (default 8, 0: off)", False),
    "PARALLEL": ("parallel uploads/downloads of look-ahead, prefetch and large-object "
                 "segments (default 4)", False),
    "SEGMENT_EXPIRY": ("seconds before an uncommitted large-object segment deletes itself "
                       "(default 604800, 7 days)", False),
    "ENCRYPTION_KEY_FILE": ("file holding the 32-byte key that encrypts new objects "
                            "(AES-256-GCM); unset: no encryption", False),
    "CHECK_ARCHIVE_WARNING": ("check --nagios: seconds since the last WAL segment was archived "
                              "above which it warns (default 3600)", False),
    "CHECK_ARCHIVE_CRITICAL": ("check --nagios: the same, critical (default 7200)", False),
    "CHECK_BACKUP_WARNING": ("check --nagios: seconds since the newest backup finished above "
                             "which it warns (default 93600, 26 hours)", False),
    "CHECK_BACKUP_CRITICAL": ("check --nagios: the same, critical (default 180000, 50 hours)",
                              False),
}

# How a command runs, not what it stores where.
_NOT_THE_STORE = frozenset({
    "LOG_FORMAT", "TIMEOUT", "PARALLEL", "ARCHIVE_LOOKAHEAD", "RESTORE_PREFETCH", "CACHE_DIR",
    "PG_BIN_DIR", "LARGE_OBJECT_SIZE", "SEGMENT_EXPIRY", "INSECURE", "OS_CACERT",
    "CHECK_ARCHIVE_WARNING", "CHECK_ARCHIVE_CRITICAL", "CHECK_BACKUP_WARNING",
    "CHECK_BACKUP_CRITICAL"})
COMPRESSIONS = ("zstd", "gzip")
LOG_FORMATS = ("console", "json")


class Settings:
    """Read-only.  A plain class: archive_command's fast path reads settings
    and must not pay for importing attrs (about 20 ms)."""

    __slots__ = ("values", "config_file", "warnings")

    def __init__(self, values: Mapping[str, str], config_file: str | None = None,
                 warnings: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "values", dict(values))
        object.__setattr__(self, "config_file", config_file)
        object.__setattr__(self, "warnings", tuple(warnings))

    def __setattr__(self, name, value):
        raise AttributeError("Settings are read-only")

    def __repr__(self) -> str:  # values may hold secrets
        return f"Settings(config_file={self.config_file!r}, keys={sorted(self.values)})"

    def with_values(self, values: Mapping[str, str]) -> "Settings":
        return Settings(values, self.config_file, self.warnings)

    def public_key(self) -> str:
        """The settings that say where and how objects are stored, without the
        secrets, as one string: what keys a spool to a store without loading,
        or knowing, how that store is reached."""
        return "\n".join(f"{k}={v}" for k, v in sorted(self.values.items())
                          if v and k not in _NOT_THE_STORE and not KEYS.get(k, ("", True))[1])

    def get(self, key: str, default: str | None = None) -> str | None:
        value = self.values.get(key)
        return value if value not in (None, "") else default

    @property
    def container(self) -> str | None:
        return self.get("CONTAINER")

    @property
    def compression(self) -> str:
        value = self.get("COMPRESSION", "zstd").lower()
        if value not in COMPRESSIONS:
            raise ConfigError(f"unknown compression {value!r}",
                              hint="COMPRESSION must be one of " + ", ".join(COMPRESSIONS))
        return value

    @property
    def log_format(self) -> str | None:
        value = self.get("LOG_FORMAT")
        if value is not None and value.lower() not in LOG_FORMATS:
            raise ConfigError(f"unknown log format {value!r}", hint="use console or json")
        return value.lower() if value else None

    def integer(self, key: str, default: int | None = None) -> int | None:
        value = self.get(key)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{key} must be a whole number, not {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{key} must be positive, not {value!r}")
        return number

    def flag(self, key: str) -> bool:
        return (self.get(key) or "").lower() in ("1", "yes", "true", "on")


def parse_config_text(text: str, source: str) -> dict[str, str]:
    """``KEY=value`` lines; ``#``/``;`` comments, blank lines and an optional
    ``[DEFAULT]`` header (0.2.2 read the file as INI) are allowed."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;" or (line.startswith("[") and line.endswith("]")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise ConfigError(f"{source}, line {number}: expected KEY=value")
        values[key.strip().upper()] = value.strip()
    return values


def read_config_file(path: str) -> tuple[dict[str, str], list[str]]:
    try:
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            values = parse_config_text(handle.read(), path)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except PermissionError:
        raise ConfigError(f"config file {path} is not readable by this user",
                          hint="archive_command runs as the server's user: let it read the file") from None
    except (IsADirectoryError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.__class__.__name__}") from None
    warnings = []
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        warnings.append(f"config file {path}: unknown keys ignored: {', '.join(unknown)}")
    if any(KEYS.get(k, ("", False))[1] for k in values) and mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"config file {path} holds a password and is readable by other users "
                        f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it")
    return values, warnings


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for key in KEYS:
        env_name = key if key.startswith("OS_") else f"SWIFTWAL_{key}"
        if environ.get(env_name):
            values[key] = environ[env_name]
    return values


def load_settings(cli_values: Mapping[str, str | None], config_file: str | None,
                  environ: Mapping[str, str]) -> Settings:
    """Merge the three sources; ``cli_values`` uses the ``KEYS`` names."""
    values: dict[str, str] = {}
    warnings: list[str] = []
    if config_file:
        file_values, warnings = read_config_file(config_file)
        values.update({k: v for k, v in file_values.items() if k in KEYS})
    values.update(_from_environment(environ))
    values.update({k: v for k, v in cli_values.items() if v not in (None, "")})
    for secret in ("OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET"):
        secret_file = values.get(f"{secret}_FILE")
        if secret_file and not values.get(secret):
            values[secret] = _read_secret_file(secret_file)
    key_file = values.get("ENCRYPTION_KEY_FILE")
    if key_file:
        warnings.extend(_key_file_warnings(key_file))
    return Settings(values=values, config_file=config_file, warnings=tuple(warnings))


def _key_file_warnings(path: str) -> list[str]:
    """Like a readable password file; reading the key is left to the commands that use it."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return []
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [f"encryption key file {path} is readable by other users "
                f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it"]
    return []


def _read_secret_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"secret file {path} cannot be read ({exc.strerror})") from None
