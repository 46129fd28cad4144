"""The whole loop on the mock back office: a scripted model logs in with TOTP, enters an invoice with
every field type, submits it through the confirmation modal (approved), reads it back with
``extract`` and finishes with a typed output. Asserted on the site's server state."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from operator_agent.agent import Agent
from operator_agent.browser import BrowserSession
from operator_agent.guardrails.approval import ApprovalRequest, CallbackApprover
from operator_agent.models import ModelRequest, ScriptedModel, reply, tool_call
from operator_agent.secrets import TOTP
from operator_agent.testing.backoffice import BackofficeSite, serve_backoffice
from operator_agent.testing.invoice_task import (
    PASSWORD,
    PASSWORD_SECRET,
    VENDOR,
    InvoiceValues,
    entry_replies,
    sign_in_reply,
    submitted_invoices,
    write_invoice_pdf,
)
from operator_agent.testing.outline import find_ref, observation_text
from operator_agent.trace import read_trace

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


class InvoiceSummary(BaseModel):
    number: str
    vendor: str
    total: Decimal


@pytest.fixture(scope="module")
def totp_site() -> Iterator[BackofficeSite]:
    with serve_backoffice(totp_secret=TOTP_SECRET) as site:
        yield site


def _totp(r: ModelRequest) -> object:
    return [
        tool_call("fill", ref=find_ref(r, "Authentication code"), secret="bo_totp", reason="second factor"),
        tool_call("click", ref=find_ref(r, "Verify", role="button"), reason="verify"),
    ]


def _extract(r: ModelRequest) -> object:
    assert "INV-E2E-0001" in observation_text(r)
    return tool_call("extract", instruction="the invoice number, vendor and total")


def _extracted(r: ModelRequest) -> object:
    # The extraction request carries the full page text and offers one tool.
    assert r.tool_names == ("return_data",)
    assert "INV-E2E-0001" in r.messages[-1].content
    return tool_call("return_data", data={"number": "INV-E2E-0001", "vendor": VENDOR, "total": "50.00"})


def _done(r: ModelRequest) -> object:
    return reply(
        tool_call(
            "done",
            output={"number": "INV-E2E-0001", "vendor": VENDOR, "total": "50.00"},
            confidence=0.95,
            summary="invoice INV-E2E-0001 submitted for payment",
        )
    )


async def test_scripted_run_enters_and_submits_an_invoice_exactly_once(
    totp_site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    totp_site.reset()
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    pdf = write_invoice_pdf(uploads)
    values = InvoiceValues(number="INV-E2E-0001", notes="Quarterly paper order")
    model = ScriptedModel(
        [
            sign_in_reply,
            _totp,
            *entry_replies(values=values, pdf=pdf, vendor_query="Acme"),
            _extract,
            _extracted,
            _done,
        ]
    )
    approvals: list[ApprovalRequest] = []

    def approve(request: ApprovalRequest) -> bool:
        approvals.append(request)
        return True

    agent = Agent(
        model=model,
        browser=browser_session,
        approver=CallbackApprover(approve),
        secrets={PASSWORD_SECRET: PASSWORD, "bo_totp": TOTP(TOTP_SECRET)},
        trace_dir=tmp_path / "runs",
        upload_dirs=[uploads],
        allowed_domains=["127.0.0.1", "localhost"],
    )
    result = await agent.run(
        "Enter invoice INV-E2E-0001 from Acme and submit it for payment",
        start_url=totp_site.url + "/invoices/new",
        output_type=InvoiceSummary,
    )

    assert result.status == "completed", result.reason
    assert result.output == InvoiceSummary(number="INV-E2E-0001", vendor=VENDOR, total=Decimal("50.00"))
    assert result.extracted == [InvoiceSummary(number="INV-E2E-0001", vendor=VENDOR, total=Decimal("50.00"))]
    model.assert_complete()

    # Exactly one approval, for the confirm button, and exactly one submitted invoice with every field.
    # The engine's own policy asks before the button that says "Submit for payment" (it only opens
    # the confirmation, but its words are irreversible ones) and before the modal's confirm button.
    targets = [(a.target or "").split(" [")[0] for a in approvals]
    assert targets == ['button "Submit for payment"', 'button "Confirm submission"']
    # The person approving sees what the form would submit.
    assert "INV-E2E-0001" in approvals[1].values.values()
    assert approvals[1].values["currency"] == "EUR"
    submitted = submitted_invoices(totp_site, "INV-E2E-0001")
    assert len(submitted) == 1
    assert submitted[0].count == 1
    created = totp_site.state().invoices.created
    assert len([e for e in created if e.invoice.number == "INV-E2E-0001"]) == 1
    invoice = submitted[0].invoice
    assert invoice.vendor_name == VENDOR
    assert invoice.currency == "EUR"
    assert str(invoice.invoice_date) == "2026-10-31"
    assert str(invoice.due_date) == "2026-11-30"
    assert invoice.payment_terms == "net60"
    assert invoice.urgent is True
    assert invoice.notes == "Quarterly paper order"
    assert [(line.description, line.quantity, line.unit_price) for line in invoice.lines] == [
        ("Printer paper", Decimal("4"), Decimal("12.50"))
    ]
    assert invoice.amount == Decimal("50.00")
    assert invoice.attachment is not None
    assert invoice.attachment.filename == "invoice.pdf"

    # The trace is complete and holds no secret.
    records = read_trace(result.trace_dir or tmp_path)
    assert records[0].type == "run_start"
    assert records[-1].type == "run_end"
    assert len([r for r in records if r.type == "step"]) == len(result.steps)
    # Every executed action with a target carries a locator chain for replay, most robust first.
    targeted = [a for r in records if r.type == "step" for a in r.actions if a.target and a.ok]
    assert targeted
    assert all(a.locators for a in targeted)
    assert {"role", "label"} & set(targeted[0].locators[0])
    for path in (result.trace_dir or tmp_path).rglob("*"):
        if path.is_file() and path.suffix in {".jsonl", ".json", ".txt"}:
            assert PASSWORD not in path.read_text(errors="ignore")
    for call in model.calls:
        for message in call.messages:
            assert PASSWORD not in message.content
            assert TOTP_SECRET not in message.content
