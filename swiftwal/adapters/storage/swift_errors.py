"""Turn swiftclient and transport failures into swiftwal's error taxonomy.

Messages are built here from the status and the action only: swiftclient's
own texts may quote response bodies, and nothing here may carry a secret.
"""
from __future__ import annotations

import logging
import socket

from swiftwal.domain.errors import (
    AuthenticationFailed, ConfigError, IntegrityError, ObjectNotFound, StorageError, StorageUnavailable, SwiftwalError)


class StreamNotReplayable(Exception):
    """A streamed upload failed transiently and its source cannot be re-read."""


def quiet_swiftclient_logger() -> None:
    """swiftclient logs failures with its own logger; we report them as errors.

    Only that logger is touched, and only if nobody configured its level.
    """
    logger = logging.getLogger("swiftclient")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.CRITICAL + 1)


def translate(exc: BaseException, action: str, where: str) -> SwiftwalError:
    """The swiftwal error for ``exc`` raised while ``action`` (e.g. "put wal/x")."""
    if isinstance(exc, SwiftwalError):
        return exc
    from requests.exceptions import RequestException
    from swiftclient.exceptions import ClientException

    status = getattr(exc, "http_status", None) if isinstance(exc, ClientException) else None
    if status == 404:
        return ObjectNotFound(f"{action}: not found in {where}")
    if status in (401, 403):
        what = "authentication failed" if status == 401 else "permission denied"
        return AuthenticationFailed(
            f"swift {what} ({status}) during {action} on {where}",
            hint="check the user name, password, tenant/project and auth URL")
    if status == 422:
        return IntegrityError(f"swift found the data of {action} corrupted in transit on {where}",
                              hint="retry the command")
    if status is not None and (status >= 500 or status in (408, 429, 498, 499)):
        return StorageUnavailable(
            f"swift answered {status} during {action} on {where}",
            hint="the Swift cluster is failing or overloaded; retry later")
    if isinstance(exc, StreamNotReplayable):
        return StorageUnavailable(
            f"{action} failed on {where} and the stream could not be sent again",
            hint="retry the command")
    if isinstance(exc, (RequestException, socket.error, TimeoutError)) or _broken_body(exc):
        return StorageUnavailable(
            f"cannot reach swift during {action} on {where}: {type(exc).__name__}",
            hint="check that the Swift proxy is running and reachable from this host")
    if status is not None:
        reason = getattr(exc, "http_reason", "") or ""
        return StorageError(f"swift answered {status} {reason} during {action} on {where}".strip())
    if isinstance(exc, ClientException) and "keystoneclient" in str(exc.msg):
        return ConfigError(
            "keystone authentication (auth v2.0/v3) needs the python-keystoneclient package",
            hint="pip install python-keystoneclient next to swiftwal, or use a tempauth "
                 "/auth/v1.0 URL")
    if isinstance(exc, ClientException):
        # No status: swiftclient's own message (auth set-up, missing keystone client, ...).
        return StorageError(f"swift {action} failed on {where}: {exc.msg}")
    return StorageError(f"swift {action} failed on {where}: {type(exc).__name__}")


def _broken_body(exc: BaseException) -> bool:
    """A body read straight from urllib3 (a streamed GET) fails with urllib3's
    own errors, not requests': a connection cut (ProtocolError) or hung
    (ReadTimeoutError, a TimeoutError of urllib3's) in the middle is an outage
    too.  Told by class, since urllib3 comes with requests and is not a
    dependency of ours."""
    return any(kind.__module__ == "urllib3.exceptions"
               and kind.__name__ in ("ProtocolError", "TimeoutError")
               for kind in type(exc).__mro__)


def deadline_for(timeout: float) -> float:
    """How long one request may take with its retries: a few attempts' worth
    of ``timeout``, never less than 10 s (a brief outage is ridden out)."""
    return max(10.0, 3.0 * float(timeout))
