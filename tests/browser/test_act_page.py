"""Each page action has its effect on a real page (and on the server, where a form is sent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, Page

from operator_agent.act import ActionExecutor, ContextTabs
from operator_agent.actions import (
    Check,
    Click,
    Fill,
    GoBack,
    Hover,
    Navigate,
    Press,
    Scroll,
    SelectOption,
    SwitchTab,
    Uncheck,
    UploadFile,
    WaitFor,
)
from operator_agent.observe.refs import RefMap
from operator_agent.testing.site_server import LocalServer
from tests.browser.test_act_support import Recorder, recording_server, stamp

NO_REFS = RefMap()


@pytest.fixture(scope="module")
def site() -> Iterator[tuple[LocalServer, Recorder]]:
    with recording_server() as running:
        yield running


@pytest.fixture
def server(site: tuple[LocalServer, Recorder]) -> LocalServer:
    return site[0]


@pytest.fixture
def recorder(site: tuple[LocalServer, Recorder]) -> Recorder:
    return site[1]


@pytest.fixture
def executor(page: Page) -> ActionExecutor:
    return ActionExecutor(tabs=ContextTabs(page=page), action_timeout_s=5)


async def test_click_double_click_and_right_click(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#add", "e2": "#dbl", "e3": "#ctx"})

    outcome = await executor.execute(Click(ref="e1"), refs=refs)
    assert outcome.ok, outcome.message
    assert outcome.message == 'clicked button "Add one" [e1]'
    assert (outcome.error, outcome.navigated, outcome.field_value) == (None, False, None)
    assert outcome.url_after == f"{server.url}/page.html"
    assert outcome.duration_ms > 0
    assert await page.text_content("#count") == "1"

    assert (await executor.execute(Click(ref="e2", double=True), refs=refs)).message.startswith(
        "double-clicked"
    )
    assert await page.text_content("#click-log") == "double-clicked"
    assert (await executor.execute(Click(ref="e3", button="right"), refs=refs)).message.startswith(
        "right-clicked"
    )
    assert await page.text_content("#click-log") == "right-clicked"


async def test_form_actions_reach_the_server(
    page: Page, server: LocalServer, recorder: Recorder, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/form.html")
    refs = await stamp(
        page,
        {
            "e1": "#name",
            "e2": "#email",
            "e3": "#notes",
            "e4": "#terms",
            "e5": "#tags",
            "e6": "#urgent",
            "e7": "#high",
            "e8": "#notify",
            "e9": "#save",
        },
    )
    actions = [
        Fill(ref="e1", text="Ada Lovelace"),
        Fill(ref="e2", text="ada@example.test"),
        Fill(ref="e3", text="Pays late.\nCall first."),
        SelectOption(ref="e4", values=["net 30"]),
        SelectOption(ref="e5", values=["IT", "ops"]),
        Check(ref="e6"),
        Check(ref="e7"),
        Check(ref="e8"),
    ]
    outcomes = [await executor.execute(action, refs=refs) for action in actions]
    assert all(o.ok for o in outcomes), [o.message for o in outcomes]
    assert outcomes[0].field_value == "Ada Lovelace"
    assert outcomes[0].message == 'filled textbox "Full name" [e1]; field shows "Ada Lovelace"'
    assert outcomes[2].message.endswith('field shows "Pays late.\\nCall first."')
    assert outcomes[3].field_value == "Net 30"
    assert outcomes[3].message == 'selected "Net 30" in combobox "Payment terms" [e4]; field shows "Net 30"'
    assert outcomes[4].field_value == "IT, Operations"
    assert outcomes[5].message == 'checked checkbox "Urgent" [e6]; it is now checked'
    assert outcomes[7].message == 'checked switch "Notify me" [e8]; it is now checked'

    saved = await executor.execute(Click(ref="e9"), refs=refs)
    assert saved.ok
    assert saved.navigated
    assert saved.url_after == f"{server.url}/submit"
    fields = recorder.last().fields
    assert fields["name"] == ["Ada Lovelace"]
    assert fields["notes"] == ["Pays late.\r\nCall first."]
    assert fields["terms"] == ["net30"]
    assert fields["tags"] == ["it", "ops"]
    assert fields["urgent"] == ["yes"]
    assert fields["priority"] == ["high"]
    assert fields["notify"] == ["yes"]


async def test_uncheck_and_already_checked(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/form.html")
    refs = await stamp(page, {"e1": "#urgent", "e2": "#low"})
    already = await executor.execute(Uncheck(ref="e1"), refs=refs)
    assert already.ok
    assert already.message == 'checkbox "Urgent" [e1] was already unchecked; nothing changed'
    await executor.execute(Check(ref="e1"), refs=refs)
    assert (await executor.execute(Uncheck(ref="e1"), refs=refs)).message.endswith("it is now unchecked")
    assert not await page.is_checked("#urgent")
    assert (await executor.execute(Check(ref="e2"), refs=refs)).message.endswith(
        "was already checked; nothing changed"
    )


async def test_press_with_and_without_a_ref(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#shortcut", "e2": "#add"})
    outcome = await executor.execute(Press(keys="Control+A", ref="e1"), refs=refs)
    assert outcome.ok
    assert outcome.message == (
        'pressed Control+A in textbox "Shortcut box" [e1]; focus is on textbox "Shortcut box" [e1] showing ""'
    )
    assert "Control+A" in (await page.text_content("#key-log") or "")

    await page.focus("#add")
    tab = await executor.execute(Press(keys="Enter"), refs=refs)
    assert tab.message == 'pressed Enter; focus is on button "Add one" [e2]'
    assert await page.text_content("#count") == "1"


async def test_hover_opens_a_menu(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#reports"})
    assert not await page.is_visible("#menu")
    outcome = await executor.execute(Hover(ref="e1"), refs=refs)
    assert outcome.message == 'the mouse is over button "Reports" [e1]'
    assert await page.is_visible("#menu")


async def test_scroll_reports_the_new_position(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#line-1"})
    top = await executor.execute(Scroll(direction="up"), refs=refs)
    assert top.ok
    assert top.message.startswith("the page is already at its top; nothing moved (now at 0 of ")

    down = await executor.execute(Scroll(amount=2), refs=refs)
    assert await page.evaluate("window.scrollY") == 1600
    assert down.message.startswith("scrolled the page down by 2 screens; now at 1600 of ")

    inner = await executor.execute(Scroll(ref="e1", amount=0.5), refs=refs)
    assert await page.evaluate("document.getElementById('scroll-box').scrollTop") == 60
    assert inner.message == (
        'scrolled the scrollable area around paragraph "Line 1" [e1] down by 0.5 screens; '
        "now at 60 of 280 px (21%)"
    )
    assert await page.evaluate("window.scrollY") == 1600


async def test_navigate_and_go_back(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/page.html")
    none = NO_REFS
    opened = await executor.execute(Navigate(url="page2.html"), refs=none)
    assert opened.ok
    assert opened.navigated
    assert opened.message == f"opened {server.url}/page2.html"
    assert await page.title() == "Second page"

    missing = await executor.execute(Navigate(url="/missing"), refs=none)
    assert (missing.ok, missing.error, missing.navigated) == (False, "ActionFailedError", True)
    assert missing.message == f"opened {server.url}/missing, but the server answered HTTP 404 Not Found"

    back = await executor.execute(GoBack(), refs=none)
    assert back.ok
    assert back.navigated
    assert back.url_after == f"{server.url}/page2.html"


async def test_go_back_without_history(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/page2.html")
    first = await executor.execute(GoBack(), refs=NO_REFS)
    assert first.ok
    assert first.url_after == "about:blank"
    outcome = await executor.execute(GoBack(), refs=NO_REFS)
    assert (outcome.ok, outcome.error) == (False, "ActionFailedError")
    assert outcome.message == "cannot go back: this tab has no previous page"


async def test_new_tab_and_switch_tab(
    context: BrowserContext, page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#new-tab"})
    clicked = await executor.execute(Click(ref="e1"), refs=refs)
    assert clicked.ok
    assert not clicked.navigated
    assert "a new tab opened: tab 1 (" in clicked.message
    assert "page2.html) (use switch_tab" in clicked.message
    assert len(context.pages) == 2

    switched = await executor.execute(SwitchTab(index=1), refs=refs)
    assert switched.ok
    assert switched.navigated
    assert switched.message == f'switched to tab 1: "Second page" ({server.url}/page2.html)'
    assert switched.url_after == f"{server.url}/page2.html"

    nowhere = await executor.execute(SwitchTab(index=4), refs=refs)
    assert (nowhere.ok, nowhere.error) == (False, "InvalidActionError")
    assert nowhere.message == (
        f'there is no tab 4; the open tabs are 0: "Operations console" ({server.url}/page.html); '
        f'1: "Second page" ({server.url}/page2.html)'
    )


async def test_upload_to_file_inputs_and_through_a_picker_button(
    page: Page, server: LocalServer, recorder: Recorder, tmp_path: Path
) -> None:
    (tmp_path / "receipt.pdf").write_bytes(b"%PDF-1.4 receipt")
    (tmp_path / "a.csv").write_text("a,b\n")
    (tmp_path / "b.csv").write_text("c,d\n")
    (tmp_path / "scan.png").write_bytes(b"PNGDATA")
    executor = ActionExecutor(tabs=ContextTabs(page=page), upload_dirs=[tmp_path], action_timeout_s=5)
    await page.goto(f"{server.url}/upload.html")
    refs = await stamp(page, {"e1": "#receipt", "e2": "#docs", "e3": "#browse", "e4": "#send"})

    single = await executor.execute(UploadFile(ref="e1", paths=["receipt.pdf"]), refs=refs)
    assert single.ok, single.message
    assert single.field_value == "receipt.pdf"
    assert single.message == 'attached "receipt.pdf" to button "Receipt" [e1]; field has "receipt.pdf"'
    several = await executor.execute(UploadFile(ref="e2", paths=["a.csv", "b.csv"]), refs=refs)
    assert several.field_value == "a.csv, b.csv"
    picker = await executor.execute(UploadFile(ref="e3", paths=["scan.png"]), refs=refs)
    assert picker.ok, picker.message
    assert picker.field_value == "scan.png"

    await executor.execute(Click(ref="e4"), refs=refs)
    sent = recorder.last().files
    assert sent["receipt"] == ("receipt.pdf", b"%PDF-1.4 receipt")
    assert sent["scan"] == ("scan.png", b"PNGDATA")


async def test_wait_for_text_spinner_and_network(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#load", "e2": "#spinner", "e3": "#totals"})
    await executor.execute(Click(ref="e1"), refs=refs)
    assert await page.is_visible("#spinner")

    idle = await executor.execute(WaitFor(state="network_idle", timeout_s=5), refs=refs)
    assert idle.ok, idle.message
    assert idle.message.startswith("the network is idle (after ")
    assert await page.text_content("#totals") == "Total: 1,250.00"

    shown = await executor.execute(WaitFor(text="1,250.00", ref="e3"), refs=refs)
    assert shown.ok
    assert shown.message.startswith('"1,250.00" in generic [e3] is visible (after ')
    hidden = await executor.execute(WaitFor(ref="e2", state="hidden"), refs=refs)
    assert hidden.ok
    assert hidden.message.startswith('generic "Loading..." [e2] is hidden')


async def test_wait_for_that_never_happens_times_out_cleanly(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    outcome = await executor.execute(WaitFor(text="Payment received", timeout_s=0.4), refs=NO_REFS)
    assert (outcome.ok, outcome.error) == (False, "ActionFailedError")
    assert outcome.message == 'waited 0.4 s, but "Payment received" did not become visible'
    assert outcome.duration_ms < 2000


async def test_slow_link_waits_for_the_new_page(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#slow-link"})
    outcome = await executor.execute(Click(ref="e1"), refs=refs)
    assert outcome.ok
    assert outcome.navigated
    assert outcome.url_after == f"{server.url}/slow?ms=600"
    # The outcome arrives once the new page is there, so the next observation sees it.
    assert await page.title() == "Result"


async def test_click_on_a_link_to_a_page_slower_than_the_budget(page: Page, server: LocalServer) -> None:
    quick = ActionExecutor(tabs=ContextTabs(page=page), action_timeout_s=1)
    await page.goto(f"{server.url}/page.html")
    await page.eval_on_selector("#slow-link", "a => { a.href = '/slow?ms=3000'; }")
    refs = await stamp(page, {"e1": "#slow-link", "e2": "#add"})
    outcomes = await quick.execute_many([Click(ref="e1"), Click(ref="e2")], refs=refs)
    # The click happened; only the next page is late. Nothing else runs on the page being left.
    assert outcomes[0].ok, outcomes[0].message
    assert outcomes[0].message.startswith('clicked link "Slow report" [e1]; ')
    assert outcomes[0].duration_ms < 5000
    assert not outcomes[1].executed
    await page.wait_for_url(f"{server.url}/slow?ms=3000")
