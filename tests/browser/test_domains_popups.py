"""A popup's first load is checked hop by hop: ``window.open``, ``target=_blank`` links and forms.

The DevTools guard cannot watch a popup before its first request starts; the allowlist stops
that request and loads the same again once the guard watches the popup. These tests check that
every redirect hop of that load is checked (two hops on the allowed host first, so the route
layer's own check of the first redirect would not be enough), that an allowed popup shows its
page and the server receives each request once, and that the relaunched load carries what the
first one would have (body, ``Referer``, ``Origin``, the same ``SameSite`` cookies).

Servers: the allowed one on ``127.0.0.1`` (also reachable as ``localhost``, another allowed
site) and the disallowed one on ``127.0.0.2``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from operator_agent.browser import RunContext
from operator_agent.guardrails.domains import DomainAllowlist
from tests.browser.domain_servers import TwoSites, eventually

OPENER = """
<button onclick="window.open('{target}/chain')">open chain</button>
<button onclick="window.open('{target}/in/final')">open page</button>
<a href="{target}/chain" target=_blank>link chain</a>
<a href="{target}/in/final" target=_blank>link page</a>
<form method=post action="{target}/chain?code=307" target=_blank>
  <input name=note value=secret-note><button>post chain</button></form>
<form method=post action="{target}/save" target=_blank>
  <input name=name value=Ada><button>post save</button></form>
<form method=post enctype=multipart/form-data action="{target}/save" target=_blank>
  <input name=name value=Ada><input type=file name=doc><button>upload save</button></form>
<button onclick="window.open('{target}/in/final?n=1'); window.open('{target}/in/final?n=2')">open two</button>
"""


class Sites(TwoSites):
    def respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        code = query.get("code", "302")
        if parts.path == "/chain":  # allowed -> allowed -> disallowed
            return int(code), {"Location": f"/chain2?code={code}"}, b""
        if parts.path == "/chain2":
            return int(code), {"Location": f"{self.bad.url}/end"}, b""
        if parts.path == "/in/final":  # allowed -> allowed
            return 302, {"Location": "/final" + (f"?n={query['n']}" if "n" in query else "")}, b""
        if parts.path == "/final":
            return 200, {}, f"<h1>Final page {query.get('n', '')}</h1>".encode()
        if parts.path == "/save" and method == "POST":
            return 303, {"Location": "/thanks"}, b""
        if parts.path == "/thanks":
            return 200, {}, b"<h1>Thanks</h1>"
        if parts.path == "/cookies":
            cookies = {"Set-Cookie": "strict=1; SameSite=Strict"}
            return 200, cookies, b"<p>strict cookie set</p>"
        if parts.path == "/cookies-lax":
            return 200, {"Set-Cookie": "lax=1; SameSite=Lax"}, b"<p>lax cookie set</p>"
        if parts.path == "/opener":
            return 200, {}, OPENER.format(target=query.get("target", "")).encode()
        return 404, {}, b"not found"


@pytest.fixture(scope="module")
def sites() -> Iterator[Sites]:
    with Sites() as s:
        yield s


@pytest.fixture
async def guarded(run_context: RunContext, sites: Sites) -> DomainAllowlist:
    allow = DomainAllowlist.of(["127.0.0.1", "localhost"])
    await allow.install(run_context.context)
    return allow


async def _open_popup(page: Page, name: str) -> tuple[Page, str]:
    """Click ``name`` on the opener; return the popup and the URL it had when it was reported."""
    async with page.expect_popup() as popup_info:
        with contextlib.suppress(PlaywrightError):
            target = page.get_by_role("button", name=name, exact=True)
            await target.or_(page.get_by_role("link", name=name, exact=True)).click()
    popup = await popup_info.value
    reported_at = popup.url
    with contextlib.suppress(PlaywrightError):
        await popup.wait_for_load_state()
    return popup, reported_at


async def _opener(page: Page, sites: Sites, *, at: str | None = None, target: str | None = None) -> None:
    await page.goto(f"{at or sites.ok.url}/opener?target={target or sites.ok.url}")
    sites.clear()


@pytest.mark.parametrize("name", ["open chain", "link chain"])
async def test_a_popup_whose_first_load_leaves_after_two_allowed_hops_is_blocked(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites, name: str
) -> None:
    page = run_context.page
    await _opener(page, sites)
    popup, _ = await _open_popup(page, name)
    await eventually(lambda: bool(guarded.blocked), "the hop off the allowlist to be blocked")

    assert guarded.take_blocked() == [f"{sites.bad.url}/end"]
    assert sites.bad_hits.all() == []
    assert sites.ok_hits.paths() == ["/chain", "/chain2?code=302"]  # each hop once
    assert not popup.url.startswith(sites.bad.url)


@pytest.mark.parametrize(("name", "at"), [("open page", "same site"), ("link page", "other site")])
async def test_an_allowed_popup_shows_its_page_and_loads_once(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites, name: str, at: str
) -> None:
    page = run_context.page
    await _opener(page, sites, at=sites.ok.url if at == "same site" else sites.other)
    popup, reported_at = await _open_popup(page, name)

    assert reported_at == f"{sites.ok.url}/final"  # reported on its page, not on an error page
    assert await popup.get_by_role("heading").inner_text() == "Final page"
    assert sites.ok_hits.paths() == ["/in/final", "/final"]
    opener = sites.ok.url if at == "same site" else sites.other
    assert all(hit.referer is not None and hit.referer.startswith(opener) for hit in sites.ok_hits.all())
    assert guarded.take_blocked() == []


async def test_a_popup_form_post_is_sent_once_with_its_body_and_its_redirects_are_checked(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites
) -> None:
    page = run_context.page
    await _opener(page, sites)
    popup, reported_at = await _open_popup(page, "post save")
    assert reported_at == f"{sites.ok.url}/thanks"
    assert await popup.get_by_role("heading").inner_text() == "Thanks"
    (post, thanks) = sites.ok_hits.all()
    assert (post.method, post.path, post.body) == ("POST", "/save", b"name=Ada")
    assert post.origin == sites.ok.url
    assert (thanks.method, thanks.path) == ("GET", "/thanks")

    # A 307 chain keeps the method and body on each hop; the hop that leaves is blocked.
    await _opener(page, sites)
    await _open_popup(page, "post chain")
    await eventually(lambda: bool(guarded.blocked), "the form's chain to be blocked")
    assert guarded.take_blocked() == [f"{sites.bad.url}/end"]
    assert [(hit.method, hit.path, hit.body) for hit in sites.ok_hits.all()] == [
        ("POST", "/chain?code=307", b"note=secret-note"),
        ("POST", "/chain2?code=307", b"note=secret-note"),
    ]
    assert sites.bad_hits.all() == []


async def test_a_popup_upload_form_still_works_and_sends_its_file_once(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites, tmp_path: Path
) -> None:
    # Chromium does not hand over the bytes of a picked file: this POST is not relaunched
    # (the route layer checks its host) and must still go out whole, once.
    upload = tmp_path / "statement.csv"
    upload.write_text("iban,amount\nDE44500105175407324931,990.00\n")
    page = run_context.page
    await _opener(page, sites)
    await page.set_input_files("input[type=file]", upload)
    popup, _ = await _open_popup(page, "upload save")

    assert await popup.get_by_role("heading").inner_text() == "Thanks"
    posts = [hit for hit in sites.ok_hits.all() if hit.method == "POST"]
    assert len(posts) == 1
    assert b"DE44500105175407324931" in posts[0].body
    assert guarded.take_blocked() == []


@pytest.mark.parametrize("at", ["same site", "other site"])
async def test_a_relaunched_popup_load_carries_the_cookies_the_browser_would_send(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites, at: str
) -> None:
    page = run_context.page
    await page.goto(sites.ok.url + "/cookies")
    await page.goto(sites.ok.url + "/cookies-lax")
    same = at == "same site"
    cookies: dict[tuple[str, str], str | None] = {}
    for name in ("link page", "post save"):
        await _opener(page, sites, at=sites.ok.url if same else sites.other)
        await _open_popup(page, name)
        cookies.update({(hit.method, hit.path): hit.cookie for hit in sites.ok_hits.all()})

    if same:
        assert cookies[("GET", "/in/final")] == "strict=1; lax=1"
        assert cookies[("POST", "/save")] == "strict=1; lax=1"
    else:
        # From another site: Lax cookies with a GET only, Strict ones never.
        assert cookies[("GET", "/in/final")] == "lax=1"
        assert cookies[("POST", "/save")] is None
        assert cookies[("GET", "/thanks")] == "lax=1"
    assert guarded.take_blocked() == []


@pytest.mark.parametrize("at", ["same site", "other site"])
async def test_popups_opening_at_once_each_show_their_own_page_loaded_once(
    run_context: RunContext, guarded: DomainAllowlist, sites: Sites, at: str
) -> None:
    # Two first loads at the same moment cannot be told apart while they start: each fails, and
    # is loaded again in the popup that shows the URL it failed on.
    page = run_context.page
    await _opener(page, sites, at=sites.ok.url if at == "same site" else sites.other)
    popups: list[Page] = []
    run_context.context.on("page", lambda popup: popups.append(popup))
    with contextlib.suppress(PlaywrightError):
        await page.get_by_role("button", name="open two").click()
    await eventually(lambda: len(popups) == 2, "both popups to be reported")
    await eventually(
        lambda: sorted(popup.url for popup in popups) == [f"{sites.ok.url}/final?n={n}" for n in "12"],
        "each popup to show its own page",
    )

    for popup in popups:
        n = popup.url[-1]
        assert await popup.get_by_role("heading").inner_text() == f"Final page {n}"
    assert sorted(sites.ok_hits.paths()) == ["/final?n=1", "/final?n=2", "/in/final?n=1", "/in/final?n=2"]
    opener = sites.ok.url if at == "same site" else sites.other
    assert all(hit.referer is not None and hit.referer.startswith(opener) for hit in sites.ok_hits.all())
    assert guarded.take_blocked() == []
    assert sites.bad_hits.all() == []
