"""Batches run in order and stop as soon as the page the model observed is no longer there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import BrowserContext, Page

from operator_agent.act import NOT_EXECUTED, ActionExecutor, ContextTabs
from operator_agent.actions import Check, Click, Fill, Hover, SelectOption
from operator_agent.testing.site_server import LocalServer
from tests.browser.test_act_support import Recorder, recording_server, stamp


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[LocalServer, Recorder]]:
    with recording_server() as running:
        yield running


@pytest.fixture
def server(site: tuple[LocalServer, Recorder]) -> LocalServer:
    return site[0]


@pytest.fixture
def executor(page: Page) -> ActionExecutor:
    return ActionExecutor(tabs=ContextTabs(page=page), action_timeout_s=5)


async def test_a_whole_form_in_one_batch(
    page: Page, site: tuple[LocalServer, Recorder], executor: ActionExecutor
) -> None:
    server, recorder = site
    await page.goto(f"{server.url}/form.html")
    refs = await stamp(page, {"e1": "#name", "e2": "#email", "e3": "#terms", "e4": "#urgent", "e5": "#save"})
    outcomes = await executor.execute_many(
        [
            Fill(ref="e1", text="Ada Lovelace"),
            Fill(ref="e2", text="ada@example.test"),
            SelectOption(ref="e3", values=["Cash on delivery"]),
            Check(ref="e4"),
            Click(ref="e5", irreversible=True),
        ],
        refs=refs,
    )
    assert [o.ok for o in outcomes] == [True] * 5, [o.message for o in outcomes]
    assert [o.executed for o in outcomes] == [True] * 5
    assert outcomes[-1].navigated
    fields = recorder.last().fields
    assert (fields["name"], fields["email"], fields["terms"], fields["urgent"]) == (
        ["Ada Lovelace"],
        ["ada@example.test"],
        ["cod"],
        ["yes"],
    )


async def test_changes_that_keep_the_targets_do_not_stop_a_batch(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#add", "e2": "#reports"})
    outcomes = await executor.execute_many([Click(ref="e1"), Hover(ref="e2"), Click(ref="e1")], refs=refs)
    assert [o.ok for o in outcomes] == [True, True, True]
    assert await page.text_content("#count") == "2"
    assert await page.is_visible("#menu")


async def test_stops_after_navigation(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#to-page2", "e2": "#add", "e3": "#dbl"})
    outcomes = await executor.execute_many([Click(ref="e1"), Click(ref="e2"), Click(ref="e3")], refs=refs)
    assert outcomes[0].ok
    assert outcomes[0].navigated
    for skipped in outcomes[1:]:
        assert (skipped.ok, skipped.executed, skipped.error, skipped.duration_ms) == (False, False, None, 0.0)
        assert skipped.message == (
            f"{NOT_EXECUTED} (action 1 (click e1): the page is now {server.url}/page2.html)"
        )
        assert skipped.url_after == f"{server.url}/page2.html"
    assert [o.action for o in outcomes] == [Click(ref="e1"), Click(ref="e2"), Click(ref="e3")]
    assert await page.title() == "Second page"


async def test_stops_when_a_same_page_route_changes(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#route", "e2": "#add"})
    outcomes = await executor.execute_many([Click(ref="e1"), Click(ref="e2")], refs=refs)
    assert outcomes[0].navigated
    assert outcomes[0].url_after == f"{server.url}/page.html?view=details"
    assert not outcomes[1].executed
    assert await page.text_content("#count") == "0"


async def test_stops_when_a_modal_opens(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#open-dialog", "e2": "#add"})
    outcomes = await executor.execute_many([Click(ref="e1"), Click(ref="e2")], refs=refs)
    assert outcomes[0].ok
    assert outcomes[0].message == 'clicked button "Delete record" [e1]; a dialog opened'
    assert not outcomes[0].navigated
    assert outcomes[1].message == f"{NOT_EXECUTED} (action 1 (click e1): a dialog opened)"
    assert await page.text_content("#count") == "0"


async def test_stops_when_the_list_under_it_re_renders(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#sort", "e2": "#rows li:first-child button"})
    # e2 is "Open Gamma"; after sorting, the first row is Alpha: acting on stale rows would be wrong.
    outcomes = await executor.execute_many([Click(ref="e1"), Click(ref="e2")], refs=refs)
    assert outcomes[0].ok
    assert outcomes[1].message == f"{NOT_EXECUTED} (action 1 (click e1) re-rendered the page: e2 left it)"
    assert await page.text_content("#opened") == ""


async def test_stops_when_a_tab_opens(
    context: BrowserContext, page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#new-tab", "e2": "#add"})
    outcomes = await executor.execute_many([Click(ref="e1"), Click(ref="e2")], refs=refs)
    assert outcomes[0].ok
    assert not outcomes[1].executed
    assert "a new tab opened: tab 1" in outcomes[1].message
    assert len(context.pages) == 2


async def test_stops_after_a_failure(page: Page, server: LocalServer) -> None:
    executor = ActionExecutor(tabs=ContextTabs(page=page), action_timeout_s=1.5)
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#add", "e2": "#hidden-btn", "e3": "#dbl"})
    outcomes = await executor.execute_many([Click(ref="e1"), Click(ref="e2"), Click(ref="e3")], refs=refs)
    assert [o.ok for o in outcomes] == [True, False, False]
    assert outcomes[1].error == "ActionFailedError"
    assert outcomes[2].message == (
        "not executed: action 2 (click e2) failed, so the rest of the plan may not fit the page; "
        "observe again"
    )
    assert await page.text_content("#count") == "1"
    assert await page.text_content("#click-log") == ""


async def test_an_unknown_ref_stops_the_batch_before_anything_else(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#add"})
    outcomes = await executor.execute_many([Click(ref="e7"), Click(ref="e1")], refs=refs)
    assert [o.error for o in outcomes] == ["UnknownRefError", None]
    assert not outcomes[1].executed
    assert await page.text_content("#count") == "0"
