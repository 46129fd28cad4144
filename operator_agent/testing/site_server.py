"""A small local HTTP server for fixture sites: static folders served on 127.0.0.1.

Tests and users' CI recipes serve their own fixture pages with :func:`serve_directory`; the
mock back office (:mod:`operator_agent.testing.backoffice`) builds on :class:`LocalServer`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from operator_agent.errors import SiteError
from operator_agent.logs import get_logger

__all__ = ["LocalServer", "serve_directory"]

_log = get_logger("operator_agent.testing")


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    # Browsers open many parallel connections; a small backlog drops some under load.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that closes a connection early is normal; log instead of printing a traceback.
        _log.debug("fixture server connection error", client=str(client_address))


class LocalServer:
    """An HTTP server running in a daemon thread on a loopback address.

    Args:
        handler: A ``BaseHTTPRequestHandler`` factory, called once per request.
        host: The address to bind; loopback by default.
        port: The port; 0 picks a free one.
    """

    def __init__(
        self,
        *,
        handler: Callable[..., BaseHTTPRequestHandler],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        try:
            self._server = _QuietServer((host, port), handler)
        except OSError as exc:
            raise SiteError(f"could not listen on {host}:{port}: {exc}") from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.host = host

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """The base URL, without a trailing slash."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalServer:
        """Start serving in the background; returns ``self``."""
        self._thread.start()
        _log.debug("fixture server started", url=self.url)
        return self

    def stop(self) -> None:
        """Stop serving, free the port and join the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        _log.debug("fixture server stopped", url=self.url)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _StaticHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        _log.debug("fixture request", line=format % args)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@contextmanager
def serve_directory(root: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[LocalServer]:
    """Serve a folder of static files over HTTP for the duration of a ``with`` block.

    Args:
        root: The folder to serve; ``/`` maps to it.
        host: The loopback address to bind (use ``localhost`` vs ``127.0.0.1`` for a second origin).
        port: The port; 0 picks a free one.

    Yields:
        The running server; ``server.url`` is its base URL.

    Raises:
        SiteError: If the folder does not exist or the port cannot be bound.
    """
    folder = Path(root)
    if not folder.is_dir():
        raise SiteError(f"fixture folder not found: {folder}")
    with LocalServer(handler=partial(_StaticHandler, directory=str(folder)), host=host, port=port) as server:
        yield server
