"""JavaScript dialogs never hang a run: each is answered by the policy and recorded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Request

from operator_agent.browser import BrowserSession, DialogPolicy, RunContext
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "browser"
# Short, so a dialog left unanswered fails the test quickly instead of hanging it.
FAST_MS = 5_000


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


async def _open(run: RunContext, url: str) -> None:
    run.page.set_default_timeout(FAST_MS)
    await run.page.goto(url)


async def test_alert_is_accepted_and_recorded(run_context: RunContext, site: LocalServer) -> None:
    await _open(run_context, site.url + "/dialogs.html")
    await run_context.page.click("#alert")
    assert await run_context.page.text_content("#out") == "alert:done"
    [record] = run_context.take_dialogs()
    assert (record.kind, record.action, record.message) == ("alert", "accept", "Saved invoice 42")
    assert record.url == site.url + "/dialogs.html"
    assert record.error is None
    assert run_context.take_dialogs() == []


async def test_confirm_is_dismissed_by_default(run_context: RunContext, site: LocalServer) -> None:
    await _open(run_context, site.url + "/dialogs.html")
    await run_context.page.click("#confirm")
    assert await run_context.page.text_content("#out") == "confirm:false"
    [record] = run_context.take_dialogs()
    assert (record.kind, record.action, record.message) == ("confirm", "dismiss", "Delete invoice 42?")


async def test_dismissed_confirm_stops_the_guarded_request(
    run_context: RunContext, site: LocalServer
) -> None:
    await _open(run_context, site.url + "/dialogs.html")
    requested: list[str] = []

    def remember(request: Request) -> None:
        requested.append(request.url)

    run_context.page.on("request", remember)
    await run_context.page.click("#delete")
    # Give a navigation that should not happen the time to start.
    await run_context.page.wait_for_timeout(300)
    assert run_context.page.url == site.url + "/dialogs.html"
    assert not [url for url in requested if url.endswith("/deleted.html")]
    [record] = run_context.take_dialogs()
    assert (record.kind, record.action) == ("confirm", "dismiss")


async def test_prompt_is_dismissed_by_default(run_context: RunContext, site: LocalServer) -> None:
    await _open(run_context, site.url + "/dialogs.html")
    await run_context.page.click("#prompt")
    assert await run_context.page.text_content("#out") == "prompt:null"
    [record] = run_context.take_dialogs()
    assert (record.kind, record.action, record.prompt_text) == ("prompt", "dismiss", None)
    assert record.default_value == "duplicate"


async def test_policy_can_accept_confirms_and_answer_prompts(
    browser_session: BrowserSession, site: LocalServer, tmp_path: Path
) -> None:
    policy = DialogPolicy(confirm="accept", prompt="accept", prompt_text="customer asked twice")
    async with await browser_session.new_context(dialog_policy=policy, downloads_dir=tmp_path) as run:
        await _open(run, site.url + "/dialogs.html")
        await run.page.click("#prompt")
        assert await run.page.text_content("#out") == "prompt:customer asked twice"
        await run.page.click("#delete")
        await run.page.wait_for_url("**/deleted.html")
        assert await run.page.text_content("#out") == "invoice 42 deleted"
        prompt, confirm = run.take_dialogs()
    assert (prompt.kind, prompt.action, prompt.prompt_text) == ("prompt", "accept", "customer asked twice")
    assert (confirm.kind, confirm.action, confirm.message) == (
        "confirm",
        "accept",
        "Really delete invoice 42?",
    )


async def test_accepted_prompt_without_text_submits_its_default(
    browser_session: BrowserSession, site: LocalServer, tmp_path: Path
) -> None:
    policy = DialogPolicy(prompt="accept")
    async with await browser_session.new_context(dialog_policy=policy, downloads_dir=tmp_path) as run:
        await _open(run, site.url + "/dialogs.html")
        await run.page.click("#prompt")
        assert await run.page.text_content("#out") == "prompt:duplicate"
        [record] = run.take_dialogs()
    assert record.prompt_text == "duplicate"


async def test_beforeunload_is_accepted_so_navigation_goes_ahead(
    run_context: RunContext, site: LocalServer
) -> None:
    await _open(run_context, site.url + "/leave.html")
    # Chromium asks before leaving only once the person has interacted with the page.
    await run_context.page.fill("#note", "half-written note")
    await run_context.page.click("#note")
    await run_context.page.goto(site.url + "/second.html")
    assert await run_context.page.text_content("#out") == "second"
    [record] = run_context.take_dialogs()
    assert (record.kind, record.action) == ("beforeunload", "accept")
    assert record.url == site.url + "/leave.html"


async def test_beforeunload_can_be_dismissed_to_stay_on_the_page(
    browser_session: BrowserSession, site: LocalServer, tmp_path: Path
) -> None:
    policy = DialogPolicy(beforeunload="dismiss")
    async with await browser_session.new_context(dialog_policy=policy, downloads_dir=tmp_path) as run:
        await _open(run, site.url + "/leave.html")
        await run.page.fill("#note", "half-written note")
        await run.page.click("#note")
        with pytest.raises(Exception, match="ERR_ABORTED"):
            await run.page.goto(site.url + "/second.html")
        assert run.page.url == site.url + "/leave.html"
        assert await run.page.input_value("#note") == "half-written note"
        [record] = run.take_dialogs()
    assert (record.kind, record.action) == ("beforeunload", "dismiss")


async def test_dialogs_in_popups_are_answered_too(run_context: RunContext, site: LocalServer) -> None:
    await _open(run_context, site.url + "/dialogs.html")
    async with run_context.context.expect_page(timeout=FAST_MS) as popup_info:
        await run_context.page.click("#popup-alert")
    popup = await popup_info.value
    await popup.wait_for_function(
        "document.getElementById('out').textContent === 'after alert'", timeout=FAST_MS
    )
    [record] = run_context.take_dialogs()
    assert (record.kind, record.action, record.message) == ("alert", "accept", "Session expires in 5 minutes")
    assert record.url == site.url + "/alert-on-load.html"
