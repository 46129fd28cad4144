"""HTTP/1.x message heads and body framing, as far as the domain proxy needs them.

A forwarding proxy must know where each message ends to keep a connection usable for the next
one, and must never guess: a head it cannot parse, a ``Content-Length`` that is not one decimal
number, a request with both ``Content-Length`` and ``Transfer-Encoding`` (the usual way to
smuggle a second request past a proxy) are refused with :class:`MalformedMessage`, and the
connection is closed. Bodies are copied piece by piece as they arrive (at most :data:`CHUNK`
bytes at a time, waiting for the receiver to keep up), so streaming responses and uploads pass
through without being held whole. Heads are passed on rewritten for the next hop: the fields that
describe one connection stay on it, and a request goes to its server in origin form.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "CHUNK",
    "MAX_HEAD_BYTES",
    "Framing",
    "Headers",
    "MalformedMessage",
    "RequestHead",
    "ResponseHead",
    "absolute_target",
    "copy_body",
    "error_response",
    "keeps_alive",
    "parse_authority",
    "parse_request_head",
    "parse_response_head",
    "read_head",
    "render_request",
    "render_response",
    "request_framing",
    "response_framing",
]

MAX_HEAD_BYTES: Final = 64 * 1024
"""The largest message head accepted (request or status line and every header field)."""

CHUNK: Final = 64 * 1024
"""The most bytes read from one side before they are written to the other."""

_MAX_FIELDS: Final = 256
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION: Final = re.compile(rb"HTTP/1\.[01]")
_TARGET: Final = re.compile(rb"[\x21-\x7e]+")
_DIGITS: Final = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE: Final = re.compile(rb"[0-9A-Fa-f]{1,15}")
_STATUS: Final = re.compile(rb"(HTTP/1\.[01]) ([0-9]{3})(?: ([\x09\x20-\x7e\x80-\xff]*))?")
_HOST: Final = re.compile(r"[a-z0-9._~!$&'()*+,;=%-]+")
_IPV6: Final = re.compile(r"[0-9a-f:.]+")
_BAD_VALUE_BYTES: Final = re.compile(rb"[\x00\r\n]")
_REASONS: Final = {
    400: "Bad Request",
    403: "Forbidden",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}
# Fields that describe one connection, not the message: never passed from one hop to the next.
_HOP_BY_HOP: Final = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
        "te",
        "upgrade",
    }
)
_ABSOLUTE: Final = re.compile(r"(?i)(http|ws)://([^/?#]*)([^#]*)(?:#.*)?")


class MalformedMessage(Exception):
    """A message the proxy will not forward; ``status`` is the HTTP status to answer with.

    Never leaves the proxy: it becomes a short error response and the connection is closed.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class Headers:
    """Header fields in the order received, names as sent; look-ups ignore case."""

    fields: tuple[tuple[str, str], ...]

    def get_all(self, name: str) -> list[str]:
        """Every value of the field ``name``."""
        wanted = name.lower()
        return [value for key, value in self.fields if key.lower() == wanted]

    def tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of every ``name`` field, lower-cased (``Connection``, ...)."""
        return [
            token.strip().lower()
            for value in self.get_all(name)
            for token in value.split(",")
            if token.strip()
        ]

    def without(self, names: Iterable[str]) -> list[tuple[str, str]]:
        """The fields whose name is not in ``names`` (compared without case)."""
        dropped = {name.lower() for name in names}
        return [(key, value) for key, value in self.fields if key.lower() not in dropped]


@dataclass(frozen=True)
class RequestHead:
    """A parsed request line and its header fields."""

    method: str
    target: str
    version: str
    headers: Headers


@dataclass(frozen=True)
class ResponseHead:
    """A parsed status line and its header fields; ``raw`` is the head exactly as received."""

    version: str
    status: int
    reason: str
    headers: Headers
    raw: bytes


@dataclass(frozen=True)
class Framing:
    """How a message body ends: not at all, after ``length`` bytes, chunked, or at connection close."""

    kind: Literal["none", "length", "chunked", "close"]
    length: int = 0


async def read_head(reader: asyncio.StreamReader) -> bytes | None:
    """Read one message head, up to and including its empty line.

    The reader's buffer limit must be :data:`MAX_HEAD_BYTES`: a head that does not end within it
    is refused.

    Returns:
        The head, or ``None`` when the connection ended cleanly before a new message began.

    Raises:
        MalformedMessage: The head is too large, or the connection ended in the middle of it.
    """
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip(b"\r\n"):
            return None
        raise MalformedMessage(400, "the connection ended in the middle of a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise MalformedMessage(431, f"message head larger than {MAX_HEAD_BYTES} bytes") from exc


def _parse_fields(lines: list[bytes]) -> Headers:
    if len(lines) > _MAX_FIELDS:
        raise MalformedMessage(431, f"more than {_MAX_FIELDS} header fields")
    fields: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise MalformedMessage(400, "folded header field (obsolete line folding)")
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise MalformedMessage(400, f"malformed header field {line[:80]!r}")
        value = value.strip(b" \t")
        if _BAD_VALUE_BYTES.search(value):
            raise MalformedMessage(400, f"control character in header field {name[:80]!r}")
        fields.append((name.decode("ascii"), value.decode("latin-1")))
    return Headers(tuple(fields))


def parse_request_head(raw: bytes) -> RequestHead:
    """Parse a request head read by :func:`read_head` (one leading empty line is tolerated).

    Raises:
        MalformedMessage: The request line or a header field is malformed, or the version is not
            HTTP/1.0 or HTTP/1.1.
    """
    lines = raw.removeprefix(b"\r\n").removesuffix(b"\r\n\r\n").split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise MalformedMessage(400, f"malformed request line {lines[0][:120]!r}")
    method, target, version = parts
    if not _TOKEN.fullmatch(method):
        raise MalformedMessage(400, f"malformed method {method[:40]!r}")
    if not _TARGET.fullmatch(target):
        raise MalformedMessage(400, f"malformed request target {target[:120]!r}")
    if not _VERSION.fullmatch(version):
        raise MalformedMessage(505, f"unsupported protocol version {version[:20]!r}")
    return RequestHead(
        method=method.decode("ascii"),
        target=target.decode("ascii"),
        version=version.decode("ascii"),
        headers=_parse_fields(lines[1:]),
    )


def parse_response_head(raw: bytes) -> ResponseHead:
    """Parse a response head read by :func:`read_head`.

    Raises:
        MalformedMessage: The status line or a header field is malformed (status 502).
    """
    lines = raw.removesuffix(b"\r\n\r\n").split(b"\r\n")
    match = _STATUS.fullmatch(lines[0])
    if match is None:
        raise MalformedMessage(502, f"malformed status line from the server: {lines[0][:120]!r}")
    try:
        headers = _parse_fields(lines[1:])
    except MalformedMessage as exc:
        raise MalformedMessage(502, f"from the server: {exc.reason}") from exc
    return ResponseHead(
        version=match.group(1).decode("ascii"),
        status=int(match.group(2)),
        reason=(match.group(3) or b"").decode("latin-1"),
        headers=headers,
        raw=raw,
    )


def _content_length(values: list[str], *, status: int) -> int:
    found = {part.strip() for value in values for part in value.split(",")}
    if len(found) != 1 or not _DIGITS.fullmatch(next(iter(found))):
        raise MalformedMessage(status, f"invalid Content-Length {', '.join(values)[:80]!r}")
    return int(next(iter(found)))


def request_framing(headers: Headers) -> Framing:
    """Where a request body ends.

    Raises:
        MalformedMessage: ``Content-Length`` is not one decimal number (400), both it and
            ``Transfer-Encoding`` are present (400), or the transfer coding is not exactly
            ``chunked`` (501).
    """
    lengths = headers.get_all("content-length")
    codings = headers.tokens("transfer-encoding")
    if headers.get_all("transfer-encoding"):
        if lengths:
            raise MalformedMessage(400, "request has both Content-Length and Transfer-Encoding")
        if codings != ["chunked"]:
            raise MalformedMessage(501, f"unsupported request transfer coding {', '.join(codings)!r}")
        return Framing("chunked")
    if lengths:
        length = _content_length(lengths, status=400)
        return Framing("length", length) if length else Framing("none")
    return Framing("none")


def response_framing(method: str, status: int, headers: Headers) -> Framing:
    """Where a response body ends (RFC 9112, section 6.3).

    Raises:
        MalformedMessage: The response's ``Content-Length`` is invalid (502).
    """
    if method == "HEAD" or 100 <= status < 200 or status in (204, 304):
        return Framing("none")
    if headers.get_all("transfer-encoding"):
        codings = headers.tokens("transfer-encoding")
        return Framing("chunked") if codings and codings[-1] == "chunked" else Framing("close")
    lengths = headers.get_all("content-length")
    if lengths:
        length = _content_length(lengths, status=502)
        return Framing("length", length) if length else Framing("none")
    return Framing("close")


def parse_authority(authority: str, *, default_port: int | None) -> tuple[str, int]:
    """Split ``host[:port]`` (IPv6 hosts in brackets) into a lower-case host and a port.

    Raises:
        MalformedMessage: The authority is malformed, or has no port and ``default_port`` is None.
    """
    text = authority.lower()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not _IPV6.fullmatch(host) or ":" not in host:
            raise MalformedMessage(400, f"malformed host {authority[:120]!r}")
        if rest and not rest.startswith(":"):
            raise MalformedMessage(400, f"malformed authority {authority[:120]!r}")
        port_text = rest[1:] if rest else ""
    else:
        host, colon, port_text = text.rpartition(":") if ":" in text else (text, "", "")
        if not _HOST.fullmatch(host) or (colon and not port_text):
            raise MalformedMessage(400, f"malformed authority {authority[:120]!r}")
    if not port_text:
        if default_port is None:
            raise MalformedMessage(400, f"authority {authority[:120]!r} has no port")
        return host, default_port
    if not _DIGITS.fullmatch(port_text) or not 0 < int(port_text) < 65536:
        raise MalformedMessage(400, f"invalid port in {authority[:120]!r}")
    return host, int(port_text)


async def _copy_exact(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, size: int) -> None:
    while size:
        data = await reader.read(min(size, CHUNK))
        if not data:
            raise asyncio.IncompleteReadError(b"", size)
        writer.write(data)
        await writer.drain()
        size -= len(data)


async def _read_line(reader: asyncio.StreamReader, what: str, status: int) -> bytes:
    try:
        return await reader.readuntil(b"\r\n")
    except asyncio.LimitOverrunError as exc:
        raise MalformedMessage(status, f"{what} longer than {MAX_HEAD_BYTES} bytes") from exc


async def _copy_chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, status: int) -> None:
    while True:
        line = await _read_line(reader, "chunk size line", status)
        size_text = line[:-2].split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise MalformedMessage(status, f"malformed chunk size {line[:40]!r}")
        size = int(size_text, 16)
        writer.write(line)
        if size == 0:
            break
        await _copy_exact(reader, writer, size)
        if await reader.readexactly(2) != b"\r\n":
            raise MalformedMessage(status, "chunk data not followed by CRLF")
        writer.write(b"\r\n")
    for _ in range(_MAX_FIELDS + 1):
        line = await _read_line(reader, "trailer field", status)
        writer.write(line)
        if line == b"\r\n":
            await writer.drain()
            return
    raise MalformedMessage(status, f"more than {_MAX_FIELDS} trailer fields")


async def copy_body(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, framing: Framing, *, status: int
) -> None:
    """Copy one message body from ``reader`` to ``writer`` as it arrives, framing included.

    Args:
        reader: Where the body comes from.
        writer: Where it goes.
        framing: How the body ends.
        status: The status to report a malformed body with (400 for requests, 502 for responses).

    Raises:
        MalformedMessage: The chunked framing is malformed.
        asyncio.IncompleteReadError: The connection ended before the body did.
    """
    if framing.kind == "length":
        await _copy_exact(reader, writer, framing.length)
    elif framing.kind == "chunked":
        await _copy_chunked(reader, writer, status=status)
    elif framing.kind == "close":
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()


def absolute_target(target: str) -> tuple[str, str, int, str, str]:
    """``(scheme, host, port, authority, origin_form)`` of an absolute-form request target.

    Raises:
        MalformedMessage: The target is not an ``http://`` (or ``ws://``) URL with a valid
            authority and no user information (400).
    """
    match = _ABSOLUTE.fullmatch(target)
    if match is None:
        raise MalformedMessage(400, f"request target must be an absolute http:// URL, got {target[:120]!r}")
    scheme, authority, rest = match.group(1).lower(), match.group(2), match.group(3)
    if "@" in authority:
        raise MalformedMessage(400, "request target with user information")
    host, port = parse_authority(authority, default_port=80)
    origin_form = rest if rest.startswith("/") else "/" + rest
    return scheme, host, port, authority, origin_form


def keeps_alive(version: str, headers: Headers) -> bool:
    """Whether the sender of a message with this version and these fields keeps its connection."""
    tokens = headers.tokens("connection")
    if version == "HTTP/1.0":
        return "keep-alive" in tokens and "close" not in tokens
    return "close" not in tokens


def _hop_by_hop(headers: Headers) -> set[str]:
    return set(_HOP_BY_HOP) | set(headers.tokens("connection"))


def render_request(
    head: RequestHead, authority: str, origin_form: str, *, keep_alive: bool, upgrade: bool
) -> bytes:
    """The head of ``head`` as the proxy forwards it: origin form, ``Host`` of the URL, no hop fields.

    Args:
        head: The request as the client sent it.
        authority: The URL's ``host[:port]``, for the ``Host`` field.
        origin_form: The URL's path and query.
        keep_alive: Whether the client keeps its connection (else the server is told to close).
        upgrade: Whether the request asks to switch protocols (its ``Upgrade`` is passed on).
    """
    fields = head.headers.without(_hop_by_hop(head.headers) | {"host"})
    lines = [f"{head.method} {origin_form} {head.version}", f"Host: {authority}"]
    lines += [f"{name}: {value}" for name, value in fields]
    if upgrade:
        lines += [f"Upgrade: {value}" for value in head.headers.get_all("upgrade")]
        lines.append("Connection: Upgrade")
    elif not keep_alive:
        lines.append("Connection: close")
    elif head.version == "HTTP/1.0":
        lines.append("Connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def render_response(response: ResponseHead, framing: Framing, *, keep_alive: bool, version: str) -> bytes:
    """The head of ``response`` as the proxy passes it to a client speaking ``version``.

    The server's connection fields are dropped; the proxy's own say whether the client's
    connection stays open after the body.
    """
    dropped = _hop_by_hop(response.headers)
    if framing.kind == "chunked":
        dropped.add("content-length")  # Transfer-Encoding wins; never pass both on
    # A proxy speaks its own protocol version on each hop: an HTTP/1.0 server's status line
    # would make the browser close a connection the proxy keeps alive.
    status_line = f"{version} {response.status} {response.reason}"
    lines = [status_line] + [f"{name}: {value}" for name, value in response.headers.without(dropped)]
    if not keep_alive:
        lines.append("Connection: close")
    elif version == "HTTP/1.0":
        lines.append("Connection: keep-alive")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def error_response(status: int, reason: str) -> bytes:
    """A whole response the proxy answers itself with: ``status``, ``reason`` as text, then close."""
    body = f"operator-agent domain proxy: {reason}\n".encode("utf-8", "replace")
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        # A refused navigation shows this text; it must not load anything (not even a favicon).
        "Content-Security-Policy: default-src 'none'\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body
