"""Filling fields so the page's own scripts take the value: masks, comboboxes, dates, secrets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Page
from structlog.testing import capture_logs

from operator_agent.act import ActionExecutor, ContextTabs
from operator_agent.actions import Click, Fill
from operator_agent.observe.refs import SECRET_ATTRIBUTE
from operator_agent.testing.site_server import LocalServer
from tests.browser.test_act_support import Recorder, recording_server, stamp

SECRET = "Tr0ub4dor&3-horse"


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
    return ActionExecutor(
        tabs=ContextTabs(page=page),
        secrets={"erp_password": SECRET, "api_token": "tok-123456"},
        action_timeout_s=5,
    )


WIDGETS = {
    "e1": "#phone",
    "e2": "#due",
    "e3": "#issued",
    "e4": "#company",
    "e5": "#reference",
    "e6": "#amount",
    "e7": "#meeting",
    "e8": "#submit",
    "e10": "#quantity",
}


async def test_masked_input_and_js_date_widget_register_with_the_server(
    page: Page, server: LocalServer, recorder: Recorder, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/widgets.html")
    refs = await stamp(page, WIDGETS)

    phone = await executor.execute(Fill(ref="e1", text="555-123-4567"), refs=refs)
    assert phone.ok, phone.message
    assert phone.field_value == "(555) 123-4567"
    assert phone.message == (
        'filled textbox "Phone" [e1] by typing it key by key (the field ignored a direct fill); '
        'field shows "(555) 123-4567"'
    )

    due = await executor.execute(Fill(ref="e2", text="2026-12-31"), refs=refs)
    assert due.ok, due.message
    assert due.field_value == "31/12/2026"
    assert due.message.startswith('wrote "2026-12-31" as "31/12/2026" (the field\'s format is DD/MM/YYYY); ')

    await executor.execute(Click(ref="e8"), refs=refs)
    fields = recorder.last().fields
    assert fields["phone_digits"] == ["5551234567"]
    assert fields["due_iso"] == ["2026-12-31"]


@pytest.mark.parametrize(
    "written", ["31/12/2026", "12/31/2026", "2026-12-31", "Dec 31, 2026", "31 December 2026"]
)
async def test_native_date_takes_a_persons_format(
    page: Page, server: LocalServer, executor: ActionExecutor, written: str
) -> None:
    await page.goto(f"{server.url}/widgets.html")
    refs = await stamp(page, WIDGETS)
    outcome = await executor.execute(Fill(ref="e3", text=written), refs=refs)
    assert outcome.ok, outcome.message
    assert outcome.field_value == "2026-12-31"
    assert await page.input_value("#issued") == "2026-12-31"
    assert outcome.message.endswith('filled textbox "Issued on" [e3]; field shows "2026-12-31"')


async def test_ambiguous_native_date_is_refused_and_leaves_the_field(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/widgets.html")
    refs = await stamp(page, WIDGETS)
    outcome = await executor.execute(Fill(ref="e3", text="05/06/2026"), refs=refs)
    assert (outcome.ok, outcome.error) == (False, "InvalidActionError")
    assert "'05/06/2026' is ambiguous" in outcome.message
    assert await page.input_value("#issued") == ""


async def test_datetime_local(page: Page, server: LocalServer, executor: ActionExecutor) -> None:
    await page.goto(f"{server.url}/widgets.html")
    refs = await stamp(page, WIDGETS)
    outcome = await executor.execute(Fill(ref="e7", text="Dec 31, 2026 2:30 PM"), refs=refs)
    assert outcome.field_value == "2026-12-31T14:30"
    assert await page.input_value("#meeting") == "2026-12-31T14:30"


async def test_autocomplete_reports_the_options_typing_brought_up(
    page: Page, server: LocalServer, recorder: Recorder, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/widgets.html")
    refs = await stamp(page, WIDGETS)
    outcome = await executor.execute(Fill(ref="e4", text="acme"), refs=refs)
    assert outcome.ok, outcome.message
    assert outcome.field_value == "acme"
    assert outcome.message == (
        'filled combobox "Company" [e4] by typing it key by key '
        '(no suggestions appeared without keystrokes); field shows "acme"; '
        '2 option(s) appeared: "Acme Corporation", "Acme Logistics"; pick one to choose it'
    )
    options = await stamp(page, {"e9": "#company-list li:nth-child(2)"})
    picked = await executor.execute(Click(ref="e9"), refs=options)
    assert picked.ok
    await executor.execute(Click(ref="e8"), refs=refs)
    assert recorder.last().fields["company_id"] == ["c2"]


async def test_number_field_takes_an_amount_written_with_grouping(
    page: Page, server: LocalServer, recorder: Recorder, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/widgets.html")
    refs = await stamp(page, WIDGETS)
    outcome = await executor.execute(Fill(ref="e10", text="$1,234.50"), refs=refs)
    assert outcome.ok, outcome.message
    assert outcome.message == (
        'wrote "$1,234.50" as "1234.50" for the number field; filled textbox "Quantity" [e10]; '
        'field shows "1234.50"'
    )
    await executor.execute(Click(ref="e8"), refs=refs)
    assert recorder.last().fields["quantity"] == ["1234.50"]


async def test_text_that_does_not_fit_is_reported_with_what_the_field_shows(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/widgets.html")
    refs = await stamp(page, WIDGETS)
    outcome = await executor.execute(Fill(ref="e6", text="12345678"), refs=refs)
    assert (outcome.ok, outcome.error) == (False, "ActionFailedError")
    assert outcome.field_value == "123456"
    assert outcome.message.endswith('the field shows "123456"')


async def test_fields_that_cannot_be_filled(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/widgets.html")
    refs = await stamp(page, WIDGETS)
    read_only = await executor.execute(Fill(ref="e5", text="INV-9"), refs=refs)
    assert (read_only.ok, read_only.error) == (False, "InvalidActionError")
    assert read_only.message == 'cannot fill textbox "Reference" [e5]: it is read-only'
    assert await page.input_value("#reference") == "INV-0001"

    button = await executor.execute(Fill(ref="e8", text="x"), refs=refs)
    assert button.error == "InvalidActionError"
    assert button.message.startswith(
        'cannot fill button "Create invoice" [e8]: it is <button>, not a text field'
    )

    await page.goto(f"{server.url}/form.html")
    form = await stamp(page, {"e1": "#terms", "e2": "#urgent"})
    select = await executor.execute(Fill(ref="e1", text="Net 30"), refs=form)
    assert select.message.endswith("use select_option to choose one of its options")
    checkbox = await executor.execute(Fill(ref="e2", text="yes"), refs=form)
    assert checkbox.message.endswith("use check or uncheck")


async def test_contenteditable_and_submit_with_enter(
    page: Page, server: LocalServer, recorder: Recorder, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/form.html")
    refs = await stamp(page, {"e1": "#comment", "e2": "#name"})
    comment = await executor.execute(Fill(ref="e1", text="Checked by finance"), refs=refs)
    assert comment.field_value == "Checked by finance"

    submitted = await executor.execute(Fill(ref="e2", text="Grace Hopper", submit=True), refs=refs)
    assert submitted.ok
    assert submitted.navigated
    assert submitted.message.startswith(
        'filled textbox "Full name" [e2]; field shows "Grace Hopper"; pressed Enter'
    )
    assert submitted.url_after == f"{server.url}/submit"
    assert recorder.last().fields["name"] == ["Grace Hopper"]


async def test_secret_fill_types_the_value_but_never_reports_or_logs_it(
    page: Page, server: LocalServer, recorder: Recorder, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/form.html")
    refs = await stamp(page, {"e1": "#password", "e2": "#save"})
    with capture_logs() as logs:
        outcome = await executor.execute(Fill(ref="e1", secret="erp_password"), refs=refs)
    assert outcome.ok, outcome.message
    assert outcome.message == 'filled textbox "Password" [e1] from secret "erp_password"'
    assert outcome.field_value is None
    assert SECRET not in repr(outcome)
    assert await page.get_attribute("#password", SECRET_ATTRIBUTE) == "erp_password"
    action_lines = [line for line in logs if line.get("kind") == "fill"]
    assert action_lines == [
        {
            "event": "action",
            "kind": "fill",
            "ref": "e1",
            "ok": True,
            "duration_ms": outcome.duration_ms,
            "log_level": "info",
        }
    ]
    assert SECRET not in repr(logs)

    await executor.execute(Click(ref="e2"), refs=refs)
    assert recorder.last().fields["password"] == [SECRET]


async def test_secret_stays_hidden_when_the_fill_fails(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/form.html")
    refs = await stamp(page, {"e1": "#password"})
    # Hidden: Playwright times out, and its call log quotes the value it was asked to type.
    await page.eval_on_selector("#password", "el => { el.style.display = 'none'; }")
    quick = ActionExecutor(
        tabs=ContextTabs(page=page), secrets={"erp_password": SECRET}, action_timeout_s=0.6
    )
    with capture_logs() as logs:
        outcome = await quick.execute(Fill(ref="e1", secret="erp_password"), refs=refs)
    assert (outcome.ok, outcome.error) == (False, "ActionFailedError")
    assert SECRET not in outcome.message
    assert "it is not visible" in outcome.message
    assert [line["error"] for line in logs if line.get("kind") == "fill"] == ["ActionFailedError"]
    assert SECRET not in repr(logs)


async def test_unknown_secret_lists_only_names(
    page: Page, server: LocalServer, executor: ActionExecutor
) -> None:
    await page.goto(f"{server.url}/form.html")
    refs = await stamp(page, {"e1": "#password"})
    outcome = await executor.execute(Fill(ref="e1", secret="erp"), refs=refs)
    assert (outcome.ok, outcome.error) == (False, "InvalidActionError")
    assert (
        outcome.message
        == 'there is no secret named "erp"; the available secrets are "api_token", "erp_password"'
    )
    assert await page.input_value("#password") == ""
