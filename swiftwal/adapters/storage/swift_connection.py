"""python-swiftclient's ``Connection`` as swiftwal uses it.

Everything here that leans on python-swiftclient's private API is inside
``bounded_connection_class``: the library offers no hook for an overall
deadline per request, and none for a request whose response body it would
drop (``multipart-manifest=delete`` reports failures in its body).  What it
relies on is pinned by tests/unit/test_swift_connection.py, which fails if
the library stops behaving that way.
"""
from __future__ import annotations

import functools


@functools.lru_cache(maxsize=None)
def bounded_connection_class():
    """swiftclient's ``Connection`` with an overall deadline per request and
    jittered backoff, and ``request`` for a request function of our own.

    swiftclient retries a failed request ``retries`` times, sleeping
    ``starting_backoff`` doubling up to ``max_backoff``; each attempt is bounded
    by ``timeout``.  Here ``retries`` reads as 0 once ``deadline`` seconds have
    passed since the request began, so no request retries past it, and each
    connection starts from a backoff drawn in [0.5, 1.5) times the configured
    one, so that many archive_command processes hit by one outage do not
    retry in lockstep.
    """
    import random
    import time

    from swiftclient.client import Connection

    class BoundedConnection(Connection):
        def __init__(self, *args, deadline: float | None = None, **kwargs) -> None:
            self._deadline_s = deadline
            self._ends_at: float | None = None
            self._frozen: int | None = None
            if "starting_backoff" in kwargs:
                kwargs["starting_backoff"] *= random.uniform(0.5, 1.5)
            super().__init__(*args, **kwargs)

        @property
        def retries(self) -> int:
            # Past the deadline, allow no attempt beyond the current one; frozen
            # at the first look so that swiftclient's loop ends by raising the
            # last failure, never by falling through with no result.
            if self._ends_at is not None and time.monotonic() >= self._ends_at:
                if self._frozen is None:
                    self._frozen = getattr(self, "attempts", 0)
                return min(self._frozen, self._retries)
            return self._retries

        @retries.setter
        def retries(self, value: int) -> None:
            self._retries = value

        def request(self, func, *args, **kwargs):
            """``func(url, token, *args, http_conn=..., service_token=...,
            **kwargs)`` (swiftclient's calling style) with the same auth, one
            re-auth on 401, retries and deadline as the library's own requests."""
            return self._retry(None, func, *args, **kwargs)

        def _retry(self, reset_func, func, *args, **kwargs):
            self._frozen = None
            if self._deadline_s is not None:
                self._ends_at = time.monotonic() + self._deadline_s
            try:
                return super()._retry(reset_func, func, *args, **kwargs)
            finally:
                self._ends_at = None

    return BoundedConnection
