"""Each irreversible action of the mock back office, driven by a model that never declares it:
the engine pauses it, a denial reaches the model and changes nothing on the server, and an
approval makes the effect happen exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from operator_agent import (
    Agent,
    ApprovalRequest,
    BrowserSession,
    CallbackApprover,
    FunctionModel,
    Message,
    ToolSpec,
    tool_call,
)
from operator_agent.testing.backoffice import BackofficeData, BackofficeSite, serve_backoffice
from operator_agent.testing.outline import elements

Plan = list[tuple[str, str, dict[str, object]]]  # (kind, element name, extra arguments)

CASES: dict[str, tuple[Callable[[BackofficeData], str], Plan, str]] = {
    "delete invoice": (
        lambda d: f"/invoices/{next(i.id for i in d.invoices if i.status == 'submitted')}",
        [("click", "Delete", {}), ("click", "Delete permanently", {})],
        "invoice.deleted",
    ),
    "send reply": (
        lambda d: f"/tickets/{next(t.id for t in d.tickets if t.status == 'open')}",
        [("fill", "Reply", {"text": "Thank you, we are on it."}), ("click", "Send reply", {})],
        "ticket.reply",
    ),
    "save bank details": (
        lambda d: f"/vendors/{d.vendors[1].id}",
        [
            ("fill", "IBAN", {"text": "DE89 3704 0044 0532 0130 00"}),
            ("click", "Save bank details", {}),
            ("click", "Confirm change", {}),
        ],
        "vendor.bank_details_changed",
    ),
}


@pytest.fixture(scope="module")
def site() -> Iterator[BackofficeSite]:
    with serve_backoffice() as s:
        yield s


def _model(plan: Plan, feedback: list[str]) -> FunctionModel:
    remaining = list(plan)

    def follow(messages: list[Message], tools: list[ToolSpec]) -> object:
        feedback.extend(m.content for m in messages if m.role == "tool")
        page = messages[-1].content
        while remaining:
            kind, name, extra = remaining[0]
            found = [e for e in elements(page) if e.name == name]
            if not found:
                break
            remaining.pop(0)
            return tool_call(kind, ref=found[0].ref, irreversible=False, reason="as planned", **extra)
        return tool_call("done", output="finished")

    return FunctionModel(follow)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("approve", [False, True], ids=["denied", "approved"])
async def test_irreversible_action_pauses_then_runs_once_or_not_at_all(
    site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path, case: str, approve: bool
) -> None:
    site.reset()
    path_of, plan, effect = CASES[case]
    context = await browser_session.new_context()
    await site.sign_in(context.context)
    state = await context.save_storage_state(tmp_path / "state.json")
    await context.close()
    asked: list[ApprovalRequest] = []
    feedback: list[str] = []
    agent = Agent(
        model=_model(plan, feedback),
        browser=browser_session,
        approver=CallbackApprover(lambda r: asked.append(r) is None and approve),
        storage_state=state,
        trace_dir=tmp_path / "runs",
    )
    result = await agent.run(f"do: {case}", start_url=site.url + path_of(site.data()))

    assert result.status == "completed", result.reason
    assert asked, "the engine did not pause the irreversible action"
    assert all("heuristic" in r.reason or "policy" in r.reason for r in asked)
    if approve:
        assert site.state().count(effect) == 1
    else:
        assert site.state().count(effect) == 0
        assert any("denied by callback" in text for text in feedback)
