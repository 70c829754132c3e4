"""A small TCP proxy on 127.0.0.1 for fault injection between a client and a server.

Modes, switchable at any time (new connections see the new mode; ``cut``
also acts on open ones):

- ``pass``: forward both ways;
- ``stall``: accept, then never forward nor answer (a hung server);
- ``reset``: accept and close at once (a crash behind a load balancer);
- ``down``: stop listening (connection refused, as an outage);
- ``http503``: answer every request with ``503 Service Unavailable``;
- ``cut``: forward, but close both sides after ``cut_after`` bytes in the
  direction ``cut_direction`` (``down`` server→client, ``up`` client→server):
  a connection dropped in the middle of a body.

``trip`` (optional) is called with each request line seen from clients; when
it returns a mode name, the proxy switches to that mode for what follows.
"""
from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Callable, Optional

MODES = ("pass", "stall", "reset", "down", "http503", "cut")


class TcpProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.mode = "pass"
        self.cut_after = 0
        self.cut_direction = "down"
        self.trip: Optional[Callable[[bytes], Optional[str]]] = None
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: Optional[socket.socket] = None
        self._stopped = False
        self.port = 0
        self._listen()

    @property
    def url_host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def set_mode(self, mode: str, cut_after: int = 0, cut_direction: str = "down") -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        with self._lock:
            self.mode, self.cut_after, self.cut_direction = mode, cut_after, cut_direction
        if mode == "down":
            self._close_listener()
            self.drop_all()
        elif self._listener is None and not self._stopped:
            self._listen()

    def drop_all(self) -> None:
        """Reset every open connection."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            _reset(sock)

    def close(self) -> None:
        self._stopped = True
        self._close_listener()
        self.drop_all()

    # -- internals ---------------------------------------------------------------------------

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _serve(self, client: socket.socket) -> None:
        self._track(client)
        mode = self.mode
        if mode == "reset" or mode == "down":
            _reset(client)
            return
        if mode == "stall":
            with contextlib.suppress(OSError):
                while client.recv(65536):
                    pass
            client.close()
            return
        if mode == "http503":
            self._answer_503(client)
            return
        try:
            server = socket.create_connection(self.target, timeout=10)
        except OSError:
            _reset(client)
            return
        server.settimeout(None)
        self._track(server)
        state = {"up": 0, "down": 0}
        threading.Thread(target=self._pump, args=(client, server, "up", state), daemon=True).start()
        self._pump(server, client, "down", state)

    def _pump(self, source: socket.socket, sink: socket.socket, direction: str, state: dict) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                    return
                if direction == "up":
                    self._watch(data)
                if self.mode == "stall":
                    continue  # swallow: the peer waits for ever
                if self.mode == "cut" and self.cut_direction == direction:
                    room = self.cut_after - state[direction]
                    if len(data) >= room:
                        sink.sendall(data[:max(room, 0)])
                        _reset(source)
                        _reset(sink)
                        return
                state[direction] += len(data)
                sink.sendall(data)
        except OSError:
            _reset(source)
            _reset(sink)

    def _watch(self, data: bytes) -> None:
        for line in data.split(b"\r\n"):
            if line[:4] in (b"GET ", b"PUT ", b"HEAD", b"POST", b"DELE", b"COPY"):
                self.requests.append(line)
                trip = self.trip
                if trip is not None:
                    mode = trip(line)
                    if mode is not None:
                        self.trip = None
                        self.set_mode(mode)

    def _answer_503(self, client: socket.socket) -> None:
        buffer = b""
        try:
            while b"\r\n\r\n" not in buffer:
                data = client.recv(65536)
                if not data:
                    break
                buffer += data
            self._watch(buffer)
            client.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                           b"Connection: close\r\n\r\n")
        except OSError:
            pass
        client.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST: the peer sees 'connection reset', not a clean end."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
