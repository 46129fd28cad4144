"""Connections a page can ask for without a request: resource hints and speculative loads.

In a profile that keeps data, ``<link rel=preconnect>`` and pressing a link make Chromium open a
connection to the host ahead of any request (seen with Chromium 156; ``--dns-prefetch-disable``
does not stop it). A run's context is an off-the-record one, where Chromium opens none.
Speculation rules make the browser itself fetch a URL, outside Playwright's routing and the
DevTools interception: without the allowlist's proxy the prefetch reaches any host. In a context
created with the proxy, Chromium does not prefetch another site at all (its preloading status is
``PrefetchNotEligibleExistingProxy``), nor follow a prefetch's redirect to another site
(``PrefetchFailedIneligibleRedirect``); whatever it did send would go through the proxy.

The disallowed host is a bare TCP listener on ``127.0.0.2`` that counts the connections it accepts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from operator_agent.browser import BrowserSession, RunContext
from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.testing.site_server import LocalServer
from tests.browser.domain_servers import Listener


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    other = Listener()
    yield other
    other.close()


@pytest.fixture(scope="module")
def site(listener: Listener) -> Iterator[LocalServer]:
    pages = {
        "/hints": f"""
            <link rel=preconnect href="{listener.url}">
            <a id=leave href="{listener.url}/next">next</a>""",
        "/speculation": f"""<script type=speculationrules>
            {{"prefetch": [{{"source": "list", "urls": ["{listener.url}/prefetched"]}}]}}
            </script>""",
        "/speculation-redirect": """<script type=speculationrules>
            {"prefetch": [{"source": "list", "urls": ["/out"]}]}
            </script>""",
        "/prerender": f"""<script type=speculationrules>
            {{"prerender": [{{"source": "list", "urls": ["{listener.url}/prerendered"]}}]}}
            </script>""",
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/out":
                self.send_response(302)
                self.send_header("Location", f"{listener.url}/redirected")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = pages.get(self.path, "not found").encode()
            self.send_response(200 if self.path in pages else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    with LocalServer(handler=Handler) as server:
        yield server


async def test_resource_hints_and_pressing_a_link_open_no_connection(
    run_context: RunContext, site: LocalServer, listener: Listener
) -> None:
    allow = DomainAllowlist.of(["127.0.0.1"])
    await allow.install(run_context.context)
    page = run_context.page
    before = len(listener.connections)
    await page.goto(site.url + "/hints")
    # Hovering and pressing a link is when Chromium preconnects to its host; let go elsewhere.
    await page.hover("#leave")
    await page.mouse.down()
    await asyncio.sleep(0.5)
    await page.mouse.move(0, 0)
    await page.mouse.up()
    await asyncio.sleep(1.0)

    assert listener.connections[before:] == []


@pytest.mark.parametrize("path", ["/speculation", "/speculation-redirect", "/prerender"])
async def test_a_speculation_rules_prefetch_does_not_reach_another_host(
    browser_session: BrowserSession, site: LocalServer, listener: Listener, path: str
) -> None:
    allow = DomainAllowlist.of(["127.0.0.1"])
    async with await browser_session.new_context(allowlist=allow) as run_context:
        before = len(listener.connections)
        await run_context.page.goto(site.url + path)
        await asyncio.sleep(1.5)

        assert listener.connections[before:] == []


async def test_without_the_proxy_a_prefetch_reaches_another_host(
    run_context: RunContext, site: LocalServer, listener: Listener
) -> None:
    # What the test above guards against: routing and the DevTools interception alone do not
    # see the browser's prefetches, of another site or redirected to one.
    allow = DomainAllowlist.of(["127.0.0.1"])
    await allow.install(run_context.context)
    for path in ("/speculation", "/speculation-redirect"):
        before = len(listener.connections)
        await run_context.page.goto(site.url + path)
        for _ in range(40):
            if listener.connections[before:]:
                break
            await asyncio.sleep(0.05)
        assert len(listener.connections[before:]) == 1, path
    assert allow.take_blocked() == []
