from __future__ import annotations

import io

import pytest
from pydantic import ValidationError

from operator_agent.budget import Budget
from operator_agent.errors import ConfigurationError
from operator_agent.guardrails.approval import (
    ApprovalDecision,
    ApprovalRequest,
    CallbackApprover,
    ConsoleApprover,
    PolicyApprover,
    approver_for_mode,
)
from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.models import Usage


def test_budget_reports_which_limit_ran_out() -> None:
    budget = Budget(max_steps=5, max_tokens=1000, max_cost_usd=0.5)
    assert budget.exceeded(usage=Usage(), steps=4) is None
    assert "step budget" in (budget.exceeded(usage=Usage(), steps=5) or "")
    assert "token budget" in (
        budget.exceeded(usage=Usage(input_tokens=900, output_tokens=100), steps=1) or ""
    )
    assert "cost budget" in (budget.exceeded(usage=Usage(cost_usd=0.6), steps=1) or "")
    # Unknown cost (None) never counts as exhausted.
    assert budget.exceeded(usage=Usage(cost_usd=None), steps=1) is None


def test_budget_rejects_nonsense() -> None:
    with pytest.raises(ValidationError):
        Budget(max_steps=0)
    with pytest.raises(ValidationError):
        Budget(timeout_s=-1)


REQUEST = ApprovalRequest(
    run_id="r", step=3, kind="click", target='button "Confirm" [e9]', url="http://x/", reason="irreversible"
)


async def test_policy_approver_modes() -> None:
    assert not (await PolicyApprover().decide(REQUEST)).approved
    assert (await PolicyApprover(mode="approve").decide(REQUEST)).approved
    assert not (await approver_for_mode("deny").decide(REQUEST)).approved
    assert (await approver_for_mode("approve-all").decide(REQUEST)).approved


async def test_callback_approver_accepts_sync_async_and_fails_closed() -> None:
    assert (await CallbackApprover(lambda r: True).decide(REQUEST)).approved

    async def later(r: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(approved=False, reason="not today", decided_by="ops-team")

    decision = await CallbackApprover(later).decide(REQUEST)
    assert not decision.approved
    assert decision.decided_by == "ops-team"

    def broken(r: ApprovalRequest) -> bool:
        raise RuntimeError("queue down")

    decision = await CallbackApprover(broken).decide(REQUEST)
    assert not decision.approved
    assert "queue down" in decision.reason
    assert not (await CallbackApprover(lambda r: "yes").decide(REQUEST)).approved  # type: ignore[arg-type,return-value]


async def test_console_approver_denies_without_a_terminal() -> None:
    decision = await ConsoleApprover(stdin=io.StringIO("y\n"), stdout=io.StringIO()).decide(REQUEST)
    assert not decision.approved
    assert "not a TTY" in decision.reason


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_console_approver_asks_on_a_terminal() -> None:
    out = io.StringIO()
    assert (await ConsoleApprover(stdin=_Tty("y\n"), stdout=out).decide(REQUEST)).approved
    assert 'button "Confirm" [e9]' in out.getvalue()
    decision = await ConsoleApprover(stdin=_Tty("n\nwrong vendor\n"), stdout=io.StringIO()).decide(REQUEST)
    assert not decision.approved
    assert decision.reason == "wrong vendor"


def test_domain_allowlist() -> None:
    allow = DomainAllowlist.of(["erp.example.com", "127.0.0.1"])
    assert allow.allows("https://erp.example.com/x")
    assert allow.allows("https://eu.erp.example.com/x")
    assert allow.allows("http://127.0.0.1:8080/")
    assert allow.allows("data:text/plain,hi")
    assert not allow.allows("https://evil.example.net/")
    assert not allow.allows("https://notexample.com.evil.net/erp.example.com")
    assert not allow.allows("file:///etc/passwd")
    with pytest.raises(ConfigurationError):
        DomainAllowlist.of(["https://erp.example.com/"])
    with pytest.raises(ConfigurationError):
        DomainAllowlist.of([])
