"""SkillContext on fixture pages: locator chains, steps through the executor, approvals, secrets, results."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import structlog
from playwright.async_api import Browser, Page

from operator_agent.errors import (
    ApprovalDeniedError,
    ConfigurationError,
    ElementNotFoundError,
    SkillError,
    SkillFailedError,
)
from operator_agent.guardrails.approval import ApprovalRequest, CallbackApprover, PolicyApprover
from operator_agent.models import ScriptedModel, reply, tool_call
from operator_agent.models.scripted import ModelRequest
from operator_agent.skills import SkillContext, approval_callback, skill
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "skills"


@pytest.fixture(scope="module")
def pages() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


@pytest.fixture(scope="module")
async def tab(browser: Browser) -> AsyncIterator[Page]:
    """One tab for the whole module: each test loads its page afresh, which is much cheaper."""
    context = await browser.new_context(accept_downloads=True)
    yield await context.new_page()
    await context.close()


@pytest.fixture
async def widgets(pages: LocalServer, tab: Page) -> Page:
    await tab.goto(f"{pages.url}/widgets.html")
    return tab


async def events(page: Page) -> list[str]:
    return await page.locator("#log li").all_inner_texts()


class Approvals:
    """An approve callback that records what it was asked and answers as told."""

    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str | None, dict[str, Any]]] = []

    async def __call__(self, kind: str, target: str | None, arguments: dict[str, Any]) -> bool:
        self.asked.append((kind, target, arguments))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


# -- locator chains ---------------------------------------------------------------------------------


STRATEGIES: list[tuple[dict[str, Any], str]] = [
    ({"role": "button", "name": "Save"}, "Save"),  # the whole name wins over "Save draft"
    ({"name": "Save draft"}, "Save draft"),
    ({"label": "Request title"}, "title"),
    ({"name": "Cost centre"}, "centre"),  # a label wrapping its input
    ({"placeholder": "e.g. CC-1200"}, "centre"),
    ({"test_id": "notes-box"}, ""),
    ({"id": "priority"}, "priority"),
    ({"text": "Dana Lee"}, "Dana Lee"),
    ({"css": "input[name=requester]"}, "requester"),
    ({"role": "button", "name": "Request approval"}, "Request approval"),  # inside a shadow root
    ({"name": "Check budget"}, "Check budget"),  # inside an iframe
]


async def test_locate_finds_one_visible_element_by_each_strategy(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets, locate_timeout_s=2)
    for query, expected in STRATEGIES:
        found = await ctx.locate(**query)
        assert await found.count() == 1, query
        described = await found.evaluate("(el) => el.getAttribute('name') || el.innerText || el.id")
        assert described.strip() == expected, query


async def test_locate_lists_every_strategy_when_nothing_or_too_much_matches(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets)
    with pytest.raises(ElementNotFoundError) as ambiguous:
        await ctx.locate(role="button", name="Delete", timeout_s=0.3)
    assert ambiguous.value.tried == [
        'role=button name "Delete" (whole text): 2 visible elements (ambiguous)',
        'role=button name "Delete" (contains): 2 visible elements (ambiguous)',
    ]
    with pytest.raises(ElementNotFoundError) as hidden:
        await ctx.locate(name="Archive", timeout_s=0.3)
    assert 'text "Archive" (whole text): no visible element (1 hidden)' in hidden.value.tried
    assert "no single visible element matches" in str(hidden.value)
    assert widgets.url in str(hidden.value)
    with pytest.raises(ConfigurationError, match="unknown ARIA role"):
        await ctx.locate(role="buton", name="Save")
    with pytest.raises(ConfigurationError, match="at least one of"):
        await ctx.locate()


async def test_locate_within_an_element(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets)
    section = await ctx.locate(role="region", name="Attachments")
    with pytest.raises(ElementNotFoundError):
        await ctx.locate(role="button", name="Save", within=section, timeout_s=0.2)
    assert await (await ctx.locate(text="Approver", within=section)).count() == 1


async def test_locate_waits_for_an_element_that_appears_later(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets)
    await widgets.evaluate(
        "setTimeout(() => { const b = document.createElement('button'); b.textContent = 'Late'; "
        "document.body.append(b); }, 300)"
    )
    assert await (await ctx.locate(role="button", name="Late", timeout_s=3)).count() == 1


# -- steps through the executor -----------------------------------------------------------------------


async def test_helpers_act_on_the_page_and_record_each_step(widgets: Page, tmp_path: Path) -> None:
    (tmp_path / "quote.pdf").write_bytes(b"%PDF-1.4\n")
    seen = []
    ctx = SkillContext(tabs=_tabs(widgets), run_dir=tmp_path, on_step=seen.append)
    await ctx.fill("Request title", "New laptops")
    await ctx.select(await ctx.locate(label="Priority"), "High")
    await ctx.check("Rush order")
    await ctx.upload(await ctx.locate(label="Quote"), "quote.pdf")
    await ctx.click(await ctx.locate(role="button", name="Request approval"))
    outcome = await ctx.click("Save")
    assert outcome.ok
    assert await events(widgets) == [
        "priority high",
        "rush true",
        "quote quote.pdf",
        "approval requested",
        "saved",
    ]
    assert await widgets.locator("#title").input_value() == "New laptops"
    steps = ctx.steps
    assert [s.kind for s in steps] == ["fill", "select_option", "check", "upload_file", "click", "click"]
    assert [s.number for s in steps] == [1, 2, 3, 4, 5, 6]
    assert steps[0].target is not None
    assert 'textbox "Request title"' in steps[0].target
    assert 'field shows "New laptops"' in steps[0].message
    assert seen == steps


async def test_a_failing_step_raises_a_typed_error_with_the_executor_message(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets, action_timeout_s=1)
    with pytest.raises(Exception, match=r"cannot fill .*Rush order.*checkbox") as info:
        await ctx.fill("Rush order", "yes")
    assert type(info.value).__name__ == "InvalidActionError"
    assert ctx.steps[-1].ok is False


async def test_an_element_re_rendered_before_the_click_is_still_clicked(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets)
    button = await ctx.locate(role="button", name="Refresh totals")
    await ctx.press("Tab", target=button)  # stamps the element with a ref
    await widgets.evaluate("rerenderFlaky()")
    await ctx.click(button)
    assert await events(widgets) == ["totals refreshed"]


async def test_download_saves_into_the_run_folder(widgets: Page, tmp_path: Path) -> None:
    ctx = SkillContext.for_page(widgets, run_dir=tmp_path)
    path = await ctx.download("Export report")
    assert path == tmp_path / "downloads" / "report.csv"
    assert path.read_text() == "date,amount\n2026-11-01,12.50\n"


# -- approvals -----------------------------------------------------------------------------------------


async def test_an_irreversible_step_asks_and_a_denial_does_nothing(widgets: Page) -> None:
    approvals = Approvals(False)
    ctx = SkillContext.for_page(widgets, approve=approvals)
    await ctx.fill("Request title", "Laptops")  # reversible: not asked
    with pytest.raises(ApprovalDeniedError) as info:
        await ctx.click("Submit request", irreversible=True)
    assert info.value.kind == "click"
    assert approvals.asked == [("click", info.value.target, {"skill": None})]
    assert info.value.target is not None
    assert 'button "Submit request"' in info.value.target
    assert await events(widgets) == []
    assert ctx.steps[-1].kind == "approval"
    assert not ctx.steps[-1].ok


async def test_an_approved_irreversible_step_runs(widgets: Page) -> None:
    approvals = Approvals(True)
    ctx = SkillContext.for_page(widgets, approve=approvals)
    await ctx.fill("Request title", "Laptops")
    await ctx.click("Submit request", irreversible=True)
    assert await events(widgets) == ["submitted Laptops"]
    assert len(approvals.asked) == 1


async def test_a_failing_approver_denies(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets, approve=Approvals(RuntimeError("queue down")))
    with pytest.raises(ApprovalDeniedError, match="the approver failed"):
        await ctx.click("Submit request", irreversible=True)
    assert await events(widgets) == []


@skill(irreversible=True)
async def submit_request(ctx: SkillContext, *, title: str) -> str:
    """Submit a purchase request.

    Args:
        title: The request's title.
    """
    await ctx.fill("Request title", title)
    await ctx.click("Submit request", irreversible=True)
    return "submitted"


async def test_an_irreversible_skill_asks_once_with_its_arguments(widgets: Page) -> None:
    approvals = Approvals(True)
    ctx = SkillContext.for_page(widgets, approve=approvals)
    assert await submit_request(ctx, title="Chairs") == "submitted"
    assert approvals.asked == [("submit_request", "skill submit_request", {"title": "Chairs"})]
    assert await events(widgets) == ["submitted Chairs"]


async def test_a_denied_irreversible_skill_takes_no_step(widgets: Page) -> None:
    approvals = Approvals(False)
    ctx = SkillContext.for_page(widgets, approve=approvals)
    result = await submit_request.invoke(ctx, '{"title": "Chairs"}')
    assert not result.ok
    assert result.denied
    assert [s.kind for s in result.steps] == ["approval"]
    assert "no irreversible step was carried out" in result.message
    assert await widgets.locator("#title").input_value() == ""
    assert await events(widgets) == []


# -- the model-facing path ----------------------------------------------------------------------------


@skill
async def request_laptops(ctx: SkillContext, *, count: int, priority: str = "Low") -> dict[str, Any]:
    """Ask for laptops.

    Args:
        count: How many.
        priority: Low or High.
    """
    await ctx.fill("Request title", f"{count} laptops")
    await ctx.select(await ctx.locate(label="Priority"), priority)
    if priority == "High":
        raise SkillFailedError("high priority needs a cost centre", step="check priority")
    await ctx.click("Save draft")
    return {"title": f"{count} laptops"}


async def test_invoke_runs_valid_arguments_and_reports_value_and_steps(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets)
    result = await request_laptops.invoke(ctx, '{"count": "3"}')
    assert result.ok
    assert result.value == {"title": "3 laptops"}
    assert [s.kind for s in result.steps] == ["fill", "select_option", "click"]
    assert result.message.startswith("skill 'request_laptops' finished (3 steps); result: ")
    assert await events(widgets) == ["priority low", "draft saved"]


INVALID_ARGUMENTS = [
    ("{not json", "are not valid JSON"),
    ("[1, 2]", "must be a JSON object, not list"),
    ('{"count": "many"}', "'count'"),
    ('{"count": 1, "colour": "red"}', "unexpected argument 'colour'"),
    ("", "'count' is required"),
]


async def test_invoke_returns_invalid_arguments_as_a_message_without_acting(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets)
    for arguments, expected in INVALID_ARGUMENTS:
        result = await request_laptops.invoke(ctx, arguments)
        assert not result.ok
        assert result.error == "InvalidArguments"
        assert expected in result.message
        assert result.steps == ()
    assert await events(widgets) == []


async def test_invoke_reports_which_step_failed(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets)
    result = await request_laptops.invoke(ctx, '{"count": 2, "priority": "High"}')
    assert not result.ok
    assert result.error == "SkillFailedError"
    assert result.failed_step == "check priority"
    assert result.message == (
        "skill 'request_laptops' failed at check priority: high priority needs a cost centre; "
        "no irreversible step was carried out"
    )
    missing = await request_laptops.invoke(ctx, '{"count": 2, "priority": "Urgent"}')
    assert missing.error == "InvalidActionError"
    assert missing.failed_step is not None
    assert "select_option" in missing.failed_step
    assert 'has no option "Urgent"' in missing.message


# -- secrets -------------------------------------------------------------------------------------------


@skill
async def sign_requester(ctx: SkillContext, *, secret_name: str) -> str:
    """Type a secret into the requester field.

    Args:
        secret_name: Which secret.
    """
    await ctx.fill(await ctx.locate(label="Requester"), secret=secret_name)
    return "done"


async def test_secret_values_never_reach_steps_results_or_logs(widgets: Page) -> None:
    value = "hunter2-SECRET"
    ctx = SkillContext.for_page(widgets, secrets={"requester": value})
    with structlog.testing.capture_logs() as logs:
        result = await sign_requester.invoke(ctx, '{"secret_name": "requester"}')
    assert result.ok
    assert await widgets.locator("input[name=requester]").input_value() == value
    assert value not in result.model_dump_json()
    assert value not in repr(logs)
    assert 'from secret "requester"' in result.steps[0].message
    unknown = await sign_requester.invoke(ctx, '{"secret_name": "nope"}')
    assert not unknown.ok
    assert 'there is no secret named "nope"' in unknown.message
    with pytest.raises(SkillError, match='the secrets of this run are: "requester"'):
        ctx.secret("nope")


async def test_fill_totp_types_the_current_code_without_showing_it(widgets: Page) -> None:
    seed = pyotp.random_base32()
    ctx = SkillContext.for_page(widgets, secrets={"otp": seed})
    outcome = await ctx.fill_totp("Request title", secret="otp")
    shown = await widgets.locator("#title").input_value()
    assert pyotp.TOTP(seed).verify(shown, valid_window=1)
    assert shown not in outcome.message
    assert outcome.field_value is None
    with pytest.raises(SkillError, match="not a base32 TOTP seed"):
        SkillContext.for_page(widgets, secrets={"bad": "not base32!"}).totp("bad")


# -- model-assisted steps --------------------------------------------------------------------------------


async def test_act_needs_a_model(widgets: Page) -> None:
    ctx = SkillContext.for_page(widgets)
    with pytest.raises(SkillError, match="needs a model"):
        await ctx.act("save the draft")


def _click_named(name: str) -> Any:
    def answer(request: ModelRequest) -> Any:
        content = request.messages[-1].content or ""
        ref = re.search(r"\[(\w+)\] button \"" + re.escape(name) + '"', str(content))
        assert ref is not None, "the observation lists the button"
        return tool_call("click", ref=ref.group(1), reason="do the step")

    return answer


async def test_act_runs_the_models_actions_through_the_executor(widgets: Page) -> None:
    model = ScriptedModel([_click_named("Save draft")])
    ctx = SkillContext.for_page(widgets, model=model)
    outcomes = await ctx.act("save the draft")
    assert [o.ok for o in outcomes] == [True]
    assert await events(widgets) == ["draft saved"]
    assert model.calls[0].tool_names[0] == "click"
    assert "done" not in model.calls[0].tool_names
    assert ctx.steps[-1].kind == "click"


async def test_act_asks_approval_for_actions_the_model_marks_irreversible(widgets: Page) -> None:
    def submit(request: ModelRequest) -> Any:
        content = str(request.messages[-1].content)
        ref = re.search(r'\[(\w+)\] button "Submit request"', content)
        assert ref is not None
        return tool_call("click", ref=ref.group(1), irreversible=True)

    approvals = Approvals(False)
    ctx = SkillContext.for_page(widgets, model=ScriptedModel([submit]), approve=approvals)
    with pytest.raises(ApprovalDeniedError):
        await ctx.act("submit the request")
    assert await events(widgets) == []
    assert approvals.asked[0][0] == "click"


async def test_extract_reads_typed_data_with_one_model_call(widgets: Page) -> None:
    model = ScriptedModel([reply(tool_call("return_data", data={"approver": "Dana Lee"}))])
    ctx = SkillContext.for_page(widgets, model=model)
    data = await ctx.extract(dict[str, str], instruction="who approves?")
    assert data == {"approver": "Dana Lee"}
    assert "Dana Lee" in str(model.calls[0].messages[-1].content)
    assert ctx.steps[-1].kind == "extract"


def _tabs(page: Page) -> Any:
    from operator_agent.act import ContextTabs

    return ContextTabs(page=page)


async def test_an_approver_decides_through_approval_callback(widgets: Page) -> None:
    requests: list[ApprovalRequest] = []

    def decide(request: ApprovalRequest) -> bool:
        requests.append(request)
        return request.kind == "submit_request"

    tabs = _tabs(widgets)
    approve = approval_callback(CallbackApprover(decide), run_id="run-7", tabs=tabs, step=lambda: 3)
    ctx = SkillContext(tabs=tabs, approve=approve)
    assert await submit_request(ctx, title="Desks") == "submitted"
    assert [(r.run_id, r.step, r.kind, r.url) for r in requests] == [
        ("run-7", 3, "submit_request", widgets.url)
    ]
    assert requests[0].reason == "skill 'submit_request' is irreversible: it asks once, before it starts"
    assert requests[0].arguments == {"title": "Desks"}
    denied = SkillContext(
        tabs=tabs, approve=approval_callback(PolicyApprover(mode="deny"), run_id="r", tabs=tabs)
    )
    with pytest.raises(ApprovalDeniedError):
        await denied.click("Save", irreversible=True)
    assert await events(widgets) == ["submitted Desks"]


async def test_run_standalone_starts_its_own_browser(pages: LocalServer, tmp_path: Path) -> None:
    result = await request_laptops.run_standalone(
        start_url=f"{pages.url}/widgets.html", run_dir=tmp_path, count=5
    )
    assert result == {"title": "5 laptops"}
    with pytest.raises(ConfigurationError, match="'count' is required"):
        await request_laptops.run_standalone(start_url=f"{pages.url}/widgets.html")
