"""What ``swift_connection`` takes from python-swiftclient's private API, pinned.

``bounded_connection_class`` overrides ``Connection._retry`` and reads
``retries`` and ``attempts`` as the library's retry loop updates them, and
sends requests of its own through that loop (``request``).  These tests fail
if a release of python-swiftclient stops behaving as relied on, whatever its
version number says.  They talk to a small HTTP server on the loopback.
"""
from __future__ import annotations

import contextlib
import http.server
import json
import threading

import pytest
from swiftclient.exceptions import ClientException

from swiftwal.adapters.storage.swift_connection import bounded_connection_class
from swiftwal.adapters.storage.swift_wire import multipart_delete


class Script(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next of ``answers`` (the last one repeats);
    tempauth's ``/auth/v1.0`` hands out tokens ``t1``, ``t2``, ..."""

    answers: list = []
    seen: list = []
    auths: list = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/auth/v1.0"):
            self.auths.append(self.path)
            status, headers, body = 200, {
                "X-Storage-Url": f"http://127.0.0.1:{self.server.server_port}/v1/AUTH_t",
                "X-Auth-Token": f"t{len(self.auths)}"}, b""
        else:
            self.seen.append((self.command, self.path, self.headers.get("X-Auth-Token")))
            status, headers, body = self.answers[min(len(self.seen), len(self.answers)) - 1]
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_DELETE = do_POST = _answer

    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def server(answers):
    handler = type("Handler", (Script,), {"answers": answers, "seen": [], "auths": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def connection(base: str, retries: int = 3, deadline: float | None = None):
    return bounded_connection_class()(
        authurl=f"{base}/auth/v1.0", user="u", key="k", auth_version="1", retries=retries,
        starting_backoff=0.01, max_backoff=0.02, timeout=5, deadline=deadline)


UNAVAILABLE = (503, {}, b"busy")


def test_the_library_retries_a_failed_request_as_many_times_as_retries_says():
    with server([UNAVAILABLE]) as (handler, base):
        with pytest.raises(ClientException) as failure:
            connection(base, retries=3).head_object("c", "o")
    assert failure.value.http_status == 503
    assert len(handler.seen) == 4


def test_its_retry_loop_reads_retries_at_each_attempt_so_a_passed_deadline_stops_it():
    """Our ``_retry`` runs for the library's own methods, and the loop asks
    ``retries`` again before each new attempt, with ``attempts`` counting
    them: past the deadline the last failure is raised, no request more."""
    with server([UNAVAILABLE]) as (handler, base):
        with pytest.raises(ClientException) as failure:
            connection(base, retries=3, deadline=0.0).head_object("c", "o")
    assert failure.value.http_status == 503
    assert len(handler.seen) == 1


def test_a_request_of_our_own_gets_url_token_connection_and_the_same_retries():
    calls = []

    def probe(url, token, container, name, http_conn=None, service_token=None):
        calls.append((url, token, container, name, service_token))
        parsed, conn = http_conn
        conn.request("GET", f"{parsed.path}/{container}/{name}", "", {"X-Auth-Token": token})
        response = conn.getresponse()
        body = response.read()
        if response.status >= 300:
            raise ClientException.from_response(response, "probe failed", body)
        return body

    with server([UNAVAILABLE, (200, {}, b"fine")]) as (handler, base):
        conn = connection(base)
        assert conn.request(probe, "c", "o") == b"fine"
    assert [c[1:] for c in calls] == [("t1", "c", "o", None)] * 2
    assert calls[0][0].endswith("/v1/AUTH_t") and len(handler.seen) == 2


def test_a_refused_token_is_renewed_once_for_a_request_of_our_own():
    tokens = []

    def probe(url, token, http_conn=None, service_token=None):
        tokens.append(token)
        if len(tokens) == 1:
            raise ClientException("expired", http_status=401)
        return "done"

    with server([UNAVAILABLE]) as (handler, base):
        assert connection(base).request(probe) == "done"
    assert tokens == ["t1", "t2"] and len(handler.auths) == 2


def report(status: str, errors: list) -> tuple:
    return 200, {"Content-Type": "application/json"}, json.dumps(
        {"Response Status": status, "Errors": errors}).encode()


@pytest.mark.parametrize("answer, result", [
    (report("200 OK", []), True),
    ((404, {}, b""), True),
    (report("400 Bad Request", [["/c/o", "400 Bad Request: Not an SLO manifest"]]), False),
])
def test_multipart_delete_reads_the_report_in_the_body(answer, result):
    with server([answer]) as (handler, base):
        assert connection(base).request(multipart_delete, "c", "o") is result
    (method, path, token), = handler.seen
    assert (method, path, token) == ("DELETE", "/v1/AUTH_t/c/o?multipart-manifest=delete", "t1")


def test_a_failure_reported_in_the_body_is_raised_and_a_busy_cluster_retried():
    failed = report("502 Bad Gateway", [["/c/.segments/o/1", "503 Service Unavailable"]])
    with server([UNAVAILABLE, failed]) as (handler, base):
        with pytest.raises(ClientException) as failure:
            connection(base, retries=1).request(multipart_delete, "c", "o")
    assert failure.value.http_status == 502 and len(handler.seen) == 2
