"""A filtering HTTP proxy for one browser context: the network floor under the domain allowlist.

A browser context created with Playwright's ``proxy`` option sends every connection it makes
through its proxy, whichever feature starts it: pages, frames, workers and their web sockets,
popups, redirects, and the browser's own speculative loads. :class:`DomainProxy` is that proxy,
run in the caller's event loop and bound to ``127.0.0.1`` on a free port. It checks the host of
every request against the allowlist *before* any DNS look-up or connection:

- ``CONNECT host:port`` (``https``, ``wss``, and what else the browser tunnels, ``ws`` included):
  an allowed host is tunnelled both ways; another is answered ``403`` and reported.
- Plain ``http`` requests in absolute form (``GET http://host:port/path HTTP/1.1``): each request
  of a keep-alive connection is checked on its own, forwarded in origin form to its server
  (one server connection per client connection, opened again when the host changes), and its
  response is copied back as it arrives; an upgrade answered ``101`` (a web socket) becomes a
  tunnel. A request to another host is answered ``403``, reported, and its connection closed.

What the proxy cannot parse it refuses (``400``, ``431``, ``501`` or ``505``) and closes the
connection; a server it cannot reach or understand gets the client a ``502`` or ``504``. Memory
is bounded (heads up to 64 KiB, bodies copied 64 KiB at a time with back-pressure). Every
refusal goes to ``on_block``: :meth:`DomainAllowlist.proxy
<operator_agent.guardrails.domains.DomainAllowlist.proxy>` wires it to the allowlist's
``blocked`` record, which the run reports to the model and the trace.

Chromium sends loopback hosts (``127.0.0.1``, ``localhost``) to a per-context proxy only when
told: :data:`PROXY_BYPASS` is the bypass rule that says so (Playwright adds it by itself unless
``PLAYWRIGHT_DISABLE_FORCED_CHROMIUM_PROXIED_LOOPBACK`` is set; given explicitly, it holds
either way).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Final

from playwright.async_api import ProxySettings

from operator_agent.errors import BrowserError, ConfigurationError
from operator_agent.guardrails._http1 import (
    CHUNK,
    MAX_HEAD_BYTES,
    Framing,
    MalformedMessage,
    RequestHead,
    ResponseHead,
    absolute_target,
    copy_body,
    error_response,
    keeps_alive,
    parse_authority,
    parse_request_head,
    parse_response_head,
    read_head,
    render_request,
    render_response,
    request_framing,
    response_framing,
)
from operator_agent.logs import get_logger

__all__ = ["PROXY_BYPASS", "DomainProxy"]

PROXY_BYPASS: Final = "<-loopback>"
"""Chromium's proxy bypass rule that sends loopback hosts through the proxy as well."""

_log = get_logger("operator_agent.guardrails")

# How long an ended tunnel direction waits for the other one to end after its last byte.
_HALF_CLOSE_GRACE_S: Final = 30.0
_CLOSE_TIMEOUT_S: Final = 5.0
_LINGER_S: Final = 1.0
_connection_ids = itertools.count(1)


@dataclass
class _Upstream:
    host: str
    port: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: bool = False

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()


class DomainProxy:
    """An HTTP proxy that lets a browser context reach allowed hosts only (see the module).

    Use it as an async context manager, or call :meth:`start` and :meth:`close`. Create the
    browser context with ``proxy=domain_proxy.settings()``.

    Args:
        allows_host: Whether a host name (lower case, IPv6 without brackets) may be reached.
        on_block: Called with what was refused (a URL, or ``host:port`` for a tunnel) and why.
        connect_timeout_s: How long connecting to a server may take.
        idle_timeout_s: How long a client connection may wait between requests (and a request's
            head may take to arrive) before it is closed.
        response_timeout_s: How long a server may take to start its response.
        max_connections: Client connections served at once; more are answered ``503``.
    """

    def __init__(
        self,
        *,
        allows_host: Callable[[str], bool],
        on_block: Callable[[str, str], None],
        connect_timeout_s: float = 15.0,
        idle_timeout_s: float = 120.0,
        response_timeout_s: float = 300.0,
        max_connections: int = 512,
    ) -> None:
        for name, value in (
            ("connect_timeout_s", connect_timeout_s),
            ("idle_timeout_s", idle_timeout_s),
            ("response_timeout_s", response_timeout_s),
        ):
            if not math.isfinite(value) or value <= 0:
                raise ConfigurationError(f"DomainProxy {name} must be a positive duration, got {value}")
        if max_connections < 1:
            raise ConfigurationError(f"DomainProxy max_connections must be at least 1, got {max_connections}")
        self._allows_host = allows_host
        self._on_block = on_block
        self.connect_timeout_s = connect_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.response_timeout_s = response_timeout_s
        self.max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._port = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> DomainProxy:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> DomainProxy:
        """Listen on ``127.0.0.1`` on a free port; does nothing if already listening.

        Raises:
            BrowserError: The proxy was closed already, or could not listen.
        """
        if self._closed:
            raise BrowserError("the domain proxy was closed; make a new one")
        if self._server is not None:
            return self
        try:
            self._server = await asyncio.start_server(
                self._accept, host="127.0.0.1", port=0, limit=MAX_HEAD_BYTES, backlog=128
            )
        except OSError as exc:
            raise BrowserError(f"the domain proxy could not listen on 127.0.0.1: {exc}") from exc
        self._port = int(self._server.sockets[0].getsockname()[1])
        _log.debug("domain proxy listening", server=self.server)
        return self

    @property
    def port(self) -> int:
        """The port the proxy listens on (0 before :meth:`start`)."""
        return self._port

    @property
    def server(self) -> str:
        """The proxy's address as Playwright's ``proxy`` option takes it (``http://127.0.0.1:PORT``)."""
        if self._server is None:
            raise BrowserError("the domain proxy is not listening; call start() first")
        return f"http://127.0.0.1:{self._port}"

    def settings(self) -> ProxySettings:
        """The ``proxy`` option for ``Browser.new_context``: this proxy, loopback hosts included."""
        return {"server": self.server, "bypass": PROXY_BYPASS}

    @property
    def connections(self) -> int:
        """Client connections being served now."""
        return len(self._tasks)

    async def close(self) -> None:
        """Stop listening and close every connection (tunnels too); idempotent."""
        self._closed = True
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=_CLOSE_TIMEOUT_S)
            if pending:
                _log.warning("domain proxy connections did not end in time", count=len(pending))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await server.wait_closed()
        _log.debug("domain proxy closed", port=self._port, connections_cut=len(tasks))

    # -- connections -------------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is None or self._closed:  # pragma: no cover - start_server always runs us in a task
            writer.transport.abort()
            return
        busy = len(self._tasks) >= self.max_connections
        self._tasks.add(task)
        connection = _Connection(proxy=self, reader=reader, writer=writer)
        # Nothing escapes: on Python 3.11, asyncio's stream callback logs whatever a handler
        # raises as an error, its cancellation by close() included.
        try:
            if busy:
                with contextlib.suppress(ConnectionError, OSError):
                    await connection.refuse(503, "too many connections to the domain proxy")
            else:
                await connection.serve()
            await connection.close()
        except asyncio.CancelledError:
            connection.abort()  # close() is shutting the proxy down: no waiting for anyone
        except Exception:
            _log.exception("domain proxy connection failed")
            connection.abort()
        finally:
            self._tasks.discard(task)

    def _allowed(self, host: str, blocked: str, why: str) -> bool:
        if self._allows_host(host):
            return True
        self._on_block(blocked, why)
        return False


class _Connection:
    """One client connection: a sequence of requests, or one tunnel."""

    def __init__(
        self, *, proxy: DomainProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._proxy = proxy
        self._reader = reader
        self._writer = writer
        self._upstream: _Upstream | None = None
        self._log = _log.bind(proxy_connection=next(_connection_ids))

    async def serve(self) -> None:
        try:
            while await self._one_request():
                pass
        except MalformedMessage as exc:
            # Found in a body or response after forwarding began: nothing sensible can follow.
            self._log.debug("domain proxy stream malformed", reason=exc.reason)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, OSError) as exc:
            self._log.debug("domain proxy connection ended", error=repr(exc))

    def abort(self) -> None:
        self._writer.transport.abort()
        if self._upstream is not None:
            self._upstream.writer.transport.abort()

    async def close(self) -> None:
        await self._drop_upstream()
        await _close_gently(self._reader, self._writer)

    async def refuse(self, status: int, reason: str) -> None:
        """Answer the client with an error of the proxy's own (the connection is then closed)."""
        self._log.debug("domain proxy refused a request", status=status, reason=reason)
        self._writer.write(error_response(status, reason))
        await self._writer.drain()

    async def _one_request(self) -> bool:
        """Serve one request; whether the connection may carry another."""
        try:
            async with asyncio.timeout(self._proxy.idle_timeout_s):
                raw = await read_head(self._reader)
        except TimeoutError:
            return False
        except MalformedMessage as exc:
            await self.refuse(exc.status, exc.reason)
            return False
        if raw is None:
            return False
        try:
            head = parse_request_head(raw)
            if head.method == "CONNECT":
                await self._tunnel(head)
                return False
            scheme, host, port, authority, origin_form = absolute_target(head.target)
            framing = request_framing(head.headers)
        except MalformedMessage as exc:
            await self.refuse(exc.status, exc.reason)
            return False
        url = f"{scheme}://{authority}{origin_form}"
        if not self._proxy._allowed(host, url, "host not allowed (domain proxy)"):
            await self.refuse(403, f"{host} is not among the allowed domains")
            return False
        self._log.debug("domain proxy request", method=head.method, url=url)
        return await self._forward(head, host, port, authority, origin_form, framing)

    # -- CONNECT -----------------------------------------------------------------------------

    async def _tunnel(self, head: RequestHead) -> None:
        host, port = parse_authority(head.target, default_port=None)
        authority = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if not self._proxy._allowed(host, authority, "tunnel to a host not allowed (domain proxy)"):
            await self.refuse(403, f"{host} is not among the allowed domains")
            return
        upstream = await self._connect(host, port)
        if upstream is None:
            return
        self._log.debug("domain proxy tunnel", host=host, port=port)
        self._writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await self._writer.drain()
        await _pipe(self._reader, self._writer, upstream.reader, upstream.writer)

    # -- forwarding ----------------------------------------------------------------------------

    async def _connect(self, host: str, port: int) -> _Upstream | None:
        """Open a connection to the server, or answer the client 502/504 and return ``None``."""
        try:
            async with asyncio.timeout(self._proxy.connect_timeout_s):
                reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEAD_BYTES)
        except TimeoutError:
            await self.refuse(504, f"connecting to {host}:{port} timed out")
            return None
        except OSError as exc:
            await self.refuse(502, f"could not connect to {host}:{port}: {exc.strerror or exc}")
            return None
        self._upstream = _Upstream(host=host, port=port, reader=reader, writer=writer)
        return self._upstream

    async def _drop_upstream(self) -> None:
        upstream, self._upstream = self._upstream, None
        if upstream is not None:
            await _close_writer(upstream.writer, abort=False)

    async def _forward(
        self, head: RequestHead, host: str, port: int, authority: str, origin_form: str, framing: Framing
    ) -> bool:
        client_keep_alive = keeps_alive(head.version, head.headers)
        upgrade = "upgrade" in head.headers.tokens("connection") and bool(head.headers.get_all("upgrade"))
        request = render_request(head, authority, origin_form, keep_alive=client_keep_alive, upgrade=upgrade)
        for attempt in (1, 2):
            upstream = self._upstream
            if upstream is not None and not (
                upstream.host == host and upstream.port == port and upstream.usable()
            ):
                await self._drop_upstream()
                upstream = None
            if upstream is None:
                upstream = await self._connect(host, port)
                if upstream is None:
                    return False
            reused, upstream.used = upstream.used, True
            upstream.writer.write(request)
            body = None
            if framing.kind != "none":
                body = asyncio.create_task(copy_body(self._reader, upstream.writer, framing, status=400))
                # A client that stops mid-body: end the server's side too, so the wait below ends.
                body.add_done_callback(functools.partial(_abort_on_error, writer=upstream.writer))
            try:
                try:
                    response = await self._response_head(upstream, head.method)
                except TimeoutError:  # an OSError too: caught first
                    await self.refuse(504, f"{host}:{port} did not answer in time")
                    return False
                except (ConnectionError, asyncio.IncompleteReadError, OSError):
                    client_fault = _malformed(body)
                    if client_fault is not None:  # the request body was cut off for this
                        await self.refuse(client_fault.status, client_fault.reason)
                        return False
                    if body is None and reused and attempt == 1:
                        # The server closed a kept-alive connection as the request went out: again.
                        await self._drop_upstream()
                        continue
                    await self.refuse(502, f"{host}:{port} closed the connection without a response")
                    return False
                except MalformedMessage as exc:
                    await self.refuse(exc.status, exc.reason)
                    return False
                return await self._relay_response(head, response, upstream, body, client_keep_alive, upgrade)
            finally:
                await _cancel(body)
        return False  # pragma: no cover - the loop returns on its second attempt

    async def _response_head(self, upstream: _Upstream, method: str) -> ResponseHead:
        """The final response head; interim ``1xx`` heads (not ``101``) go to the client on the way."""
        while True:
            async with asyncio.timeout(self._proxy.response_timeout_s):
                raw = await read_head(upstream.reader)
            if raw is None:
                raise ConnectionResetError("the server closed the connection")
            response = parse_response_head(raw)
            if 100 <= response.status < 200 and response.status != 101:
                self._writer.write(response.raw)
                await self._writer.drain()
                continue
            return response

    async def _relay_response(
        self,
        head: RequestHead,
        response: ResponseHead,
        upstream: _Upstream,
        body: asyncio.Task[None] | None,
        client_keep_alive: bool,
        upgrade: bool,
    ) -> bool:
        if response.status == 101:
            if not upgrade:
                await self.refuse(502, "the server switched protocols unasked")
                return False
            self._writer.write(response.raw)
            await self._writer.drain()
            await _pipe(self._reader, self._writer, upstream.reader, upstream.writer)
            return False
        try:
            framing = response_framing(head.method, response.status, response.headers)
        except MalformedMessage as exc:
            await self.refuse(exc.status, exc.reason)
            return False
        keep_alive = client_keep_alive and framing.kind != "close"
        self._writer.write(render_response(response, framing, keep_alive=keep_alive, version=head.version))
        await copy_body(upstream.reader, self._writer, framing, status=502)
        if not keeps_alive(response.version, response.headers) or framing.kind == "close":
            await self._drop_upstream()
        if body is not None:
            # The request body normally ended before the response; if the server answered early,
            # what is left of it cannot be told from the client's next request: close.
            done, _ = await asyncio.wait({body}, timeout=1.0)
            if not done or body.cancelled() or body.exception() is not None:
                await self._drop_upstream()
                return False
        return keep_alive


def _abort_on_error(task: asyncio.Task[None], *, writer: asyncio.StreamWriter) -> None:
    if not task.cancelled() and task.exception() is not None:
        writer.transport.abort()


def _malformed(task: asyncio.Task[None] | None) -> MalformedMessage | None:
    if task is None or not task.done() or task.cancelled():
        return None
    error = task.exception()
    return error if isinstance(error, MalformedMessage) else None


async def _cancel(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    if not task.done():
        task.cancel()
    with contextlib.suppress(BaseException):
        await task


async def _close_writer(writer: asyncio.StreamWriter, *, abort: bool) -> None:
    if abort:
        writer.transport.abort()
        return
    if writer.is_closing():
        return
    writer.close()
    with contextlib.suppress(Exception, TimeoutError):
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await writer.wait_closed()


async def _close_gently(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Close a client connection so that an answer written just before reaches the client.

    Closing a socket with unread bytes from the peer (the rest of a refused request) resets the
    connection, and the client may lose the answer; so the proxy says it is done sending and
    reads what is left for a moment first.
    """
    if writer.is_closing():
        return
    with contextlib.suppress(Exception, TimeoutError):
        if writer.can_write_eof():
            writer.write_eof()
        async with asyncio.timeout(_LINGER_S):
            while await reader.read(CHUNK):
                pass
    await _close_writer(writer, abort=False)


async def _pipe(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    server_reader: asyncio.StreamReader,
    server_writer: asyncio.StreamWriter,
) -> None:
    """Copy bytes both ways until both directions end (or one ends and the other goes quiet)."""
    loop = asyncio.get_running_loop()
    half_closed = False
    timeouts: dict[asyncio.StreamReader, asyncio.Timeout] = {}

    async def one_way(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        async with asyncio.timeout(None) as timeout:
            timeouts[source] = timeout
            while data := await source.read(CHUNK):
                sink.write(data)
                await sink.drain()
                if half_closed:
                    timeout.reschedule(loop.time() + _HALF_CLOSE_GRACE_S)
            del timeouts[source]
        if sink.can_write_eof() and not sink.is_closing():
            sink.write_eof()

    upstream = asyncio.create_task(one_way(client_reader, server_writer))
    downstream = asyncio.create_task(one_way(server_reader, client_writer))
    try:
        done, pending = await asyncio.wait({upstream, downstream}, return_when=asyncio.FIRST_COMPLETED)
        if pending and all(task.exception() is None for task in done):
            # One side said all it had to say; the other gets a grace period after its last byte.
            half_closed = True
            for timeout in timeouts.values():
                timeout.reschedule(loop.time() + _HALF_CLOSE_GRACE_S)
            await asyncio.wait(pending)
    finally:
        for task in (upstream, downstream):
            await _cancel(task)
