"""The domain allowlist holds for every redirect hop: form POSTs, sub-resources, chains, popups, frames.

Two local servers stand for two hosts: the allowed one on ``127.0.0.1`` and the disallowed one on
``127.0.0.2`` (another loopback address, so another host for the allowlist). Every test asserts
that the disallowed server received nothing, and that the block was recorded for the model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Route

from operator_agent.agent import Agent
from operator_agent.browser import BrowserSession, RunContext
from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.models import ModelRequest, ScriptedModel, tool_call
from operator_agent.testing.outline import find_ref
from operator_agent.trace import StepRecord, read_trace
from tests.browser.domain_servers import TwoSites, eventually

# A 1x1 transparent PNG.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


class Sites(TwoSites):
    """The allowed site (``ok``, also reachable as ``localhost``) and the disallowed one (``bad``)."""

    def respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        code = int(query.get("code", "302"))
        bad = self.bad.url
        if parts.path.startswith("/out/"):  # any method, any resource: off the allowlist
            return code, {"Location": f"{bad}/{parts.path[5:]}"}, b""
        if parts.path.startswith("/in/"):  # stays on the allowed host
            return code, {"Location": "/" + parts.path[4:] + f"?code={code}"}, b""
        if parts.path == "/chain":
            return code, {"Location": f"/out/chain-end?code={code}"}, b""
        page = PAGES.get(parts.path)
        if page is not None:
            return 200, {}, page.replace("{code}", str(code)).replace("{other}", self.other).encode()
        if parts.path == "/thanks":
            return 200, {}, f"<h1>Thanks, {query.get('name', '?')}</h1>".encode()
        if method == "POST" and parts.path == "/save":
            name = parse_qs(body.decode()).get("name", ["?"])[0]
            return 303, {"Location": f"/thanks?name={name}"}, b""
        if parts.path == "/pixel.png":
            return 200, {"Content-Type": "image/png"}, PIXEL
        if parts.path == "/ok.js":
            return 200, {"Content-Type": "text/javascript"}, b"document.body.dataset.script = 'ran';"
        if parts.path == "/data.json":
            return 200, {"Content-Type": "application/json"}, b'{"answer": 42}'
        return 404, {}, b"not found"


# Each sub-resource page writes what happened into #result, so a test can wait for it.
_REPORT = """
<p id=result></p>
<script>
  const done = [];
  function report(what) { done.push(what); document.getElementById('result').textContent = done.sort().join(' '); }
</script>
"""

PAGES = {
    "/form": "<form method=post action='/out/post?code={code}'>"
    "<input name=note value=secret-note><button>Continue</button></form>",
    "/upload": "<form method=post enctype=multipart/form-data action='/out/upload?code={code}'>"
    "<input type=file name=doc><input name=note value=secret-note><button>Continue</button></form>",
    "/save-form": "<form method=post action='/save'><input name=name value=Ada><button>Save</button></form>",
    "/subresources": _REPORT
    + """
<img src='/out/image.png' onload="report('img:loaded')" onerror="report('img:failed')">
<script src='/out/script.js' onload="report('script:loaded')" onerror="report('script:failed')"></script>
<script>
  fetch('/out/data.json').then(r => r.text()).then(() => report('fetch:loaded'), () => report('fetch:failed'));
</script>""",
    "/subresources-inside": _REPORT
    + """
<img src='/in/pixel.png' onload="report('img:' + this.naturalWidth)" onerror="report('img:failed')">
<script src='/in/ok.js' onload="report('script:' + document.body.dataset.script)" onerror="report('script:failed')"></script>
<script>
  fetch('/in/data.json').then(r => r.json()).then(d => report('fetch:' + d.answer), () => report('fetch:failed'));
</script>""",
    "/image-page": _REPORT
    + "<img src='/out/popup-image.png' onload=\"report('img:loaded')\" onerror=\"report('img:failed')\">",
    "/opener": "<button onclick=\"window.open('/image-page')\">open</button>"
    "<button onclick=\"window.open('/out/popup-page')\">open redirect</button>",
    "/framed": "<iframe src='{other}/image-page'></iframe>",
}


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    with Sites() as s:
        yield s


@pytest.fixture
async def guarded(run_context: RunContext, sites: Sites) -> DomainAllowlist:
    sites.clear()
    allow = DomainAllowlist.of(["127.0.0.1", "localhost"])
    await allow.install(run_context.context)
    return allow


async def _submit(page: Page, button: str = "Continue") -> None:
    # A blocked navigation makes the click's wait for it fail; the outcome is asserted on the servers.
    with contextlib.suppress(PlaywrightError):
        await page.get_by_role("button", name=button).click()


async def _result(page: Page) -> str:
    locator = page.locator("#result")
    with contextlib.suppress(PlaywrightError):
        await page.wait_for_function("document.getElementById('result').textContent.split(' ').length === 3")
    return await locator.inner_text()


@pytest.mark.parametrize("code", [302, 303, 307])
async def test_form_post_redirected_off_the_allowlist_is_blocked(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites, code: int
) -> None:
    page = run_context.page
    await page.goto(f"{sites.ok.url}/form?code={code}")
    await _submit(page)
    await eventually(lambda: bool(guarded.blocked), "the block to be recorded")

    assert guarded.take_blocked() == [f"{sites.bad.url}/post"]
    assert sites.bad_hits.requests() == []
    # The POST itself reached the allowed host: only its redirect was stopped.
    assert ("POST", f"/out/post?code={code}", b"note=secret-note") in sites.ok_hits.requests()
    assert not page.url.startswith(sites.bad.url)


@pytest.mark.parametrize("code", [302, 307])
async def test_multipart_post_with_a_file_redirected_off_the_allowlist_is_blocked(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites, code: int, tmp_path: Path
) -> None:
    upload = tmp_path / "statement.csv"
    upload.write_text("iban,amount\nDE44500105175407324931,990.00\n")
    page = run_context.page
    await page.goto(f"{sites.ok.url}/upload?code={code}")
    await page.set_input_files("input[type=file]", upload)
    await _submit(page)
    await eventually(lambda: bool(guarded.blocked), "the block to be recorded")

    assert guarded.take_blocked() == [f"{sites.bad.url}/upload"]
    assert sites.bad_hits.requests() == []
    posted = [body for method, path, body in sites.ok_hits.requests() if method == "POST"]
    assert len(posted) == 1
    assert b"DE44500105175407324931" in posted[0]  # the file went to the allowed host, nowhere else


async def test_sub_resources_redirected_off_the_allowlist_are_blocked(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    page = run_context.page
    await page.goto(sites.ok.url + "/subresources")

    assert await _result(page) == "fetch:failed img:failed script:failed"
    assert sorted(guarded.take_blocked()) == [
        f"{sites.bad.url}/data.json",
        f"{sites.bad.url}/image.png",
        f"{sites.bad.url}/script.js",
    ]
    assert sites.bad_hits.requests() == []


async def test_a_redirect_chain_is_blocked_at_the_hop_that_leaves(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    page = run_context.page
    # allowed -> allowed -> allowed -> disallowed, as a page load.
    with contextlib.suppress(PlaywrightError):
        await page.goto(sites.ok.url + "/in/chain")
    await eventually(lambda: page.url.startswith("chrome-error:"), "the error page")
    assert guarded.take_blocked() == [f"{sites.bad.url}/chain-end"]
    assert sites.ok_hits.paths() == ["/in/chain", "/chain?code=302", "/out/chain-end?code=302"]

    # The same chain answered to a form POST with 307s: the body follows each allowed hop.
    await page.goto(sites.ok.url + "/form")
    await page.evaluate("document.forms[0].action = '/in/chain?code=307'")
    sites.ok_hits.clear()
    await _submit(page)
    await eventually(lambda: bool(guarded.blocked), "the form's chain to be blocked")
    assert guarded.take_blocked() == [f"{sites.bad.url}/chain-end"]
    assert sites.ok_hits.requests() == [
        ("POST", "/in/chain?code=307", b"note=secret-note"),
        ("POST", "/chain?code=307", b"note=secret-note"),
        ("POST", "/out/chain-end?code=307", b"note=secret-note"),
    ]
    assert sites.bad_hits.requests() == []


async def test_redirects_within_the_allowlist_still_work(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    page = run_context.page
    await page.goto(sites.ok.url + "/save-form")
    await page.get_by_role("button", name="Save").click()
    await page.wait_for_url("**/thanks?name=Ada")
    assert await page.get_by_role("heading").inner_text() == "Thanks, Ada"
    assert ("POST", "/save", b"name=Ada") in sites.ok_hits.requests()

    await page.goto(sites.ok.url + "/subresources-inside")
    assert await _result(page) == "fetch:42 img:1 script:ran"
    assert guarded.take_blocked() == []
    assert sites.bad_hits.requests() == []


async def test_a_popup_is_guarded_before_its_sub_resources_load(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    page = run_context.page
    await page.goto(sites.ok.url + "/opener")
    async with page.expect_popup() as popup_info:
        await page.get_by_role("button", name="open", exact=True).click()
    popup = await popup_info.value
    await popup.wait_for_load_state()

    await eventually(lambda: bool(guarded.blocked), "the popup's image redirect to be blocked")
    assert guarded.take_blocked() == [f"{sites.bad.url}/popup-image.png"]
    assert sites.bad_hits.requests() == []


async def test_a_popup_whose_first_load_redirects_off_the_allowlist_is_blocked(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    # The popup's first request starts before its page can be guarded: it is loaded again once
    # the guard watches the popup (tests/browser/test_domains_popups.py for chains and forms).
    page = run_context.page
    await page.goto(sites.ok.url + "/opener")
    async with page.expect_popup():
        await page.get_by_role("button", name="open redirect").click()
    await eventually(lambda: bool(guarded.blocked), "the popup's redirect to be blocked")

    assert guarded.take_blocked() == [f"{sites.bad.url}/popup-page"]
    assert sites.bad_hits.requests() == []


async def test_an_out_of_process_frame_is_guarded(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    page = run_context.page
    await page.goto(sites.ok.url + "/framed")
    await eventually(lambda: bool(guarded.blocked), "the frame's image redirect to be blocked")

    frame = page.frames[1]
    assert frame.url == sites.other + "/image-page"
    assert guarded.take_blocked() == [f"{sites.bad.url}/popup-image.png"]
    assert sites.bad_hits.requests() == []


async def test_pages_opened_later_and_cross_site_navigations_are_guarded(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    page = await run_context.new_tab()
    await page.goto(sites.ok.url + "/form?code=307")
    # The second allowed host is another site, loaded in another renderer process.
    await page.goto(sites.other + "/form?code=307")
    await _submit(page)
    await eventually(lambda: bool(guarded.blocked), "the block to be recorded")

    assert guarded.take_blocked() == [f"{sites.bad.url}/post"]
    assert sites.bad_hits.requests() == []


async def test_the_guard_coexists_with_page_routes(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    page = run_context.page
    fulfilled: list[str] = []

    async def mock(route: Route) -> None:
        fulfilled.append(route.request.url)
        await route.fulfill(status=200, content_type="text/html", body="<h1>mocked</h1>")

    await page.route("**/mocked", mock)
    await page.goto(sites.ok.url + "/mocked")
    assert await page.get_by_role("heading").inner_text() == "mocked"
    await page.goto(sites.ok.url + "/subresources")
    assert await _result(page) == "fetch:failed img:failed script:failed"
    assert len(guarded.take_blocked()) == 3
    assert fulfilled == [sites.ok.url + "/mocked"]
    assert sites.bad_hits.requests() == []
    await page.unroute_all(behavior="ignoreErrors")


async def test_agent_is_told_a_form_post_redirect_was_blocked(
    browser_session: BrowserSession, sites: Sites, tmp_path: Path
) -> None:
    sites.clear()
    told: list[str] = []

    def check_notice(request: ModelRequest) -> object:
        told.extend(m.content for m in request.messages if "was blocked" in m.content)
        return tool_call("done", output="the form could not be sent", confidence=0.9)

    model = ScriptedModel(
        [
            lambda r: tool_call(
                "click",
                ref=find_ref(r, "Continue", role="button"),
                irreversible=False,
                reason="send the form",
            ),
            check_notice,
        ]
    )
    agent = Agent(
        model=model,
        browser=browser_session,
        allowed_domains=["127.0.0.1"],
        trace_dir=tmp_path / "runs",
    )
    result = await agent.run("Send the form", start_url=f"{sites.ok.url}/form?code=303")

    model.assert_complete()
    assert result.status == "completed", result.reason
    assert any(f"A request to {sites.bad.url}/post was blocked" in text for text in told)
    assert sites.bad_hits.requests() == []
    assert [m for m, p, _ in sites.ok_hits.requests() if p.startswith("/out/post")] == ["POST"]
    steps = [r for r in read_trace(result.trace_dir or tmp_path) if isinstance(r, StepRecord)]
    assert any(f"{sites.bad.url}/post" in event for step in steps for event in step.events)
