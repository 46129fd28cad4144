"""Bad refs, bad arguments and uncooperative pages become precise outcomes, never exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page

from operator_agent.act import ActionExecutor, ContextTabs
from operator_agent.actions import (
    AskHuman,
    Check,
    Click,
    Done,
    Extract,
    Hover,
    Navigate,
    Press,
    SelectOption,
    Uncheck,
    UploadFile,
)
from operator_agent.errors import ConfigurationError
from operator_agent.observe.refs import REF_ATTRIBUTE
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


@pytest.fixture
def quick(page: Page) -> ActionExecutor:
    """For actions that are expected to time out."""
    return ActionExecutor(tabs=ContextTabs(page=page), action_timeout_s=1.5)


async def test_unknown_ref(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#add", "e2": "#dbl"})
    outcome = await executor.execute(Click(ref="e9"), refs=refs)
    assert (outcome.ok, outcome.error, outcome.navigated) == (False, "UnknownRefError", False)
    assert outcome.message.startswith(
        "unknown element ref 'e9': the current observation lists 2 refs such as e1, e2"
    )
    assert await page.text_content("#count") == "0"


async def test_stale_ref_recovered_by_role_and_name(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#toolbar .approve", "e2": "#refresh-toolbar"})
    await executor.execute(Click(ref="e2"), refs=refs)  # the toolbar re-renders its Approve button
    assert await page.locator(f"[{REF_ATTRIBUTE}=e1]").count() == 0

    outcome = await executor.execute(Click(ref="e1"), refs=refs)
    assert outcome.ok, outcome.message
    assert outcome.message == (
        'e1 had been re-rendered; acted on the button "Approve" that took its place; '
        'clicked button "Approve" [e1]'
    )
    assert await page.text_content("#approved") == "1"
    # The successor now carries the ref, so the next action finds it directly.
    again = await executor.execute(Click(ref="e1"), refs=refs)
    assert again.message == 'clicked button "Approve" [e1]'
    assert await page.text_content("#approved") == "2"


@pytest.mark.parametrize(
    ("breaker", "found"),
    [("#clear-toolbar", "no element"), ("#double-toolbar", "2 elements")],
)
async def test_stale_ref_not_recovered(
    page: Page, server: LocalServer, executor: ActionExecutor, breaker: str, found: str
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#toolbar .approve"})
    await page.click(breaker)
    outcome = await executor.execute(Click(ref="e1"), refs=refs)
    assert (outcome.ok, outcome.error) == (False, "StaleRefError")
    assert outcome.message == (
        f'button "Approve" [e1] is no longer on the page (it was re-rendered or removed), and {found} with '
        "that role and name took its place; observe the page again"
    )
    assert await page.text_content("#approved") == "0"


async def test_wrong_kind_of_element(
    page: Page, server: LocalServer, executor: ActionExecutor, quick: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/form.html")
    refs = await stamp(page, {"e1": "#name", "e2": "#save", "e3": "#low", "e4": "#terms", "e5": "#locked"})
    cases = [
        (SelectOption(ref="e1", values=["x"]), 'cannot select_option on textbox "Full name" [e1]: it is '),
        (Check(ref="e2"), 'cannot check button "Save vendor" [e2]: it is <button>, not a checkbox'),
        (
            Uncheck(ref="e3"),
            'cannot uncheck radio "Low" [e3]: a radio button is unchecked by checking another',
        ),
        (
            SelectOption(ref="e4", values=["Net 90"]),
            'combobox "Payment terms" [e4] has no option "Net 90"; its ',
        ),
        (
            SelectOption(ref="e4", values=["Net 60"]),
            'the option "Net 60" of combobox "Payment terms" [e4] is disabled',
        ),
        (SelectOption(ref="e4", values=["Net 15", "Net 30"]), "takes one option, but 2 were given"),
    ]
    for action, expected in cases:
        outcome = await executor.execute(action, refs=refs)
        assert (outcome.ok, outcome.error) == (False, "InvalidActionError"), outcome.message
        assert expected in outcome.message
    listing = await executor.execute(SelectOption(ref="e4", values=["Net 90"]), refs=refs)
    assert listing.message.endswith(
        'its options are "Choose...", "Net 15", "Net 30", "Net 60", "Cash on delivery"'
    )
    assert await page.input_value("#terms") == ""
    assert await page.is_checked("#low")

    disabled = await quick.execute(Click(ref="e5"), refs=refs)
    assert (disabled.ok, disabled.error) == (False, "ActionFailedError")
    assert disabled.message == 'could not click button "Locked" [e5] within 1.5 s: it is disabled'


async def test_hidden_element_and_unknown_key(
    page: Page, server: LocalServer, executor: ActionExecutor, quick: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#hidden-btn"})
    hidden = await quick.execute(Hover(ref="e1"), refs=refs)
    assert (hidden.ok, hidden.error) == (False, "ActionFailedError")
    assert hidden.message.startswith(
        'could not hover button "Invisible" [e1] within 1.5 s: it is not visible'
    )
    assert hidden.duration_ms < 4000

    key = await executor.execute(Press(keys="Ctrl+Foo"), refs=refs)
    assert (key.ok, key.error) == (False, "InvalidActionError")
    assert key.message.startswith('"Ctrl+Foo" is not a key name; use names such as Enter, Tab')


async def test_overlay_that_goes_away_is_waited_out(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#flash-overlay", "e2": "#covered"})
    await executor.execute(Click(ref="e1"), refs=refs)
    assert await page.locator("#overlay").count() == 1
    outcome = await executor.execute(Click(ref="e2"), refs=refs)
    assert outcome.ok, outcome.message
    assert await page.text_content("#covered-count") == "1"


async def test_overlay_that_stays_is_named_and_nothing_is_clicked(
    page: Page, server: LocalServer, executor: ActionExecutor, quick: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {"e1": "#block", "e2": "#covered"})
    await executor.execute(Click(ref="e1"), refs=refs)
    outcome = await quick.execute(Click(ref="e2"), refs=refs)
    assert (outcome.ok, outcome.error) == (False, "ActionFailedError")
    assert outcome.message == (
        'could not click button "Covered action" [e2]: another element, <div id="overlay"></div>, covers it '
        "for 1.5 s; close or finish that first (a dialog or overlay?)"
    )
    assert await page.text_content("#covered-count") == "0"


async def test_bad_upload_paths(page: Page, server: LocalServer, tmp_path: Path) -> None:
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "receipt.pdf").write_bytes(b"%PDF")
    (uploads / "b.pdf").write_bytes(b"%PDF")
    (tmp_path / "secret.key").write_text("private")
    executor = ActionExecutor(tabs=ContextTabs(page=page), upload_dirs=[uploads], action_timeout_s=1.5)
    await page.goto(f"{server.url}/upload.html")
    refs = await stamp(page, {"e1": "#receipt", "e2": "#plain"})
    cases = [
        (
            ["../secret.key"],
            'cannot upload "../secret.key": it is outside the folder of files you may upload',
        ),
        ([str(tmp_path / "secret.key")], "it is outside the folder of files you may upload"),
        (["missing.pdf"], 'cannot upload "missing.pdf": it does not exist; the files you may upload are '),
        (["receipt.pdf", "b.pdf"], 'button "Receipt" [e1] takes one file, but 2 were given'),
    ]
    for paths, expected in cases:
        outcome = await executor.execute(UploadFile(ref="e1", paths=paths), refs=refs)
        assert (outcome.ok, outcome.error) == (False, "InvalidActionError"), outcome.message
        assert expected in outcome.message
    assert await page.eval_on_selector("#receipt", "el => el.files.length") == 0

    not_a_field = await executor.execute(UploadFile(ref="e2", paths=["receipt.pdf"]), refs=refs)
    assert not_a_field.error == "InvalidActionError"
    assert "not a file field, and clicking it did not open a file picker" in not_a_field.message

    disabled = ActionExecutor(tabs=ContextTabs(page=page))
    refused = await disabled.execute(UploadFile(ref="e1", paths=["receipt.pdf"]), refs=refs)
    assert refused.message == "file uploads are not enabled for this run: no upload folder is configured"


async def test_navigate_refuses_other_schemes(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/page.html")
    refs = await stamp(page, {})
    for url in ("javascript:alert(1)", "file:///etc/passwd", "chrome://settings"):
        outcome = await executor.execute(Navigate(url=url), refs=refs)
        assert (outcome.ok, outcome.error, outcome.navigated) == (False, "InvalidActionError", False)
        assert "only http and https addresses can be opened" in outcome.message
    assert page.url == f"{server.url}/page.html"


async def test_unreachable_site(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/page.html")
    with LocalServer(handler=lambda *args: None) as closed:  # bind a port, then free it
        url = f"{closed.url}/"
    outcome = await executor.execute(Navigate(url=url), refs=await stamp(page, {}))
    assert (outcome.ok, outcome.error) == (False, "ActionFailedError")
    assert outcome.message.startswith(f"could not open {url}: net::ERR_CONNECTION_REFUSED")


async def test_agent_actions_are_not_carried_out_on_the_page(page: Page, executor: ActionExecutor) -> None:
    refs = await stamp(page, {})
    for action in (
        Done(output={"total": 3}),
        AskHuman(question="Which vendor?"),
        Extract(instruction="totals"),
    ):
        outcome = await executor.execute(action, refs=refs)
        assert (outcome.ok, outcome.error) == (False, "InvalidActionError")
        assert outcome.message == f"'{action.kind}' is not carried out on the page: the agent loop handles it"


async def test_executor_settings_are_checked(page: Page) -> None:
    with pytest.raises(ConfigurationError, match="action_timeout_s must be positive"):
        ActionExecutor(tabs=ContextTabs(page=page), action_timeout_s=0)
    with pytest.raises(ConfigurationError, match="max_attempts must be at least 1"):
        ActionExecutor(tabs=ContextTabs(page=page), max_attempts=0)
