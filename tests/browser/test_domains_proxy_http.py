"""The domain allowlist's proxy speaking HTTP, driven with raw sockets (no browser).

Keep-alive connections whose requests go to several hosts, request and response bodies streamed
through (Content-Length, chunked, until close), tunnels for CONNECT and for web socket upgrades,
refusals before any connection, and a shutdown that ends every connection. The servers are
asyncio HTTP/1.1 servers on ``127.0.0.1`` (allowed, also as ``localhost``) and ``127.0.0.2``
(not allowed), each recording what it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest

from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.guardrails.proxy import DomainProxy
from tests.browser.domain_servers import Listener

TIMEOUT_S = 5.0


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Origin:
    """An HTTP/1.1 server with keep-alive; what it answers depends on the path (see ``_answer``)."""

    host: str
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    connections: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    first_chunk_in: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    async def start(self) -> Origin:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")[:-2]
                method, target, _ = lines[0].split(" ")
                headers = {
                    k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])
                }
                body = await self._body(reader, headers, target)
                self.requests.append(Received(method, target, headers, body))
                if not await self._answer(reader, writer, target, body):
                    break
        writer.close()

    async def _body(self, reader: asyncio.StreamReader, headers: dict[str, str], target: str) -> bytes:
        if "content-length" in headers:
            return await reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding") != "chunked":
            return b""
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
            self.first_chunk_in.set()
        await reader.readuntil(b"\r\n")  # no trailers
        return body

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str, body: bytes
    ) -> bool:
        """Write the response; whether the connection stays open."""
        if target == "/stream":  # one chunk now, the next once released
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
            await writer.drain()
            await self.release.wait()
            writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
            await writer.drain()
            return True
        if target == "/ws":  # switch protocols, then echo until the client leaves
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
            )
            while data := await reader.read(1024):
                writer.write(b"echo:" + data)
            return False
        if target == "/until-close":  # an HTTP/1.0-style body that ends when the connection does
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it")
            await writer.drain()
            return False
        if target == "/then-hang-up":  # keeps alive by protocol, then closes while idle
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbye")
            await writer.drain()
            return False
        text = f"{self.host} {target} {len(body)}".encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nKeep-Alive: timeout=5\r\n\r\n%s" % (len(text), text)
        )
        await writer.drain()
        return True


@dataclass
class Setup:
    proxy: DomainProxy
    allow: DomainAllowlist
    ok: Origin
    second: Origin  # also allowed, reached as localhost
    bad: Origin

    async def client(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.proxy.port)


@pytest.fixture
async def setup() -> AsyncIterator[Setup]:
    ok, second, bad = Origin("127.0.0.1"), Origin("127.0.0.1"), Origin("127.0.0.2")
    for origin in (ok, second, bad):
        await origin.start()
    allow = DomainAllowlist.of(["127.0.0.1", "localhost"])
    async with allow.proxy() as proxy:
        yield Setup(proxy, allow, ok, second, bad)
    for origin in (ok, second, bad):
        await origin.stop()


@pytest.fixture
def listener() -> Iterator[Listener]:
    other = Listener()
    yield other
    other.close()


async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    """Read one response with a Content-Length body, or a body that ends with the connection."""
    async with asyncio.timeout(TIMEOUT_S):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")[:-2]
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body = await reader.read()
    return int(lines[0].split(" ")[1]), headers, body


async def _closed(reader: asyncio.StreamReader) -> bool:
    async with asyncio.timeout(TIMEOUT_S):
        return await reader.read() == b""


async def test_requests_to_several_hosts_share_one_client_connection_and_another_host_is_refused(
    setup: Setup,
) -> None:
    reader, writer = await setup.client()
    targets = [
        f"{setup.ok.url}/a",
        f"http://localhost:{setup.second.port}/b?x=1",
        f"{setup.ok.url}/c",
    ]
    for target in targets:
        writer.write(
            f"GET {target} HTTP/1.1\r\nHost: wrong.example\r\nProxy-Connection: keep-alive\r\n\r\n".encode()
        )
        status, headers, body = await _response(reader)
        assert status == 200
        assert "keep-alive" not in headers  # hop-by-hop fields stay on their hop
        assert body.endswith(b" 0")
    writer.write(f"GET {setup.bad.url}/secret?d=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, headers, body = await _response(reader)

    assert status == 403
    assert headers["connection"] == "close"
    assert b"127.0.0.2 is not among the allowed domains" in body
    assert await _closed(reader)
    assert setup.bad.requests == []
    assert setup.bad.connections == 0
    assert setup.allow.take_blocked() == [f"{setup.bad.url}/secret?d=1"]
    # Forwarded in origin form, with the Host of the URL, without the proxy's own fields.
    assert [r.target for r in setup.ok.requests] == ["/a", "/c"]
    assert [r.headers["host"] for r in setup.ok.requests] == [f"127.0.0.1:{setup.ok.port}"] * 2
    assert all("proxy-connection" not in r.headers for r in setup.ok.requests)
    assert [r.target for r in setup.second.requests] == ["/b?x=1"]
    assert setup.second.requests[0].headers["host"] == f"localhost:{setup.second.port}"
    assert setup.ok.connections == 2  # a new server connection each time the host changed


async def test_request_bodies_are_forwarded_whole_and_chunked_uploads_as_they_come(setup: Setup) -> None:
    reader, writer = await setup.client()
    writer.write(
        f"POST {setup.ok.url}/form HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nname=Ada&x=".encode()
    )
    assert (await _response(reader))[2] == b"127.0.0.1 /form 11"

    writer.write(
        f"POST {setup.ok.url}/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        + b"5\r\nfirst\r\n"
    )
    await writer.drain()
    # The server has the first chunk before the client sends the rest: nothing waits for the end.
    async with asyncio.timeout(TIMEOUT_S):
        await setup.ok.first_chunk_in.wait()
    writer.write(b"7\r\n, then \r\n4\r\nmore\r\n0\r\n\r\n")
    status, _, body = await _response(reader)

    assert (status, body) == (200, b"127.0.0.1 /upload 16")
    assert [r.body for r in setup.ok.requests] == [b"name=Ada&x=", b"first, then more"]
    assert setup.ok.requests[1].headers["transfer-encoding"] == "chunked"
    assert setup.ok.connections == 1


async def test_a_streaming_response_is_passed_on_as_it_arrives(setup: Setup) -> None:
    reader, writer = await setup.client()
    writer.write(f"GET {setup.ok.url}/stream HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    async with asyncio.timeout(TIMEOUT_S):
        head = await reader.readuntil(b"\r\n\r\n")
        first = await reader.readuntil(b"first\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert first == b"5\r\nfirst\r\n"  # before the server has sent the rest

    setup.ok.release.set()
    async with asyncio.timeout(TIMEOUT_S):
        rest = await reader.readuntil(b"0\r\n\r\n")
    assert rest == b"6\r\nsecond\r\n0\r\n\r\n"
    # The connection is still usable.
    writer.write(f"GET {setup.ok.url}/after HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert (await _response(reader))[2] == b"127.0.0.1 /after 0"


async def test_a_body_that_ends_with_the_connection_closes_the_client_connection(setup: Setup) -> None:
    reader, writer = await setup.client()
    writer.write(f"GET {setup.ok.url}/until-close HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    status, headers, body = await _response(reader)

    assert (status, body) == (200, b"all of it")
    assert headers["connection"] == "close"


async def test_a_server_that_hangs_up_between_requests_is_reconnected(setup: Setup) -> None:
    reader, writer = await setup.client()
    writer.write(f"GET {setup.ok.url}/then-hang-up HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert (await _response(reader))[2] == b"bye"
    await asyncio.sleep(0.1)
    writer.write(f"GET {setup.ok.url}/next HTTP/1.1\r\nHost: x\r\n\r\n".encode())

    assert (await _response(reader))[:3:2] == (200, b"127.0.0.1 /next 0")
    assert setup.ok.connections == 2


async def test_a_web_socket_upgrade_becomes_a_tunnel(setup: Setup) -> None:
    reader, writer = await setup.client()
    writer.write(
        f"GET {setup.ok.url}/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n".encode()
    )
    async with asyncio.timeout(TIMEOUT_S):
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"hello")
        echo = await reader.readexactly(10)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert echo == b"echo:hello"
    assert setup.ok.requests[0].headers["upgrade"] == "websocket"
    assert setup.ok.requests[0].headers["connection"] == "Upgrade"


async def test_connect_to_an_allowed_host_is_tunnelled(setup: Setup) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await setup.client()
        writer.write(f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        async with asyncio.timeout(TIMEOUT_S):
            assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 200 Connection Established\r\n\r\n"
            writer.write(b"\x16\x03\x01 any bytes at all")
            assert await reader.readexactly(20) == b"\x16\x03\x01 any bytes at all"
            writer.write_eof()  # the echo server ends, and the tunnel with it
            assert await reader.read() == b""
        assert setup.allow.take_blocked() == []
    finally:
        server.close()


@pytest.mark.parametrize("host", ["127.0.0.2", "does-not-exist.invalid"])
async def test_connect_to_another_host_is_refused_before_any_connection(
    setup: Setup, listener: Listener, host: str
) -> None:
    # A name that does not resolve is refused all the same (403, not 502): no look-up comes first.
    reader, writer = await setup.client()
    writer.write(f"CONNECT {host}:{listener.port} HTTP/1.1\r\nHost: {host}:{listener.port}\r\n\r\n".encode())
    status, _, body = await _response(reader)

    assert status == 403
    assert f"{host} is not among the allowed domains".encode() in body
    assert await _closed(reader)
    await asyncio.sleep(0.3)
    assert listener.connections == []
    assert setup.allow.take_blocked() == [f"{host}:{listener.port}"]


async def test_closing_the_proxy_ends_every_connection_and_frees_its_port(setup: Setup) -> None:
    tunnel_reader, tunnel_writer = await setup.client()
    tunnel_writer.write(
        f"GET {setup.ok.url}/ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n".encode()
    )
    idle_reader, _ = await setup.client()
    async with asyncio.timeout(TIMEOUT_S):
        await tunnel_reader.readuntil(b"\r\n\r\n")
    assert setup.proxy.connections == 2

    await setup.proxy.close()

    assert setup.proxy.connections == 0
    assert await _closed(tunnel_reader)
    assert await _closed(idle_reader)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", setup.proxy.port)):
        pass
