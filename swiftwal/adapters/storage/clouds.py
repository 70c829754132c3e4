"""clouds.yaml and secure.yaml, read as the openstack client reads them.

The first existing file of ``OS_CLIENT_CONFIG_FILE``, ``./clouds.yaml``,
``~/.config/openstack/clouds.yaml`` and ``/etc/openstack/clouds.yaml`` is
read; then ``secure.yaml`` (``OS_CLIENT_SECURE_FILE``, else the one beside
clouds.yaml, else the first of the same directories that has one) is merged
over it, so that passwords can live
in a file of their own.  The cloud named by ``OS_CLOUD`` supplies the
settings that are not set explicitly (config file, environment, options).

``cloud_settings`` is pure (documents in, ``KEYS`` values out); only
``load_documents`` reads files.  PyYAML, the ``clouds`` extra, is imported only when a
cloud is used.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from swiftwal.domain.errors import ConfigError

SEARCH_DIRS = (".", "~/.config/openstack", "/etc/openstack")
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


def cloud_settings(clouds: Any, secure: Any, name: str, source: str) -> dict[str, str]:
    """The ``KEYS`` values cloud ``name`` sets, from parsed clouds.yaml and
    secure.yaml documents (``secure`` None if there is none); ``source``
    names the files in messages."""
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


def candidates(explicit: str | None, file_name: str, home: str) -> list[str]:
    """Where to look for ``file_name``, in order."""
    found = [explicit] if explicit else []
    for directory in SEARCH_DIRS:
        if directory.startswith("~"):
            directory = home + directory[1:]
        found.append(os.path.join(directory, file_name))
    return found


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
    source = _first_existing(candidates(explicit, "clouds.yaml", home))
    if source is None:
        raise ConfigError(f"OS_CLOUD is {get('OS_CLOUD')!r} but no clouds.yaml was found",
                          hint="looked in ./, ~/.config/openstack/ and /etc/openstack/; "
                               "set OS_CLIENT_CONFIG_FILE")
    secure_explicit = get("OS_CLIENT_SECURE_FILE")
    if secure_explicit and not os.path.isfile(secure_explicit):
        raise ConfigError(f"OS_CLIENT_SECURE_FILE {secure_explicit} does not exist")
    beside = os.path.join(os.path.dirname(source), "secure.yaml")
    secure_path = _first_existing(([secure_explicit] if secure_explicit else []) + [beside]
                                  + candidates(None, "secure.yaml", home))
    secure = _parse(secure_path) if secure_path else None
    return _parse(source), secure, source


def settings_with_cloud(settings):
    """``settings`` (a ``swiftwal.config.Settings``) with the values of the
    cloud named by its ``OS_CLOUD`` under its explicit ones."""
    clouds, secure, source = load_documents(settings.get, os.path.expanduser("~"))
    from_cloud = cloud_settings(clouds, secure, settings.get("OS_CLOUD"), source)
    explicit = {k: v for k, v in settings.values.items() if v not in (None, "")}
    return settings.with_values({**from_cloud, **explicit})
