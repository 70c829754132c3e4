"""No Swift call can hang for ever: each attempt is bounded by the timeout,
and retries stop at an overall deadline however many are allowed."""
from __future__ import annotations

import io
import time
import uuid

import pytest

from swiftwal.adapters.storage.swift import SwiftStorage
from swiftwal.adapters.storage.swift_errors import deadline_for
from swiftwal.adapters.storage.swift_settings import SwiftSettings
from swiftwal.domain.errors import StorageUnavailable
from tests.support.tcp_proxy import TcpProxy

TIMEOUT = 2


@pytest.fixture
def proxy(swift):
    proxy = TcpProxy(swift.proxy_port)
    yield proxy
    proxy.close()


@pytest.mark.parametrize("mode", ["stall", "http503", "down"])
def test_retries_stop_at_the_deadline_even_when_many_are_allowed(swift, proxy, mode):
    store = SwiftStorage(SwiftSettings(
        auth_url=f"http://{proxy.url_host}/auth/v1.0", username=swift.user, password=swift.key,
        container=f"deadline-{uuid.uuid4().hex[:8]}", timeout=TIMEOUT, retries=1000, backoff=0.2))
    store.put("x", io.BytesIO(b"data"))
    proxy.set_mode(mode)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        with store.get("x") as reader:
            reader.read()
    elapsed = time.monotonic() - started
    # one attempt may start just before the deadline, plus one capped backoff
    assert elapsed < deadline_for(TIMEOUT) + TIMEOUT + 8 + 2, elapsed
