"""What Swift sends back, read into port values; the one raw request we need."""
from __future__ import annotations

import datetime
import email.utils
import json
import urllib.parse
from typing import Mapping

from swiftwal.adapters.storage.port import RESERVED_META_KEY, ObjectInfo
from swiftwal.adapters.storage.swift_errors import translate
from swiftwal.domain.errors import StorageUnavailable

SEGMENTS = ".segments/"
# Every ".segments/..." name sorts before this one: a listing can jump over them all.
AFTER_SEGMENTS = ".segments0"
_META = "x-object-meta-"
#: Header that named the create-only upload of objects written by earlier releases,
#: which waited to compare it; never shown as metadata.
TOKEN_HEADER = _META + RESERVED_META_KEY


def info_from_headers(name: str, headers: Mapping[str, str]) -> ObjectInfo:
    modified = headers.get("last-modified")
    return ObjectInfo(
        name=name,
        size=int(headers.get("content-length", 0)),
        last_modified=email.utils.parsedate_to_datetime(modified) if modified else None,
        etag=(headers.get("etag") or "").strip('"') or None,
        metadata={k[len(_META):].lower(): v for k, v in headers.items()
                  if k.lower().startswith(_META) and k.lower() != TOKEN_HEADER},
    )


def info_from_listing(item: Mapping[str, object]) -> ObjectInfo:
    modified = item.get("last_modified")
    when = None
    if isinstance(modified, str):
        when = datetime.datetime.fromisoformat(modified).replace(tzinfo=datetime.timezone.utc)
    # A large object's listing "hash" is its manifest's; "slo_etag" is what HEAD says.
    etag = str(item.get("slo_etag") or item.get("hash") or "").strip('"') or None
    return ObjectInfo(name=str(item["name"]), size=int(item.get("bytes", 0)),  # type: ignore[call-overload]
                      last_modified=when, etag=etag)


def segment_owner(segment: str) -> tuple[str, str] | None:
    """``(object name, upload id)`` of a segment name, or None if it is not one."""
    if not segment.startswith(SEGMENTS):
        return None
    parts = segment[len(SEGMENTS):].rsplit("/", 2)
    return (parts[0], parts[1]) if len(parts) == 3 else None


def multipart_delete(url, token, container, name, http_conn=None, service_token=None):
    """DELETE ``name`` with its large-object segments, in swiftclient's calling style.

    swiftclient's ``delete_object`` drops the response body, but Swift answers
    200 and reports failures inside it.  A missing object is not an error.
    Meant for ``BoundedConnection.request``, which adds auth and retries.
    """
    from swiftclient.client import http_connection
    from swiftclient.exceptions import ClientException

    parsed, conn = http_conn or http_connection(url)
    path = f"{parsed.path}/{urllib.parse.quote(container)}/{urllib.parse.quote(name)}"
    headers = {"X-Auth-Token": token, "Accept": "application/json"}
    if service_token:
        headers["X-Service-Token"] = service_token
    conn.request("DELETE", path + "?multipart-manifest=delete", "", headers)
    resp = conn.getresponse()
    body = resp.read()
    if resp.status == 404:
        return True
    if not 200 <= resp.status < 300:
        raise ClientException.from_response(resp, "Object DELETE failed", body)
    if not body.strip():
        return True
    report = json.loads(body)
    status = str(report.get("Response Status", "200"))
    code = int(status.split()[0]) if status.split() and status.split()[0].isdigit() else 500
    errors = [e for e in report.get("Errors") or [] if not str(e[-1]).startswith("404")]
    if errors and all("not an slo manifest" in str(e[-1]).lower() for e in errors):
        return False
    if code >= 300 and code != 404 or errors:
        raise ClientException(f"Object DELETE failed: {status}", http_status=code if code >= 300
                              else 500, http_reason=str(errors)[:200])
    return True


class Reader:
    """A GET body as an ``ObjectReader``; a short body is an error, not an end."""

    def __init__(self, info: ObjectInfo, body, action: str, where: str) -> None:
        self.info = info
        self._body = body
        self._got = 0
        self._action = action
        self._where = where

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._body.read(None if size is None or size < 0 else size)
        except Exception as exc:
            raise translate(exc, self._action, self._where) from exc
        self._got += len(data)
        if not data and size != 0 and self._got < self.info.size:
            raise StorageUnavailable(f"{self._action}: download from {self._where} ended after "
                                     f"{self._got} of {self.info.size} bytes", hint="retry")
        return data
