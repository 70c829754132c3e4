"""clouds.yaml, secure.yaml and clouds-public.yaml, read as openstacksdk's
``openstack.config`` reads them, for the keys swiftwal uses.

Each is the first existing file of its name, with the suffix ``.yaml``,
``.yml`` or ``.json``, in the working directory, ``$XDG_CONFIG_HOME/openstack``
(``~/.config/openstack``), ``~/.config/openstack``, each of
``$XDG_CONFIG_DIRS`` (``/etc/xdg``) with ``/openstack``, and
``/etc/openstack``; ``OS_CLIENT_CONFIG_FILE`` and ``OS_CLIENT_SECURE_FILE``
come before the others.  secure.yaml is merged over clouds.yaml key by key,
so that passwords can live in a file of their own.  The cloud named by
``OS_CLOUD`` supplies the settings that are not set explicitly (config file,
environment, options).  A cloud's ``profile`` (formerly ``cloud``) names an
entry of clouds-public.yaml's ``public-clouds``: its keys come first, the
cloud's own replace them, its ``auth`` keys one by one.

Beyond openstacksdk: a secure.yaml beside the clouds.yaml that is read
comes before the search path (so one directory named by
``OS_CLIENT_CONFIG_FILE`` can hold both); a missing ``OS_CLIENT_CONFIG_FILE``
or ``OS_CLIENT_SECURE_FILE`` is an error, not skipped; openstacksdk's
built-in vendor profiles are not known, only clouds-public.yaml's.

``cloud_settings`` is pure (documents in, ``KEYS`` values out); only
``load_documents`` reads files.  PyYAML, the ``clouds`` extra, is imported
only when a cloud is used.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from swiftwal.domain.errors import ConfigError

SUFFIXES = (".yaml", ".yml", ".json")
#: clouds.yaml ``auth:`` keys -> swiftwal settings.
AUTH_KEYS = {
    "auth_url": "OS_AUTH_URL",
    "username": "OS_USERNAME",
    "password": "OS_PASSWORD",
    "project_name": "OS_PROJECT_NAME",
    "project_id": "OS_PROJECT_ID",
    "tenant_name": "OS_TENANT_NAME",
    "user_domain_name": "OS_USER_DOMAIN_NAME",
    "project_domain_name": "OS_PROJECT_DOMAIN_NAME",
    "application_credential_id": "OS_APPLICATION_CREDENTIAL_ID",
    "application_credential_secret": "OS_APPLICATION_CREDENTIAL_SECRET",
}
#: Top-level keys of a cloud -> swiftwal settings.
CLOUD_KEYS = {
    "auth_type": "OS_AUTH_TYPE",
    "region_name": "OS_REGION_NAME",
    "interface": "OS_INTERFACE",
    "identity_api_version": "OS_IDENTITY_API_VERSION",
    "cacert": "OS_CACERT",
}


def merge(base: Any, over: Any) -> Any:
    """``over`` merged into ``base`` recursively (mappings merge, anything else replaces)."""
    if isinstance(base, Mapping) and isinstance(over, Mapping):
        merged = dict(base)
        for key, value in over.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return over


def _text(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{where} must be a string, not {type(value).__name__}")
    return str(value)


def _cloud(clouds: Any, secure: Any, name: str, source: str) -> Mapping:
    for document, what in ((clouds, source), (secure, "secure.yaml")):
        if document is not None and not (isinstance(document, Mapping) and
                                         isinstance(document.get("clouds", {}), Mapping)):
            raise ConfigError(f"{what}: expected a mapping with a 'clouds' mapping")
    merged = merge(clouds or {}, secure or {})
    found = merged.get("clouds", {}).get(name)
    if found is None:
        known = ", ".join(sorted(map(str, merged.get("clouds", {})))) or "none"
        raise ConfigError(f"cloud {name!r} not found in {source}", hint=f"clouds there: {known}")
    if not isinstance(found, Mapping) or not isinstance(found.get("auth", {}), Mapping):
        raise ConfigError(f"{source}: cloud {name!r} must be a mapping with an 'auth' mapping")
    return found


def profile_of(clouds: Any, secure: Any, name: str) -> str | None:
    """The profile cloud ``name`` names (None for none, or documents
    ``cloud_settings`` will refuse)."""
    try:
        found = _cloud(clouds, secure, name, "clouds.yaml")
    except ConfigError:
        return None
    profile = found.get("profile", found.get("cloud"))
    return None if profile in (None, "") else str(profile)


def with_profile(profile: Mapping, cloud: Mapping) -> dict:
    """``cloud`` over its ``profile``, as openstacksdk applies one: keys
    replaced, except ``auth``, whose keys are replaced one by one."""
    merged = dict(profile)
    for key, value in cloud.items():
        if key == "auth" and isinstance(merged.get("auth"), Mapping):
            merged["auth"] = {**merged["auth"], **value}
        else:
            merged[key] = value
    return merged


def cloud_settings(clouds: Any, secure: Any, name: str, source: str,
                   public: Any = None, public_source: str = "clouds-public.yaml"
                   ) -> dict[str, str]:
    """The ``KEYS`` values cloud ``name`` sets, from parsed clouds.yaml and
    secure.yaml documents (``secure`` None if there is none) and, for a cloud
    with a profile, clouds-public.yaml (``public``); ``source`` and
    ``public_source`` name the files in messages."""
    found = _cloud(clouds, secure, name, source)
    profile = profile_of(clouds, secure, name)
    if profile is not None:
        profiles = public.get("public-clouds") if isinstance(public, Mapping) else None
        entry = profiles.get(profile) if isinstance(profiles, Mapping) else None
        if entry is None:
            raise ConfigError(f"profile {profile!r} of cloud {name!r} not found in "
                              f"{public_source if public is not None else 'clouds-public.yaml'}",
                              hint="swiftwal knows the profiles of clouds-public.yaml's "
                                   "public-clouds, not openstacksdk's built-in vendors")
        if not isinstance(entry, Mapping) or not isinstance(entry.get("auth", {}), Mapping):
            raise ConfigError(f"{public_source}: profile {profile!r} must be a mapping "
                              f"with an 'auth' mapping")
        found = with_profile(entry, found)
    values = {}
    for key, setting in AUTH_KEYS.items():
        if found.get("auth", {}).get(key) not in (None, ""):
            values[setting] = _text(found["auth"][key], f"{source}: {name}.auth.{key}")
    for key, setting in CLOUD_KEYS.items():
        if found.get(key) not in (None, ""):
            values[setting] = _text(found[key], f"{source}: {name}.{key}")
    verify = found.get("verify")
    if verify is False or (isinstance(verify, str) and verify.lower() in ("false", "no", "0")):
        values["INSECURE"] = "yes"
    elif isinstance(verify, str) and verify.lower() not in ("true", "yes", "1"):
        values.setdefault("OS_CACERT", verify)  # a CA bundle path, as requests reads it
    return values


def search_dirs(home: str, environ: Mapping[str, str]) -> list[str]:
    """openstacksdk's ``CONFIG_SEARCH_PATH`` (platformdirs' on Linux)."""
    config_home = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    site = [d for d in (environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(os.pathsep) if d]
    found = [".", os.path.join(config_home, "openstack"),
             os.path.join(home, ".config", "openstack"),
             *(os.path.join(d, "openstack") for d in site), "/etc/openstack"]
    return list(dict.fromkeys(found))


def candidates(explicit: str | None, stem: str, home: str,
               environ: Mapping[str, str] | None = None) -> list[str]:
    """Where to look for ``stem`` (``clouds``, ``secure``, ``clouds-public``), in order."""
    dirs = search_dirs(home, os.environ if environ is None else environ)
    return ([explicit] if explicit else []) + [
        os.path.join(directory, stem + suffix) for directory in dirs for suffix in SUFFIXES]


def _first_existing(paths: list[str]) -> str | None:
    return next((path for path in paths if os.path.isfile(path)), None)


def _parse(path: str) -> Any:
    try:
        import yaml
    except ImportError:  # PyYAML comes with the clouds extra, which a plain install lacks
        raise ConfigError("OS_CLOUD needs PyYAML: install swiftwal with its clouds extra",
                          hint="pip install 'swiftwal[clouds]', or pip install PyYAML "
                               "next to swiftwal") from None
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path} is not valid YAML{where}") from None


def load_documents(get: Callable[[str], str | None], home: str) -> tuple[Any, Any, str]:
    """``(clouds, secure, source)``: the parsed documents and the clouds.yaml path."""
    explicit = get("OS_CLIENT_CONFIG_FILE")
    if explicit and not os.path.isfile(explicit):
        raise ConfigError(f"OS_CLIENT_CONFIG_FILE {explicit} does not exist")
    source = _first_existing(candidates(explicit, "clouds", home))
    if source is None:
        raise ConfigError(f"OS_CLOUD is {get('OS_CLOUD')!r} but no clouds.yaml was found",
                          hint="looked in ./, ~/.config/openstack/ and /etc/openstack/; "
                               "set OS_CLIENT_CONFIG_FILE")
    secure_explicit = get("OS_CLIENT_SECURE_FILE")
    if secure_explicit and not os.path.isfile(secure_explicit):
        raise ConfigError(f"OS_CLIENT_SECURE_FILE {secure_explicit} does not exist")
    beside = [os.path.join(os.path.dirname(source), "secure" + suffix) for suffix in SUFFIXES]
    secure_path = _first_existing(([secure_explicit] if secure_explicit else []) + beside
                                  + candidates(None, "secure", home))
    secure = _parse(secure_path) if secure_path else None
    return _parse(source), secure, source


def load_public(home: str) -> tuple[Any, str | None]:
    """``(document, path)`` of the first clouds-public.yaml, ``(None, None)`` if none."""
    path = _first_existing(candidates(None, "clouds-public", home))
    return (_parse(path), path) if path else (None, None)


def settings_with_cloud(settings):
    """``settings`` (a ``swiftwal.config.Settings``) with the values of the
    cloud named by its ``OS_CLOUD`` under its explicit ones."""
    home = os.path.expanduser("~")
    clouds, secure, source = load_documents(settings.get, home)
    name = settings.get("OS_CLOUD")
    public, public_source = None, None
    if profile_of(clouds, secure, name) is not None:  # read only when a cloud names one
        public, public_source = load_public(home)
    from_cloud = cloud_settings(clouds, secure, name, source, public,
                                public_source or "clouds-public.yaml")
    explicit = {k: v for k, v in settings.values.items() if v not in (None, "")}
    return settings.with_values({**from_cloud, **explicit})
