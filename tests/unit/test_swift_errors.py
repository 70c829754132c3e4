"""What a failure of the Swift client becomes: a connection cut or hung in the
middle of a streamed body is the store being unavailable (exit 4, and 126
during targeted recovery), like any other network failure."""
from __future__ import annotations

import socket

import pytest
import requests

from swiftwal.adapters.storage.swift_errors import translate
from swiftwal.domain.errors import StorageError, StorageUnavailable


# urllib3 as requests brings it (the same module): not a dependency of ours.
ProtocolError = requests.packages.urllib3.exceptions.ProtocolError
ReadTimeoutError = requests.packages.urllib3.exceptions.ReadTimeoutError


@pytest.mark.parametrize("failure", [
    ReadTimeoutError(None, "/v1/AUTH_x/c/wal/x", "Read timed out."),
    ProtocolError("Connection broken: IncompleteRead(700 bytes read, 10 more expected)"),
    socket.timeout("timed out"),
    ConnectionResetError(104, "Connection reset by peer"),
], ids=["read-timeout", "incomplete-read", "socket-timeout", "reset"])
def test_a_broken_or_hung_connection_is_the_store_unavailable(failure):
    error = translate(failure, "get wal/x", "swift://c")
    assert isinstance(error, StorageUnavailable)
    assert type(failure).__name__ in error.message


def test_anything_else_stays_a_storage_error():
    error = translate(ValueError("odd"), "get wal/x", "swift://c")
    assert type(error) is StorageError
