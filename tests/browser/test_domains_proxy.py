"""The domain allowlist's proxy: the network floor under routing and the DevTools interception.

A context opened with ``BrowserSession.new_context(allowlist=...)`` makes every connection
through the allowlist's :class:`DomainProxy`, whatever starts it. These tests cover what the two
other layers do not see, with real Chromium: a dedicated worker's web socket, the redirect hops of
a page navigated as soon as it opens and of a popup upload form's first load, the context's own
request API, WebRTC and WebTransport. Every test asserts that the disallowed host (on
``127.0.0.2``) received nothing, and that the refusal was recorded for the model.
The proxy's HTTP handling itself (keep-alive, tunnels, streaming) is tested with raw sockets in
``test_domains_proxy_http.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Error as PlaywrightError

from operator_agent.agent import Agent
from operator_agent.browser import BrowserSession
from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.guardrails.proxy import DomainProxy
from operator_agent.models import ModelRequest, ScriptedModel, tool_call
from operator_agent.testing.outline import find_ref
from operator_agent.testing.site_server import LocalServer
from operator_agent.trace import StepRecord, read_trace
from tests.browser.domain_servers import (
    Hits,
    Listener,
    TwoSites,
    UdpListener,
    eventually,
    recording_handler,
    socket_handler,
)

UPLOADER = """
<form method=post enctype=multipart/form-data action="/chain?code=307" target=_blank>
  <input name=note value=secret-note><input type=file name=doc><button>upload</button></form>
"""


class Sites(TwoSites):
    def respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        code = parse_qs(parts.query).get("code", ["302"])[0]
        if parts.path == "/chain":  # allowed -> allowed -> disallowed
            return int(code), {"Location": f"/chain2?code={code}"}, b""
        if parts.path == "/chain2":
            return int(code), {"Location": f"{self.bad.url}/end"}, b""
        if parts.path == "/uploader":
            return 200, {}, UPLOADER.encode()
        if parts.path == "/page":
            return 200, {}, b"<h1>Allowed page</h1>"
        return 404, {}, b"not found"


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    with Sites() as s:
        yield s


async def test_loopback_hosts_go_through_the_proxy(browser_session: BrowserSession, sites: Sites) -> None:
    # Chromium leaves loopback hosts out of a proxy unless told; the proxy's settings tell it.
    seen: list[str] = []

    def allows_host(host: str) -> bool:
        seen.append(host)
        return True

    async with DomainProxy(allows_host=allows_host, on_block=lambda url, why: None) as proxy:
        context = await browser_session.browser.new_context(proxy=proxy.settings())
        try:
            page = await context.new_page()
            await page.goto(sites.ok.url + "/page")
            await page.goto(sites.other + "/page")
            assert await page.get_by_role("heading").inner_text() == "Allowed page"
        finally:
            await context.close()
    assert {"127.0.0.1", "localhost"} <= set(seen)


async def test_a_dedicated_workers_web_socket_to_another_host_is_refused(
    browser_session: BrowserSession,
) -> None:
    inside_hits: list[str] = []
    outside_hits: list[str] = []
    ports: dict[str, int] = {}

    def page() -> str:
        worker = f"""
          function connect(name, url) {{
            const socket = new WebSocket(url);
            socket.onopen = () => socket.send(name);
            socket.onmessage = (event) => {{ postMessage(event.data); socket.close(); }};
            socket.onerror = () => postMessage("refused:" + name);
          }}
          connect("inside", "ws://127.0.0.1:{ports["inside"]}/ws");
          connect("outside", "ws://127.0.0.2:{ports["outside"]}/ws");
        """
        return f"""<p id=out></p><script type=text/plain id=worker>{worker}</script><script>
          const source = document.getElementById("worker").textContent;
          const worker = new Worker(URL.createObjectURL(new Blob([source], {{type: "text/javascript"}})));
          worker.onmessage = (event) => {{ document.getElementById("out").textContent += event.data + " "; }};
        </script>"""

    with (
        LocalServer(handler=socket_handler(inside_hits, page)) as inside,
        LocalServer(handler=socket_handler(outside_hits, page), host="127.0.0.2") as outside,
    ):
        ports.update(inside=inside.port, outside=outside.port)
        allow = DomainAllowlist.of(["127.0.0.1"])
        async with await browser_session.new_context(allowlist=allow) as run_context:
            await run_context.page.goto(inside.url + "/socket")
            await run_context.page.wait_for_function(
                "document.getElementById('out').textContent.trim().split(' ').length === 2"
            )
            out = await run_context.page.locator("#out").inner_text()

        assert sorted(out.split()) == ["echo:inside", "refused:outside"]
        assert outside_hits == []
        assert "/ws" in inside_hits
        assert allow.take_blocked() == [f"127.0.0.2:{outside.port}"]


async def test_a_page_navigated_as_soon_as_it_opens_cannot_follow_redirects_off_the_allowlist(
    browser_session: BrowserSession, sites: Sites
) -> None:
    # The DevTools interception is not attached to a page this new: its hops after the first
    # used to be followed unchecked. Each hop now goes through the proxy.
    sites.clear()
    allow = DomainAllowlist.of(["127.0.0.1"])
    async with await browser_session.new_context(allowlist=allow) as run_context:
        page = await run_context.context.new_page()
        with contextlib.suppress(PlaywrightError):
            await page.goto(sites.ok.url + "/chain")
        await eventually(lambda: bool(allow.blocked), "the hop off the allowlist to be refused")

        assert sites.bad_hits.all() == []
        assert sites.ok_hits.paths() == ["/chain", "/chain2?code=302"]
        assert allow.take_blocked() == [f"{sites.bad.url}/end"]


async def test_a_popup_upload_forms_first_load_cannot_follow_redirects_off_the_allowlist(
    browser_session: BrowserSession, sites: Sites, tmp_path: Path
) -> None:
    # Chromium does not hand over a picked file's bytes, so this first load cannot be loaded
    # again under the DevTools interception: its hops are checked by the proxy, each sent once.
    upload = tmp_path / "statement.csv"
    upload.write_text("iban,amount\nDE44500105175407324931,990.00\n")
    allow = DomainAllowlist.of(["127.0.0.1"])
    async with await browser_session.new_context(allowlist=allow) as run_context:
        page = run_context.page
        await page.goto(sites.ok.url + "/uploader")
        sites.clear()
        await page.set_input_files("input[type=file]", upload)
        with contextlib.suppress(PlaywrightError):
            await page.get_by_role("button", name="upload").click()
        end = f"{sites.bad.url}/end"
        await eventually(lambda: end in allow.blocked, "the hop off the allowlist to be refused")

        assert sites.bad_hits.all() == []
        posts = sites.ok_hits.all()
        assert [(hit.method, hit.path) for hit in posts] == [
            ("POST", "/chain?code=307"),
            ("POST", "/chain2?code=307"),
        ]
        assert all(b"DE44500105175407324931" in hit.body for hit in posts)
        assert allow.take_blocked() == [f"{sites.bad.url}/end"]


async def test_the_contexts_request_api_cannot_follow_a_redirect_chain_off_the_allowlist(
    browser_session: BrowserSession, sites: Sites
) -> None:
    # Playwright follows these redirects itself, outside routing and the DevTools interception.
    sites.clear()
    allow = DomainAllowlist.of(["127.0.0.1"])
    async with await browser_session.new_context(allowlist=allow) as run_context:
        refused = await run_context.context.request.get(sites.ok.url + "/chain")
        allowed = await run_context.context.request.get(sites.ok.url + "/page")

        assert refused.status == 403
        assert "127.0.0.2 is not among the allowed domains" in await refused.text()
        assert await allowed.text() == "<h1>Allowed page</h1>"
        assert sites.bad_hits.all() == []
        assert sites.ok_hits.paths() == ["/chain", "/chain2?code=302", "/page"]
        assert allow.take_blocked() == [f"127.0.0.2:{sites.bad.port}"]


async def test_web_rtc_sends_no_udp_and_its_tcp_goes_through_the_proxy(
    browser_session: BrowserSession, sites: Sites
) -> None:
    udp = UdpListener()
    tcp = Listener()
    ice_tcp = Listener()
    try:
        page_html = f"""<script>
          // A STUN and a TURN-over-TCP server on the other host, and a peer said to be there
          // (over UDP and over TCP).
          const servers = [
            {{urls: "stun:127.0.0.2:{udp.port}"}},
            {{urls: "turn:127.0.0.2:{tcp.port}?transport=tcp", username: "u", credential: "p"}},
          ];
          const a = new RTCPeerConnection({{iceServers: servers}});
          const b = new RTCPeerConnection();
          a.createDataChannel("leak");
          (async () => {{
            await a.setLocalDescription(await a.createOffer());
            await b.setRemoteDescription(a.localDescription);
            await b.setLocalDescription(await b.createAnswer());
            await a.setRemoteDescription(b.localDescription);
            await a.addIceCandidate({{
              candidate: "candidate:1 1 udp 2122260223 127.0.0.2 {udp.port} typ host",
              sdpMid: "0", sdpMLineIndex: 0,
            }});
            await a.addIceCandidate({{
              candidate: "candidate:2 1 tcp 2122260223 127.0.0.2 {ice_tcp.port} typ host tcptype passive",
              sdpMid: "0", sdpMLineIndex: 0,
            }});
            document.title = "started";
          }})();
        </script>"""
        allow = DomainAllowlist.of(["127.0.0.1"])
        async with await browser_session.new_context(allowlist=allow) as run_context:
            await run_context.context.route(
                sites.ok.url + "/rtc", lambda route: route.fulfill(body=page_html, content_type="text/html")
            )
            await run_context.page.goto(sites.ok.url + "/rtc")
            await run_context.page.wait_for_function("document.title === 'started'")
            await eventually(lambda: len(allow.blocked) == 2, "both TCP connections to be refused")
            await asyncio.sleep(1.5)  # STUN and connectivity checks would have gone out by now

            assert udp.datagrams == 0
            assert tcp.connections == []
            assert ice_tcp.connections == []
            assert sorted(allow.take_blocked()) == sorted(
                [f"127.0.0.2:{tcp.port}", f"127.0.0.2:{ice_tcp.port}"]
            )
    finally:
        udp.close()
        tcp.close()
        ice_tcp.close()


async def test_web_transport_opens_no_connection_through_the_proxy(browser_session: BrowserSession) -> None:
    # Chromium does not carry WebTransport (QUIC) through an HTTP proxy. The proxy alone is
    # tested: request interception (the routing layer) makes the handshake fail by itself.
    udp = UdpListener()
    page = f"""<script>
      const transport = new WebTransport("https://127.0.0.2:{udp.port}/");
      transport.ready.then(() => {{ document.title = "open"; }}, () => {{ document.title = "failed"; }});
    </script>"""
    hits = Hits()
    allow = DomainAllowlist.of(["127.0.0.1", "127.0.0.2"])
    try:
        with LocalServer(handler=recording_handler(hits, lambda m, p, b: (200, {}, page.encode()))) as site:
            async with allow.proxy() as proxy:
                context = await browser_session.browser.new_context(proxy=proxy.settings())
                try:
                    tab = await context.new_page()
                    await tab.goto(site.url + "/transport")
                    await tab.wait_for_function("document.title === 'failed'")
                    await asyncio.sleep(1.0)
                    assert udp.datagrams == 0
                finally:
                    await context.close()

            # What the proxy prevents: without it, the handshake's datagrams go out.
            context = await browser_session.browser.new_context()
            try:
                tab = await context.new_page()
                await tab.goto(site.url + "/transport")
                await eventually(lambda: udp.datagrams > 0, "the handshake to be sent")
            finally:
                await context.close()
    finally:
        udp.close()


async def test_an_agent_run_goes_through_the_proxy_and_the_model_is_told(
    browser_session: BrowserSession, tmp_path: Path
) -> None:
    # Only the proxy sees a dedicated worker's web socket: the notice proves the run used it.
    inside_hits: list[str] = []
    outside_hits: list[str] = []
    ports: dict[str, int] = {}

    def page() -> str:
        worker = f"""
          const socket = new WebSocket("ws://127.0.0.2:{ports["outside"]}/ws");
          socket.onopen = () => postMessage("connected");
          socket.onerror = () => postMessage("refused");
        """
        return f"""<p id=out></p><button onclick="start()">Connect</button>
          <script type=text/plain id=worker>{worker}</script><script>
          function start() {{
            const source = document.getElementById("worker").textContent;
            const worker = new Worker(URL.createObjectURL(new Blob([source], {{type: "text/javascript"}})));
            worker.onmessage = (event) => {{ document.getElementById("out").textContent = "socket " + event.data; }};
          }}
        </script>"""

    told: list[str] = []

    def noting(reply: Callable[[ModelRequest], object]) -> Callable[[ModelRequest], object]:
        def step(request: ModelRequest) -> object:
            told.extend(m.content for m in request.messages if "was blocked" in m.content)
            return reply(request)

        return step

    model = ScriptedModel(
        [
            noting(
                lambda r: tool_call(
                    "click", ref=find_ref(r, "Connect", role="button"), irreversible=False, reason="connect"
                )
            ),
            noting(lambda r: tool_call("wait_for", text="socket refused", irreversible=False, reason="wait")),
            noting(lambda r: tool_call("done", output="the socket was refused", confidence=0.9)),
        ]
    )
    with (
        LocalServer(handler=socket_handler(inside_hits, page)) as inside,
        LocalServer(handler=socket_handler(outside_hits, page), host="127.0.0.2") as outside,
    ):
        ports.update(outside=outside.port)
        agent = Agent(
            model=model, browser=browser_session, allowed_domains=["127.0.0.1"], trace_dir=tmp_path / "runs"
        )
        result = await agent.run("Connect", start_url=inside.url + "/start")

    model.assert_complete()
    assert result.status == "completed", result.reason
    assert outside_hits == []
    assert any(f"A request to 127.0.0.2:{outside.port} was blocked" in text for text in told)
    steps = [r for r in read_trace(result.trace_dir or tmp_path) if isinstance(r, StepRecord)]
    assert any(f"127.0.0.2:{outside.port}" in event for step in steps for event in step.events)
    assert browser_session.contexts == []  # the run's context, and its proxy with it, closed


async def test_the_proxy_stops_with_its_context(browser_session: BrowserSession, sites: Sites) -> None:
    allow = DomainAllowlist.of(["127.0.0.1"])
    run_context = await browser_session.new_context(allowlist=allow)
    proxy = run_context.proxy
    assert proxy is not None
    await run_context.page.goto(sites.ok.url + "/page")
    assert proxy.connections >= 1  # the page's connection, kept alive

    await run_context.close()

    assert proxy.connections == 0
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", proxy.port)):
        pass
