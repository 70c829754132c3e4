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
    "COMPRESSION_LEVEL": ("level of new WAL objects (zstd -7..22 except 0, default 1; gzip "
                          "1..9, default 3); a backlog of .ready segments lowers it", False),
    "LOG_FORMAT": ("console or json", False),
    "LARGE_OBJECT_SIZE": ("largest single object in bytes (default: the cluster's)", False),
    "INSECURE": ("yes to disable TLS certificate checks", False),
    "TIMEOUT": ("seconds for each network call (default 60)", False),
    "WAL_SEGMENT_SIZE": ("WAL segment size in bytes (default 16 MiB; read from files when known)", False),
    "PG_BIN_DIR": ("directory of pg_basebackup, psql, pg_combinebackup and pg_verifybackup",
                   False),
    "CACHE_DIR": ("directory for look-ahead records, prefetched WAL and auth tokens "
                  "(default ~/.cache/swiftwal)", False),
    "ARCHIVE_LOOKAHEAD": ("other .ready WAL segments archive-wal uploads ahead (default 8, 0: off)",
                          False),
    "ARCHIVE_MARK_DONE": ("yes (default): segments stored ahead are marked .done in "
                          "archive_status, so PostgreSQL skips their calls", False),
    "RESTORE_PREFETCH": ("next WAL segments restore-wal fetches ahead (default 8, 0: off)", False),
    "PARALLEL": ("parallel uploads/downloads of look-ahead, prefetch and large-object "
                 "segments (default 4)", False),
    "MAX_UPLOAD_RATE": ("the most a backup uploads per second, in kB/s or with a k or M "
                        "suffix (default: no limit; WAL is never held back)", False),
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
    "LOG_FORMAT", "TIMEOUT", "PARALLEL", "ARCHIVE_LOOKAHEAD", "ARCHIVE_MARK_DONE",
    "RESTORE_PREFETCH", "CACHE_DIR", "COMPRESSION_LEVEL",
    "PG_BIN_DIR", "LARGE_OBJECT_SIZE", "SEGMENT_EXPIRY", "MAX_UPLOAD_RATE", "INSECURE", "OS_CACERT",
    "CHECK_ARCHIVE_WARNING", "CHECK_ARCHIVE_CRITICAL", "CHECK_BACKUP_WARNING",
    "CHECK_BACKUP_CRITICAL"})
COMPRESSIONS = ("zstd", "gzip")
LOG_FORMATS = ("console", "json")
_TRUE, _FALSE = ("1", "yes", "true", "on"), ("0", "no", "false", "off")
_AUTH_VERSIONS = ("1", "1.0", "2", "2.0", "3", "3.0")


def _whole(minimum: int):
    def read(text: str) -> int | None:
        try:
            number = int(text)
        except ValueError:
            return None
        return number if number >= minimum else None
    return read


def _choice(choices: tuple[str, ...], fold=str.lower):
    def read(text: str) -> str | None:
        return fold(text) if fold(text) in choices else None
    return read


def _version_name(text: str) -> str:
    return text.strip().lower().lstrip("v")


def _flag(text: str) -> bool | None:
    text = text.lower()
    return True if text in _TRUE else False if text in _FALSE else None


def _rate(text: str) -> int | None:
    from swiftwal.domain.errors import InvalidInput
    from swiftwal.domain.rates import parse_rate

    try:
        return parse_rate(text)
    except InvalidInput:
        return None


def _level(text: str) -> int | None:
    # The codec's own range is checked where it is known: compression.wal_level.
    try:
        number = int(text)
    except ValueError:
        return None
    return number if -7 <= number <= 22 and number else None


def _segment_size(text: str) -> int | None:
    # PostgreSQL's own limits (initdb --wal-segsize); swiftwal.domain.walnames
    # is not imported here: archive_command would pay for attrs.
    number = _whole(1 << 20)(text)
    return number if number is not None and number <= 1 << 30 and not number & (number - 1) \
        else None


# Every key with a type: (what it must be, reader returning the value or None).
# Settings are checked here when they are loaded, by every command and its
# fast path alike, so a malformed value is one configuration error naming the
# key before any work, never a worker's failure in its log file.
TYPED_KEYS: dict[str, tuple[str, object]] = {
    "COMPRESSION": ("one of " + ", ".join(COMPRESSIONS), _choice(COMPRESSIONS)),
    "COMPRESSION_LEVEL": ("a whole number from -7 to 22 (zstd, not 0) or 1 to 9 (gzip)",
                          _level),
    "LOG_FORMAT": ("one of " + ", ".join(LOG_FORMATS), _choice(LOG_FORMATS)),
    "OS_INTERFACE": ("public, internal or admin",
                     _choice(("public", "internal", "admin", "publicURL", "internalURL",
                              "adminURL"), fold=str.strip)),
    "OS_AUTH_TYPE": ("password or v3applicationcredential",
                     _choice(("password", "v2password", "v3password", "v3applicationcredential",
                              "applicationcredential"))),
    "OS_AUTH_VERSION": ("1 (tempauth), 2.0 or 3", _choice(_AUTH_VERSIONS, _version_name)),
    "OS_IDENTITY_API_VERSION": ("2.0 or 3", _choice(_AUTH_VERSIONS[2:], _version_name)),
    "INSECURE": ("yes or no", _flag),
    "TIMEOUT": ("a whole number of seconds, 1 or more", _whole(1)),
    "SEGMENT_EXPIRY": ("a whole number of seconds, 1 or more", _whole(1)),
    "LARGE_OBJECT_SIZE": ("a whole number of bytes, 1 or more", _whole(1)),
    "WAL_SEGMENT_SIZE": ("a power of two from 1048576 (1 MiB) to 1073741824 (1 GiB), in bytes",
                         _segment_size),
    "PARALLEL": ("a whole number, 1 or more", _whole(1)),
    "MAX_UPLOAD_RATE": ("a rate in kB/s, or a number with the suffix k or M", _rate),
    "ARCHIVE_LOOKAHEAD": ("a whole number, 0 or more", _whole(0)),
    "ARCHIVE_MARK_DONE": ("yes or no", _flag),
    "RESTORE_PREFETCH": ("a whole number, 0 or more", _whole(0)),
    **dict.fromkeys(("CHECK_ARCHIVE_WARNING", "CHECK_ARCHIVE_CRITICAL", "CHECK_BACKUP_WARNING",
                     "CHECK_BACKUP_CRITICAL"), ("a whole number of seconds, 1 or more", _whole(1))),
}


def _typed(values: Mapping[str, str], sources: Mapping[str, str]) -> dict[str, object]:
    typed = {}
    for key, text in values.items():
        if key not in TYPED_KEYS or text in (None, ""):
            continue
        expected, read = TYPED_KEYS[key]
        value = read(text.strip())
        if value is None:
            where = sources.get(key)
            raise ConfigError(f"{key} must be {expected}, not {text!r}",
                              hint=f"from {where}" if where else None)
        typed[key] = value
    if typed.get("COMPRESSION") == "gzip" and not 1 <= typed.get("COMPRESSION_LEVEL", 1) <= 9:
        raise ConfigError(f"COMPRESSION_LEVEL must be 1 to 9 with gzip, not "
                          f"{typed['COMPRESSION_LEVEL']}")
    return typed


class Settings:
    """Read-only, and checked when built: every typed key (``TYPED_KEYS``)
    holds a well-formed value.  A plain class: archive_command's fast path
    reads settings and must not pay for importing attrs (about 20 ms)."""

    __slots__ = ("values", "config_file", "warnings", "typed", "sources")

    def __init__(self, values: Mapping[str, str], config_file: str | None = None,
                 warnings: tuple[str, ...] = (), sources: Mapping[str, str] | None = None) -> None:
        sources = dict(sources or {})
        object.__setattr__(self, "typed", _typed(values, sources))
        object.__setattr__(self, "values", dict(values))
        object.__setattr__(self, "config_file", config_file)
        object.__setattr__(self, "warnings", tuple(warnings))
        object.__setattr__(self, "sources", sources)

    def __setattr__(self, name, value):
        raise AttributeError("Settings are read-only")

    def __repr__(self) -> str:  # values may hold secrets
        return f"Settings(config_file={self.config_file!r}, keys={sorted(self.values)})"

    def with_values(self, values: Mapping[str, str]) -> "Settings":
        return Settings(values, self.config_file, self.warnings, self.sources)

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
        return self.typed.get("COMPRESSION", "zstd")

    @property
    def log_format(self) -> str | None:
        return self.typed.get("LOG_FORMAT")

    def integer(self, key: str, default: int | None = None) -> int | None:
        """A whole-number key of ``TYPED_KEYS``, checked when the settings were built."""
        return self.typed.get(key, default)

    def flag(self, key: str, default: bool = False) -> bool:
        return self.typed.get(key, default)


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


def _environment_name(key: str) -> str:
    return key if key.startswith("OS_") else f"SWIFTWAL_{key}"


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    values = {}
    for key in KEYS:
        env_name = _environment_name(key)
        if environ.get(env_name):
            values[key] = environ[env_name]
    return values


def load_settings(cli_values: Mapping[str, str | None], config_file: str | None,
                  environ: Mapping[str, str]) -> Settings:
    """Merge the three sources; ``cli_values`` uses the ``KEYS`` names."""
    values: dict[str, str] = {}
    warnings: list[str] = []
    sources: dict[str, str] = {}
    if config_file:
        file_values, warnings = read_config_file(config_file)
        values.update({k: v for k, v in file_values.items() if k in KEYS})
        sources.update(dict.fromkeys(values, f"the config file {config_file}"))
    from_environment = _from_environment(environ)
    values.update(from_environment)
    sources.update({k: f"the environment ({_environment_name(k)})" for k in from_environment})
    from_options = {k: v for k, v in cli_values.items() if v not in (None, "")}
    values.update(from_options)
    sources.update(dict.fromkeys(from_options, "the command line"))
    for secret in ("OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET"):
        secret_file = values.get(f"{secret}_FILE")
        if secret_file and not values.get(secret):
            values[secret] = _read_secret_file(secret_file)
    key_file = values.get("ENCRYPTION_KEY_FILE")
    if key_file:
        warnings.extend(_key_file_warnings(key_file))
    return Settings(values=values, config_file=config_file, warnings=tuple(warnings),
                    sources=sources)


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
