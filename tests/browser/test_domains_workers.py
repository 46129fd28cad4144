"""Pages of a run with a domain allowlist cannot start service workers or shared workers.

A service worker's requests are routed by Playwright (their host is checked) but not seen by the
browser's interception, so the redirects they follow are not checked; a shared worker's requests
are seen by neither. The allowlist turns both off in every document of the context.

Servers: the allowed one on ``127.0.0.1``, the disallowed one on ``127.0.0.2``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from operator_agent.browser import BrowserSession, RunContext
from operator_agent.guardrails.domains import DomainAllowlist
from tests.browser.domain_servers import TwoSites

# The worker fetches the disallowed host directly and through a redirect of the allowed one,
# when it starts and again when the page sends it a message.
WORKER = """
self.addEventListener("install", (event) => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
function leave(when) {
  fetch("{bad}/direct-" + when).catch(() => {});
  fetch("/out/redirected-" + when).catch(() => {});
}
leave("start");
self.addEventListener("message", () => leave("message"));
"""

# ``registrar`` is how the page reaches a ServiceWorkerContainer: its own, or a fresh iframe's.
PAGE = """<p id=result></p><script>
  const registrar = {registrar};
  registrar.register("/worker.js")
    .then(() => navigator.serviceWorker.ready)
    .then((registration) => {{
      registration.active.postMessage("go");
      document.getElementById("result").textContent = "registered";
    }})
    .catch((error) => {{ document.getElementById("result").textContent = "refused: " + error.name; }});
</script>"""

# A shared worker runs the same requests as soon as it starts, and answers the page.
SHARED_WORKER = """
fetch("{bad}/direct-shared").catch(() => {});
fetch("/out/redirected-shared").catch(() => {});
onconnect = (event) => event.ports[0].postMessage("started");
"""

SHARED_PAGE = """<p id=result></p><script>
  const Shared = {realm}.SharedWorker;
  if (typeof Shared === "undefined") {{
    document.getElementById("result").textContent = "no SharedWorker";
  }} else {{
    const worker = new Shared("/shared-worker.js");
    worker.port.onmessage = (event) => {{ document.getElementById("result").textContent = event.data; }};
  }}
</script>"""

REALMS = {
    "page": "self",
    "iframe": "(() => { const f = document.createElement('iframe'); document.body.append(f); return f.contentWindow; })()",
}

REGISTRARS = {
    "page": "navigator.serviceWorker",
    "iframe": "(() => { const f = document.createElement('iframe'); document.body.append(f);"
    " return f.contentWindow.navigator.serviceWorker; })()",
}


class Sites(TwoSites):
    def respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        if parts.path.startswith("/out/"):
            return 302, {"Location": f"{self.bad.url}/{parts.path[5:]}"}, b""
        if parts.path == "/worker.js":
            return 200, {"Content-Type": "text/javascript"}, WORKER.replace("{bad}", self.bad.url).encode()
        if parts.path == "/shared-worker.js":
            return (
                200,
                {"Content-Type": "text/javascript"},
                SHARED_WORKER.replace("{bad}", self.bad.url).encode(),
            )
        if parts.path.startswith("/shared-"):
            return 200, {}, SHARED_PAGE.format(realm=REALMS[parts.path.removeprefix("/shared-")]).encode()
        if parts.path.startswith("/register-"):
            return 200, {}, PAGE.format(registrar=REGISTRARS[parts.path.removeprefix("/register-")]).encode()
        return 404, {}, b"not found"


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    with Sites() as s:
        yield s


async def _result(run_context: RunContext) -> str:
    await run_context.page.wait_for_function("document.getElementById('result').textContent !== ''")
    return await run_context.page.locator("#result").inner_text()


@pytest.mark.parametrize("registrar", sorted(REGISTRARS))
async def test_a_page_cannot_register_a_service_worker_under_the_allowlist(
    run_context: RunContext, sites: Sites, registrar: str
) -> None:
    sites.clear()
    allow = DomainAllowlist.of(["127.0.0.1"])
    await allow.install(run_context.context)
    await run_context.page.goto(f"{sites.ok.url}/register-{registrar}")

    result = await _result(run_context)
    await asyncio.sleep(0.5)  # what a worker would have sent by now

    assert sites.bad_hits.paths() == []
    assert "/worker.js" not in sites.ok_hits.paths()
    assert result == "refused: SecurityError"
    assert run_context.context.service_workers == []


@pytest.mark.parametrize("realm", sorted(REALMS))
async def test_a_page_cannot_start_a_shared_worker_under_the_allowlist(
    run_context: RunContext, sites: Sites, realm: str
) -> None:
    sites.clear()
    allow = DomainAllowlist.of(["127.0.0.1"])
    await allow.install(run_context.context)
    await run_context.page.goto(f"{sites.ok.url}/shared-{realm}")
    result = await _result(run_context)
    await asyncio.sleep(0.5)

    assert sites.bad_hits.paths() == []
    assert "/shared-worker.js" not in sites.ok_hits.paths()
    assert result == "no SharedWorker"


async def test_without_the_allowlist_the_same_workers_reach_the_other_host(
    browser_session: BrowserSession, sites: Sites
) -> None:
    # What the tests above guard against: the service worker's redirected fetches reach the
    # other host, and the shared worker's fetches do, redirected or not.
    sites.bad_hits.clear()
    async with await browser_session.new_context() as run_context:
        await run_context.page.goto(f"{sites.ok.url}/register-page")
        assert await _result(run_context) == "registered"
        await run_context.page.goto(f"{sites.ok.url}/shared-page")
        assert await _result(run_context) == "started"
        expected = {"/redirected-message", "/direct-shared", "/redirected-shared"}
        for _ in range(100):
            if expected <= set(sites.bad_hits.paths()):
                break
            await asyncio.sleep(0.05)
    assert expected <= set(sites.bad_hits.paths())
