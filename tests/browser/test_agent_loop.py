"""The agent loop's contract on a small fixture page: statuses, budgets, errors fed back to the
model, approvals, domains, traces — with scripted models and with the real OpenAIModel over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from operator_agent import (
    Agent,
    BrowserSession,
    Budget,
    CallbackApprover,
    FunctionModel,
    Message,
    OpenAIModel,
    ScriptedModel,
    SyncInAsyncError,
    ToolSpec,
    read_trace,
    tool_call,
)
from operator_agent.models import ModelRequest, raw_tool_call
from operator_agent.testing.fake_openai import FakeOpenAIServer
from operator_agent.testing.outline import find_ref
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "agent"


@pytest.fixture(scope="module")
def pages() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


@pytest.fixture
def start(pages: LocalServer) -> str:
    return pages.url + "/index.html"


def _agent(browser_session: BrowserSession, tmp_path: Path, model: object, **options: object) -> Agent:
    return Agent(model=model, browser=browser_session, trace_dir=tmp_path / "runs", **options)  # type: ignore[arg-type]


def _tool_results(request: ModelRequest) -> list[str]:
    return [m.content for m in request.messages if m.role == "tool"]


class Greeting(BaseModel):
    greeting: str
    total: float


async def test_multi_action_reply_then_typed_output(
    browser_session: BrowserSession, tmp_path: Path, start: str
):
    model = ScriptedModel(
        [
            lambda r: [
                tool_call("fill", ref=find_ref(r, "Name"), text="Ada"),
                tool_call("fill", ref=find_ref(r, "City"), text="Paris"),
                tool_call("click", ref=find_ref(r, "Greet")),
            ],
            lambda r: tool_call("done", output={"greeting": "Hello, Ada", "total": 42.5}, summary="greeted"),
        ]
    )
    result = await _agent(browser_session, tmp_path, model).run(
        "greet Ada", start_url=start, output_type=Greeting
    )
    assert result.status == "completed", result.reason
    assert result.output == Greeting(greeting="Hello, Ada", total=42.5)
    # The second request saw the three outcomes and the page after the click.
    results = _tool_results(model.calls[1])
    assert len(results) == 3
    assert 'field shows "Ada"' in results[0]
    assert "Hello, Ada" in model.calls[1].messages[-1].content
    model.assert_complete()


async def test_unknown_ref_goes_back_to_the_model(
    browser_session: BrowserSession, tmp_path: Path, start: str
):
    model = ScriptedModel([tool_call("click", ref="e999"), tool_call("done", output="ok")])
    result = await _agent(browser_session, tmp_path, model).run("x", start_url=start)
    assert result.status == "completed"
    feedback = _tool_results(model.calls[1])[0]
    assert "unknown element ref 'e999'" in feedback


async def test_malformed_tool_calls_are_re_asked_then_bounded(
    browser_session: BrowserSession, tmp_path: Path, start: str
):
    bad = raw_tool_call("click", '{"ref": "e1",')
    model = ScriptedModel([bad, bad, bad, tool_call("done", output="never reached")])
    result = await _agent(browser_session, tmp_path, model, budget=Budget(max_invalid_replies=3)).run(
        "x", start_url=start
    )
    assert result.status == "failed"
    assert "3 replies in a row without a usable tool call" in result.reason
    assert "not valid JSON" in _tool_results(model.calls[1])[0]
    assert model.remaining == 1


async def test_text_only_reply_is_reminded(browser_session: BrowserSession, tmp_path: Path, start: str):
    model = ScriptedModel(["I think I should click", tool_call("done", output="ok")])
    result = await _agent(browser_session, tmp_path, model).run("x", start_url=start)
    assert result.status == "completed"
    assert "no tool call" in model.calls[1].messages[-1].content


async def test_step_budget_ends_the_run(browser_session: BrowserSession, tmp_path: Path, start: str):
    model = FunctionModel(lambda messages, tools: tool_call("click", ref="e1", reason="count"))
    result = await _agent(browser_session, tmp_path, model, budget=Budget(max_steps=3)).run(
        "x", start_url=start
    )
    assert result.status == "budget_exhausted"
    assert "3 of 3 steps" in result.reason
    assert len(result.steps) == 3


async def test_token_budget_ends_the_run(browser_session: BrowserSession, tmp_path: Path, start: str):
    model = FunctionModel(lambda messages, tools: tool_call("click", ref="e1"))
    result = await _agent(browser_session, tmp_path, model, budget=Budget(max_tokens=5_000)).run(
        "x", start_url=start
    )
    assert result.status == "budget_exhausted"
    assert "token budget" in result.reason
    assert result.usage.input_tokens + result.usage.output_tokens >= 5_000


async def test_repeating_an_action_without_effect_is_reported_then_ends(
    browser_session: BrowserSession, tmp_path: Path, start: str
):
    requests: list[list[Message]] = []

    def stubborn(messages: list[Message], tools: list[ToolSpec]) -> object:
        requests.append(messages)
        return tool_call("click", ref=find_ref(messages[-1].content, "Does nothing"))

    result = await _agent(browser_session, tmp_path, FunctionModel(stubborn)).run("x", start_url=start)
    assert result.status == "failed"
    assert "stuck in a loop" in result.reason
    assert any("repeated the same actions" in m[-1].content for m in requests)
    assert len(result.steps) < 10


async def test_invalid_output_is_re_asked(browser_session: BrowserSession, tmp_path: Path, start: str):
    model = ScriptedModel(
        [
            tool_call("done", output={"greeting": "hi"}),
            tool_call("done", output={"greeting": "hi", "total": 1}),
        ]
    )
    result = await _agent(browser_session, tmp_path, model).run("x", start_url=start, output_type=Greeting)
    assert result.status == "completed"
    assert "does not match the required schema" in model.calls[1].messages[-1].content
    assert "total" in model.calls[1].messages[-1].content


@pytest.mark.parametrize(
    ("call", "status", "reason"),
    [
        (
            tool_call("done", output="x", confidence=0.3, summary="unsure"),
            "needs_review",
            "below the threshold",
        ),
        (tool_call("ask_human", question="Which vendor?"), "needs_review", "Which vendor?"),
        (tool_call("fail", reason="the invoice does not exist"), "failed", "does not exist"),
    ],
)
async def test_terminal_actions(
    browser_session: BrowserSession, tmp_path: Path, start: str, call: object, status: str, reason: str
):
    result = await _agent(browser_session, tmp_path, ScriptedModel([call])).run("x", start_url=start)  # type: ignore[list-item]
    assert result.status == status
    assert reason in result.reason
    assert result.output is None


async def test_denied_action_is_reported_and_nothing_happens(
    browser_session: BrowserSession, tmp_path: Path, start: str
):
    model = ScriptedModel(
        [
            tool_call("click", ref="e1", irreversible=True, reason="count up"),
            lambda r: tool_call("done", output=r.messages[-1].content.split("Count: ")[1][:1]),
        ]
    )
    result = await _agent(browser_session, tmp_path, model).run(
        "x", start_url=start
    )  # default approver denies
    assert result.status == "completed"
    assert "denied by policy:deny" in _tool_results(model.calls[1])[0]
    assert result.output == "0"  # the click never ran


async def test_denial_can_end_the_run(browser_session: BrowserSession, tmp_path: Path, start: str):
    model = ScriptedModel([tool_call("click", ref="e1", irreversible=True)])
    result = await _agent(browser_session, tmp_path, model, on_denial="stop").run("x", start_url=start)
    assert result.status == "denied"


async def test_approved_action_runs_exactly_once(browser_session: BrowserSession, tmp_path: Path, start: str):
    seen: list[str] = []
    model = ScriptedModel(
        [
            [tool_call("click", ref="e1", irreversible=True), tool_call("click", ref="e1")],
            lambda r: tool_call("done", output=r.messages[-1].content.split("Count: ")[1][:1]),
        ]
    )
    approver = CallbackApprover(lambda request: seen.append(request.summary()) is None)
    result = await _agent(browser_session, tmp_path, model, approver=approver).run("x", start_url=start)
    assert result.output == "2"
    assert len(seen) == 1
    assert 'button "Increment" [e1]' in seen[0]


async def test_requests_outside_the_allowlist_are_blocked(
    browser_session: BrowserSession, tmp_path: Path, start: str
):
    model = ScriptedModel(
        [tool_call("navigate", url="http://blocked.invalid/steal"), tool_call("done", output="ok")]
    )
    result = await _agent(browser_session, tmp_path, model, allowed_domains=["127.0.0.1"]).run(
        "x", start_url=start
    )
    assert result.status == "completed"
    second = model.calls[1]
    assert "http://blocked.invalid/steal was blocked" in second.messages[-1].content  # a notice
    assert "127.0.0.1" in json.dumps([s.url for s in result.steps])


async def test_wall_clock_budget(browser_session: BrowserSession, tmp_path: Path, start: str):
    async def slow(messages: list[Message], tools: list[ToolSpec]) -> object:
        await asyncio.sleep(30)
        return tool_call("done", output="late")

    agent = _agent(browser_session, tmp_path, FunctionModel(slow), budget=Budget(timeout_s=3))
    result = await agent.run("x", start_url=start)
    assert result.status == "budget_exhausted"
    assert "wall-clock" in result.reason


async def test_run_sync_refuses_a_running_loop(browser_session: BrowserSession, tmp_path: Path, start: str):
    agent = _agent(browser_session, tmp_path, ScriptedModel([]))
    with pytest.raises(SyncInAsyncError, match=r"await agent\.run"):
        agent.run_sync("x", start_url=start)


async def test_iter_steps_through_the_run(browser_session: BrowserSession, tmp_path: Path, start: str):
    model = ScriptedModel(
        [tool_call("click", ref="e1"), tool_call("click", ref="e1"), tool_call("done", output=1)]
    )
    seen = []
    async with _agent(browser_session, tmp_path, model).iter("x", start_url=start) as run:
        async for step in run:
            seen.append((step.step, [a.kind for a in step.actions]))
    assert seen == [(1, ["click"]), (2, ["click"]), (3, ["done"])]
    assert run.result is not None
    assert run.result.status == "completed"


async def test_trace_directory_holds_records_screenshots_and_playwright_trace(
    browser_session: BrowserSession, tmp_path: Path, start: str
):
    model = ScriptedModel([tool_call("click", ref="e1"), tool_call("done", output=1)])
    result = await _agent(browser_session, tmp_path, model).run("x", start_url=start)
    assert result.trace_dir is not None
    records = read_trace(result.trace_dir)
    assert [r.type for r in records] == ["run_start", "step", "step", "run_end"]
    assert (result.trace_dir / "step-001.png").stat().st_size > 1000
    assert (result.trace_dir / "playwright-trace.zip").stat().st_size > 1000


async def test_openai_model_over_http_drives_the_loop(
    browser_session: BrowserSession, tmp_path: Path, start: str, fake_openai: FakeOpenAIServer
):
    fake_openai.enqueue_error(status=429, retry_after=0)
    fake_openai.enqueue(
        tool_call("fill", ref="e3", text="Grace"),
        tool_call("click", ref="e5"),
        prompt_tokens=900,
        completion_tokens=40,
    )
    fake_openai.enqueue(raw_tool_call("click", "{not json"), prompt_tokens=900, completion_tokens=5)
    fake_openai.enqueue(tool_call("done", output="Hello, Grace"), prompt_tokens=950, completion_tokens=12)
    model = OpenAIModel(
        model="fake-model", base_url=fake_openai.base_url, max_retries=2, backoff_initial_s=0.01
    )
    result = await _agent(browser_session, tmp_path, model).run("greet Grace", start_url=start)
    assert result.status == "completed", result.reason
    assert result.output == "Hello, Grace"
    assert result.usage.input_tokens == 900 + 900 + 950
    bodies = [r.body for r in fake_openai.requests]
    assert len(bodies) == 4  # the 429 was retried
    assert bodies[1]["tool_choice"] == "required"
    assert {t["function"]["name"] for t in bodies[1]["tools"]} >= {"click", "fill", "done", "extract"}
    assert "not valid JSON" in json.dumps(bodies[3]["messages"])  # malformed arguments went back


async def test_model_outage_ends_the_run_clearly(
    browser_session: BrowserSession, tmp_path: Path, start: str, fake_openai: FakeOpenAIServer
):
    for _ in range(3):
        fake_openai.enqueue_error(status=500, message="upstream down")
    model = OpenAIModel(
        model="fake-model", base_url=fake_openai.base_url, max_retries=2, backoff_initial_s=0.01
    )
    result = await _agent(browser_session, tmp_path, model).run("x", start_url=start)
    assert result.status == "failed"
    assert "ModelUnavailableError" in result.reason
    assert "500" in result.reason


async def test_a_final_action_after_a_failed_one_is_not_accepted(
    browser_session: BrowserSession, tmp_path: Path, start: str
):
    model = ScriptedModel(
        [
            [tool_call("click", ref="e999"), tool_call("done", output="claimed success")],
            tool_call("done", output="after looking again"),
        ]
    )
    result = await _agent(browser_session, tmp_path, model).run("x", start_url=start)
    assert result.status == "completed"
    assert result.output == "after looking again"
    skipped = _tool_results(model.calls[1])[1]
    assert skipped.startswith("not executed")
