"""The model calls skills as tools: arguments are validated first, the skill's irreversible step
asks for approval, and the outcome on the server is exactly one submitted invoice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from operator_agent import Agent, ApprovalRequest, BrowserSession, CallbackApprover, ScriptedModel, tool_call
from operator_agent.skills import bundled_skills
from operator_agent.testing.backoffice import BackofficeSite, serve_backoffice

VENDOR = "Acme Office Supplies GmbH"


@pytest.fixture(scope="module")
def site() -> Iterator[BackofficeSite]:
    with serve_backoffice() as s:
        yield s


def _invoice(pdf: Path, **changes: object) -> dict[str, object]:
    arguments: dict[str, object] = {
        "vendor": VENDOR,
        "invoice_number": "INV-SKILL-0001",
        "invoice_date": "2026-10-31",
        "due_date": "2026-11-30",
        "currency": "EUR",
        "lines": [{"description": "Toner", "quantity": 2, "unit_price": 40}],
        "payment_terms": "net30",
        "attachment": str(pdf),
    }
    arguments.update(changes)
    return arguments


async def test_model_calls_a_skill_with_invalid_then_valid_arguments(
    site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    site.reset()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    pdf = uploads / "toner.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    context = await browser_session.new_context()
    await site.sign_in(context.context)
    state = await context.save_storage_state(tmp_path / "state.json")
    await context.close()

    approvals: list[ApprovalRequest] = []
    model = ScriptedModel(
        [
            tool_call("enter_invoice", **_invoice(pdf, currency=None, lines="two toners")),
            tool_call("enter_invoice", **_invoice(pdf)),
            tool_call("done", output="INV-SKILL-0001"),
        ]
    )
    registry = bundled_skills()
    agent = Agent(
        model=model,
        browser=browser_session,
        skills=registry,
        approver=CallbackApprover(lambda r: approvals.append(r) is None),
        storage_state=state,
        upload_dirs=[uploads],
        trace_dir=tmp_path / "runs",
    )
    result = await agent.run("Enter the toner invoice", start_url=site.url + "/invoices")

    assert result.status == "completed", result.reason
    offered = {t.name for t in model.calls[0].tools}
    assert {"enter_invoice", "fill_form", "login", "click", "done"} <= offered
    # The invalid call was refused before the skill ran, with a message the model can act on.
    first = next(m.content for m in model.calls[1].messages if m.role == "tool")
    assert "currency" in first
    assert "lines" in first
    # The skill's irreversible confirmation asked the approver once.
    assert len(approvals) >= 1
    assert any("Confirm submission" in (a.target or "") for a in approvals)
    submitted = [e for e in site.state().invoices.submitted if e.invoice.number == "INV-SKILL-0001"]
    assert [e.count for e in submitted] == [1]
    assert submitted[0].invoice.amount == 80
    records = [json.loads(line) for line in (result.trace_dir / "trace.jsonl").read_text().splitlines()]  # type: ignore[operator]
    kinds = [a["kind"] for r in records if r["type"] == "step" for a in r["actions"]]
    assert kinds == ["enter_invoice", "enter_invoice", "done"]


async def test_denied_skill_step_changes_nothing(
    site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    site.reset()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    pdf = uploads / "toner.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    context = await browser_session.new_context()
    await site.sign_in(context.context)
    state = await context.save_storage_state(tmp_path / "state.json")
    await context.close()
    model = ScriptedModel([tool_call("enter_invoice", **_invoice(pdf, invoice_number="INV-SKILL-0002"))])
    agent = Agent(
        model=model,
        browser=browser_session,
        skills=bundled_skills(),
        on_denial="stop",
        storage_state=state,
        upload_dirs=[uploads],
        trace_dir=tmp_path / "runs",
    )
    result = await agent.run("Enter the toner invoice", start_url=site.url + "/invoices")
    assert result.status == "denied"
    assert site.state().count("invoice.submitted") == 0
