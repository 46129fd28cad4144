"""The domain proxy refuses what it cannot parse: an error status, the connection closed, no crash.

A live proxy on 127.0.0.1 is sent malformed input over raw sockets; each time it must answer with
the right status, close that connection, reach no server, and keep serving other connections.
The parsing helpers are tested on their own too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from operator_agent.errors import ConfigurationError
from operator_agent.guardrails._http1 import (
    MAX_HEAD_BYTES,
    Framing,
    Headers,
    MalformedMessage,
    parse_authority,
    parse_request_head,
    parse_response_head,
    request_framing,
    response_framing,
)
from operator_agent.guardrails.proxy import PROXY_BYPASS, DomainProxy

TIMEOUT_S = 5.0


class Recorder:
    """What the proxy asked of it: hosts checked and refusals."""

    def __init__(self) -> None:
        self.checked: list[str] = []
        self.blocked: list[tuple[str, str]] = []

    def allows_host(self, host: str) -> bool:
        self.checked.append(host)
        return host == "127.0.0.1"

    def on_block(self, what: str, why: str) -> None:
        self.blocked.append((what, why))


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def proxy(recorder: Recorder) -> AsyncIterator[DomainProxy]:
    async with DomainProxy(
        allows_host=recorder.allows_host, on_block=recorder.on_block, idle_timeout_s=2
    ) as running:
        yield running


async def _exchange(proxy: DomainProxy, data: bytes) -> tuple[bytes, bool]:
    """Send ``data``; return everything the proxy answered and whether it then closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(TIMEOUT_S):
            answer = await reader.read()  # to the end: the proxy must close
        return answer, reader.at_eof()
    finally:
        writer.close()


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


MALFORMED = {
    "no version": (b"GET http://127.0.0.1:9/\r\n\r\n", 400),
    "extra space": (b"GET  http://127.0.0.1:9/ HTTP/1.1\r\n\r\n", 400),
    "space in target": (b"GET http://127.0.0.1:9/a b HTTP/1.1\r\n\r\n", 400),
    "bad method": (b"G(T http://127.0.0.1:9/ HTTP/1.1\r\n\r\n", 400),
    "HTTP/2": (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
    "origin form": (b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    "https in absolute form": (b"GET https://127.0.0.1:9/ HTTP/1.1\r\n\r\n", 400),
    "user information": (b"GET http://me@127.0.0.1:9/ HTTP/1.1\r\n\r\n", 400),
    "bad port": (b"GET http://127.0.0.1:99999/ HTTP/1.1\r\n\r\n", 400),
    "header without colon": (b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n", 400),
    "space before colon": (b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost : 127.0.0.1\r\n\r\n", 400),
    "folded header": (b"GET http://127.0.0.1:9/ HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n", 400),
    "bare LF in a value": (b"GET http://127.0.0.1:9/ HTTP/1.1\r\nX-A: 1\nX-B: 2\r\n\r\n", 400),
    "binary garbage": (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400),
    "letters in Content-Length": (b"POST http://127.0.0.1:9/ HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400),
    "negative Content-Length": (b"POST http://127.0.0.1:9/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
    "two Content-Lengths": (
        b"POST http://127.0.0.1:9/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
    ),
    "huge Content-Length": (
        b"POST http://127.0.0.1:9/ HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        400,
    ),
    "Content-Length and chunked": (
        b"POST http://127.0.0.1:9/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "gzip transfer coding": (b"POST http://127.0.0.1:9/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    "CONNECT without port": (b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n", 400),
    "CONNECT to a URL": (b"CONNECT http://127.0.0.1:443/ HTTP/1.1\r\n\r\n", 400),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_a_malformed_request_is_answered_and_its_connection_closed(
    proxy: DomainProxy, recorder: Recorder, case: str
) -> None:
    data, status = MALFORMED[case]
    answer, closed = await _exchange(proxy, data)

    assert _status(answer) == status, answer
    assert b"Connection: close" in answer
    assert closed
    assert recorder.checked == []  # refused before any host was considered
    assert recorder.blocked == []
    await _still_serving(proxy)


async def test_an_oversize_head_is_refused(proxy: DomainProxy, recorder: Recorder) -> None:
    data = b"GET http://127.0.0.1:9/ HTTP/1.1\r\nX-Big: " + b"a" * (MAX_HEAD_BYTES + 10) + b"\r\n\r\n"
    answer, closed = await _exchange(proxy, data)

    assert _status(answer) == 431
    assert closed
    assert recorder.checked == []
    await _still_serving(proxy)


async def test_too_many_header_fields_are_refused(proxy: DomainProxy) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % n for n in range(300))
    answer, closed = await _exchange(proxy, b"GET http://127.0.0.1:9/ HTTP/1.1\r\n" + fields + b"\r\n")

    assert _status(answer) == 431
    assert closed


async def test_a_head_cut_short_by_the_client_is_dropped(proxy: DomainProxy, recorder: Recorder) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"GET http://127.0.0.1:9/ HTTP/1.1\r\nHost: 127")
    writer.write_eof()
    async with asyncio.timeout(TIMEOUT_S):
        answer = await reader.read()
    writer.close()

    assert _status(answer) == 400
    assert recorder.checked == []
    await _still_serving(proxy)


async def test_a_silent_client_is_disconnected_after_the_idle_timeout(proxy: DomainProxy) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    async with asyncio.timeout(TIMEOUT_S):
        assert await reader.read() == b""
    writer.close()
    await _no_connections_left(proxy)


async def test_a_server_that_cannot_be_reached_gets_the_client_a_502(
    proxy: DomainProxy, recorder: Recorder
) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()

    answer, closed = await _exchange(proxy, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n".encode())

    assert _status(answer) == 502
    assert closed
    assert recorder.checked == ["127.0.0.1"]
    assert recorder.blocked == []


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (b"SSH-2.0-OpenSSH_9.2\r\n\r\n", b"malformed status line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: ten\r\n\r\n", b"invalid Content-Length"),
        (b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", b"folded header field"),
    ],
)
async def test_a_server_that_answers_garbage_gets_the_client_a_502(
    proxy: DomainProxy, answer: bytes, why: bytes
) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(garbage, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        relayed, closed = await _exchange(proxy, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n".encode())
    finally:
        server.close()

    assert _status(relayed) == 502
    assert why in relayed
    assert closed


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXY0\r\n\r\n", b"3;" + b"x" * 70000 + b"\r\n"],
    ids=["bad size", "no CRLF after data", "oversize size line"],
)
async def test_a_malformed_chunked_upload_is_answered_400(proxy: DomainProxy, body: bytes) -> None:
    received: list[bytes] = []

    async def patient(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())  # waits for the whole request, which never ends

    server = await asyncio.start_server(patient, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    head = f"POST http://127.0.0.1:{port}/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    try:
        answer, closed = await _exchange(proxy, head + body)
    finally:
        server.close()

    assert _status(answer) == 400
    assert closed


async def test_a_server_that_does_not_answer_in_time_gets_the_client_a_504(recorder: Recorder) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with DomainProxy(
            allows_host=recorder.allows_host, on_block=recorder.on_block, response_timeout_s=0.3
        ) as proxy:
            answer, closed = await _exchange(proxy, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n".encode())
    finally:
        server.close()

    assert _status(answer) == 504
    assert closed


async def test_connections_beyond_the_limit_are_answered_503(recorder: Recorder) -> None:
    async with DomainProxy(
        allows_host=recorder.allows_host, on_block=recorder.on_block, max_connections=1
    ) as proxy:
        _, first = await asyncio.open_connection("127.0.0.1", proxy.port)
        await asyncio.sleep(0.1)
        answer, closed = await _exchange(proxy, b"GET http://127.0.0.1:9/ HTTP/1.1\r\n\r\n")
        first.close()

    assert _status(answer) == 503
    assert closed
    assert recorder.checked == []


async def _no_connections_left(proxy: DomainProxy) -> None:
    for _ in range(int(TIMEOUT_S / 0.02)):
        if not proxy.connections:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{proxy.connections} connections still open")


async def _still_serving(proxy: DomainProxy) -> None:
    """The proxy answers the next client: the refusal did not take it down."""
    answer, _ = await _exchange(proxy, b"GET http://127.0.0.2:9/ HTTP/1.1\r\n\r\n")
    assert _status(answer) == 403


def test_the_proxy_settings_send_loopback_hosts_through_it() -> None:
    proxy = DomainProxy(allows_host=lambda host: True, on_block=lambda what, why: None)
    with pytest.raises(Exception, match="not listening"):
        proxy.settings()
    assert PROXY_BYPASS == "<-loopback>"


@pytest.mark.parametrize(
    "option",
    [
        {"connect_timeout_s": 0},
        {"idle_timeout_s": -1},
        {"response_timeout_s": float("nan")},
        {"max_connections": 0},
    ],
)
def test_options_out_of_range_are_refused(option: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match=next(iter(option))):
        DomainProxy(allows_host=lambda host: True, on_block=lambda what, why: None, **option)


async def test_a_closed_proxy_cannot_start_again() -> None:
    proxy = DomainProxy(allows_host=lambda host: True, on_block=lambda what, why: None)
    await proxy.start()
    assert proxy.settings() == {"server": f"http://127.0.0.1:{proxy.port}", "bypass": "<-loopback>"}
    await proxy.close()
    await proxy.close()  # idempotent
    with pytest.raises(Exception, match="closed"):
        await proxy.start()


# -- the parsing helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authority", "default", "expected"),
    [
        ("Example.COM:8443", None, ("example.com", 8443)),
        ("example.com", 80, ("example.com", 80)),
        ("[::1]:443", None, ("::1", 443)),
        ("[2001:DB8::1]", 80, ("2001:db8::1", 80)),
        ("127.0.0.1:65535", None, ("127.0.0.1", 65535)),
    ],
)
def test_authorities_are_split_into_host_and_port(
    authority: str, default: int | None, expected: tuple[str, int]
) -> None:
    assert parse_authority(authority, default_port=default) == expected


@pytest.mark.parametrize(
    "authority",
    [
        "",
        ":443",
        "host:",
        "host:0",
        "host:65536",
        "host:+1",
        "::1:443",
        "[::1",
        "[::1]x",
        "[]:443",
        "a b:1",
        "h/x:1",
    ],
)
def test_malformed_authorities_are_refused(authority: str) -> None:
    with pytest.raises(MalformedMessage) as caught:
        parse_authority(authority, default_port=443)
    assert caught.value.status == 400


def test_a_request_head_keeps_field_order_and_tolerates_one_leading_empty_line() -> None:
    head = parse_request_head(b"\r\nPOST http://h/x HTTP/1.0\r\nB: 2\r\nA:1\r\nB: 3 \r\n\r\n")
    assert (head.method, head.target, head.version) == ("POST", "http://h/x", "HTTP/1.0")
    assert head.headers.fields == (("B", "2"), ("A", "1"), ("B", "3"))
    assert head.headers.get_all("b") == ["2", "3"]


def test_a_response_head_is_parsed_and_a_bad_one_is_a_502() -> None:
    response = parse_response_head(b"HTTP/1.0 204\r\nX: y\r\n\r\n")
    assert (response.version, response.status, response.reason) == ("HTTP/1.0", 204, "")
    with pytest.raises(MalformedMessage) as caught:
        parse_response_head(b"HTTP/1.1 20 OK\r\n\r\n")
    assert caught.value.status == 502


def _headers(*fields: tuple[str, str]) -> Headers:
    return Headers(fields)


def test_request_framing() -> None:
    assert request_framing(_headers()) == Framing("none")
    assert request_framing(_headers(("Content-Length", "0"))) == Framing("none")
    assert request_framing(_headers(("content-length", "12"), ("Content-Length", "12"))) == Framing(
        "length", 12
    )
    assert request_framing(_headers(("Transfer-Encoding", "Chunked"))) == Framing("chunked")
    with pytest.raises(MalformedMessage):
        request_framing(_headers(("Transfer-Encoding", "gzip, chunked")))
    with pytest.raises(MalformedMessage):
        request_framing(_headers(("Content-Length", "1, 2")))
    with pytest.raises(MalformedMessage):
        request_framing(_headers(("Content-Length", "²")))  # a digit to Python, not to HTTP


def test_response_framing() -> None:
    chunked = _headers(("Transfer-Encoding", "gzip, chunked"), ("Content-Length", "9"))
    assert response_framing("GET", 200, chunked) == Framing("chunked")
    assert response_framing("HEAD", 200, _headers(("Content-Length", "9"))) == Framing("none")
    assert response_framing("GET", 304, _headers(("Content-Length", "9"))) == Framing("none")
    assert response_framing("GET", 204, _headers()) == Framing("none")
    assert response_framing("GET", 200, _headers(("Content-Length", "9"))) == Framing("length", 9)
    assert response_framing("GET", 200, _headers(("Transfer-Encoding", "gzip"))) == Framing("close")
    assert response_framing("GET", 200, _headers()) == Framing("close")
    with pytest.raises(MalformedMessage) as caught:
        response_framing("GET", 200, _headers(("Content-Length", "x")))
    assert caught.value.status == 502
