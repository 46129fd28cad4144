"""Servers the domain allowlist tests share: an allowed host, a disallowed one, and raw listeners.

The allowed site runs on ``127.0.0.1`` (also reachable as ``localhost``, a second allowed host
name and another site for cookies), the disallowed one on ``127.0.0.2``: another loopback
address, so another host for the allowlist. Each server records every request it receives
(:class:`Hits`), so a test can assert that the disallowed one received nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Self

from operator_agent.testing.site_server import LocalServer


@dataclass(frozen=True)
class Hit:
    """One request a server received."""

    method: str
    path: str
    body: bytes
    referer: str | None
    origin: str | None
    cookie: str | None


class Hits:
    """What one server received, thread-safe; requests for ``/favicon.ico`` are left out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._hits: list[Hit] = []

    def add(self, hit: Hit) -> None:
        with self._lock:
            self._hits.append(hit)

    def all(self) -> list[Hit]:
        with self._lock:
            return [hit for hit in self._hits if hit.path != "/favicon.ico"]

    def requests(self) -> list[tuple[str, str, bytes]]:
        """``(method, path, body)`` of each request."""
        return [(hit.method, hit.path, hit.body) for hit in self.all()]

    def paths(self) -> list[str]:
        return [hit.path for hit in self.all()]

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()


Responder = Callable[[str, str, bytes], tuple[int, dict[str, str], bytes]]
"""``(method, path, body) -> (status, headers, content)``."""


def recording_handler(hits: Hits, respond: Responder) -> type[BaseHTTPRequestHandler]:
    """A handler for GET and POST that records each request in ``hits`` and answers with ``respond``."""

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            hits.add(
                Hit(
                    self.command,
                    self.path,
                    body,
                    self.headers.get("Referer"),
                    self.headers.get("Origin"),
                    self.headers.get("Cookie"),
                )
            )
            status, headers, content = respond(self.command, self.path, body)
            self.send_response(status)
            headers.setdefault("Content-Type", "text/html; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def leaked(method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """What the disallowed server answers: a page that says it was reached."""
    return 200, {}, b"<p>leaked</p>"


class TwoSites:
    """The allowed site (``ok``, answered by :meth:`respond`) and the disallowed one (``bad``).

    Subclasses override :meth:`respond`. Use as a context manager: both servers run inside it.
    """

    def __init__(self) -> None:
        self.ok_hits = Hits()
        self.bad_hits = Hits()
        self.bad = LocalServer(handler=recording_handler(self.bad_hits, leaked), host="127.0.0.2")
        self.ok = LocalServer(handler=recording_handler(self.ok_hits, self.respond))

    @property
    def other(self) -> str:
        """The allowed server under its second name: another allowed host, and another site."""
        return f"http://localhost:{self.ok.port}"

    def respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 404, {}, b"not found"

    def clear(self) -> None:
        self.ok_hits.clear()
        self.bad_hits.clear()

    def __enter__(self) -> Self:
        self.bad.start()
        self.ok.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ok.stop()
        self.bad.stop()


_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def socket_handler(hits: list[str], page: Callable[[], str]) -> type[BaseHTTPRequestHandler]:
    """Serves ``/ws`` (a web socket that echoes one short text message) and ``page()`` elsewhere."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            if self.path != "/ws":
                body = page().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            key = self.headers["Sec-WebSocket-Key"] + _WS_GUID
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.send_header(
                "Sec-WebSocket-Accept", base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
            )
            self.end_headers()
            self.wfile.flush()
            _, size = self.rfile.read(2)  # a masked text frame shorter than 126 bytes
            mask = self.rfile.read(4)
            text = bytes(c ^ mask[i % 4] for i, c in enumerate(self.rfile.read(size & 0x7F)))
            reply = b"echo:" + text
            self.wfile.write(bytes([0x81, len(reply)]) + reply)
            self.wfile.flush()
            self.rfile.read(2)  # wait for the page to close the socket (or the connection to drop)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


class Listener:
    """Accepts TCP connections (on ``127.0.0.2`` by default) and keeps the first bytes of each."""

    def __init__(self, host: str = "127.0.0.2") -> None:
        self._socket = socket.create_server((host, 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self._lock = threading.Lock()
        self._connections: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._socket.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(0.5)
                try:
                    first = connection.recv(64)
                except OSError:
                    first = b""
            with self._lock:
                self._connections.append(first)

    @property
    def connections(self) -> list[bytes]:
        with self._lock:
            return list(self._connections)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


class UdpListener:
    """Receives UDP datagrams on ``127.0.0.2`` and counts them."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.2", 0))
        self._socket.settimeout(0.2)
        self.port = self._socket.getsockname()[1]
        self._lock = threading.Lock()
        self._count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                self._socket.recvfrom(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._count += 1

    @property
    def datagrams(self) -> int:
        with self._lock:
            return self._count

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._socket.close()


async def eventually(check: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    """Wait until ``check()`` holds (what a server received arrives on its own thread)."""
    for _ in range(int(timeout_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
