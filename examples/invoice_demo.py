"""Flagship demo: an agent enters an invoice in the mock back office and submits it for payment.

It starts the mock back office on 127.0.0.1, then an agent logs in with the bundled ``login``
skill (password and TOTP, both given as secrets the model never sees), fills the new-invoice form,
opens the confirmation modal and stops for approval before each irreversible click ("Submit for
payment", then "Confirm submission"). Finally it checks on the server that the invoice was
submitted exactly once and prints where the run's trace is.

The model: with ``OPENAI_MODEL`` set (and ``OPENAI_API_KEY``, or ``OPENAI_BASE_URL`` pointing at a
local OpenAI-compatible server) the demo uses it. Otherwise a scripted stand-in plays the model: it
reads the same page outlines a model gets and answers with the same tool calls, so everything
except the model's judgement is real (browser, site, approvals, secrets, trace).

Approvals: on a terminal you are asked. When stdin is not a terminal (CI, ``make demo < /dev/null``)
the demo decides by a stated policy: ``DEMO_APPROVAL=approve`` (the default, on this local mock site
only) or ``DEMO_APPROVAL=deny``.

Run it with ``make demo`` or ``.venv/bin/python examples/invoice_demo.py``.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from operator_agent import (
    TOTP,
    Agent,
    ApprovalDecision,
    ApprovalRequest,
    Approver,
    Budget,
    ConsoleApprover,
    FunctionModel,
    Message,
    Model,
    OpenAIModel,
    PolicyApprover,
    RunResult,
    ToolSpec,
    configure_logging,
    tool_call,
)
from operator_agent.models import ToolCall
from operator_agent.skills import bundled_skills
from operator_agent.testing.backoffice import BackofficeSite, serve_backoffice
from operator_agent.testing.outline import elements, find_ref

TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
USERNAME = "ops.agent"
PASSWORD = "Northwind-Ops-2026!"
INVOICE_NUMBER = "INV-DEMO-0001"
VENDOR = "Acme Office Supplies GmbH"

TASK = (
    f"Sign in as {USERNAME} (password secret 'bo_password', one-time code secret 'bo_totp'), then "
    f"enter a new invoice: vendor {VENDOR}, invoice number {INVOICE_NUMBER}, invoice date "
    "31/10/2026, due date 30/11/2026, currency EUR, one line 'Printer paper' 4 × 12.50, payment "
    "terms Net 60 days, mark it urgent, attach the PDF at {pdf}, notes 'Quarterly paper order'. "
    "Submit it for payment, then report the invoice number, vendor and total."
)


class InvoiceSummary(BaseModel):
    """What the run must return."""

    number: str
    vendor: str
    total: Decimal


def _say(text: str) -> None:
    print(text, flush=True)


class AnnouncingApprover:
    """Shows the approval pause, then lets the real approver decide."""

    def __init__(self, *, inner: Approver, label: str) -> None:
        self._inner = inner
        self._label = label

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        _say("\n--- approval pause ---------------------------------------------------")
        _say(f"The agent wants to: {request.summary()}")
        _say(f"Decided by: {self._label}")
        decision = await self._inner.decide(request)
        verdict = "APPROVED" if decision.approved else "DENIED"
        why = f" - {decision.reason}" if decision.reason else ""
        _say(f"Decision: {verdict} by {decision.decided_by}{why}")
        _say("-----------------------------------------------------------------------\n")
        return decision


def _approver() -> Approver:
    if sys.stdin.isatty():
        return AnnouncingApprover(inner=ConsoleApprover(), label="you, at this terminal")
    mode: Literal["approve", "deny"] = "deny" if os.environ.get("DEMO_APPROVAL") == "deny" else "approve"
    _say(
        f"stdin is not a terminal: approvals are decided by policy '{mode}' "
        "(DEMO_APPROVAL=approve|deny; approve is only acceptable because this is a local mock site)."
    )
    return AnnouncingApprover(inner=PolicyApprover(mode=mode), label=f"unattended policy '{mode}'")


class ScriptedOperator:
    """Plays the model when none is configured: reads each outline and answers with tool calls.

    It only sees what a real model sees (the messages), so the run exercises the whole library.
    """

    def __init__(self, *, pdf: Path) -> None:
        self._pdf = pdf
        self._vendor_typed = False
        self._submitted = False

    def __call__(self, messages: list[Message], tools: list[ToolSpec]) -> list[ToolCall]:
        if [t.name for t in tools] == ["return_data"]:
            return [tool_call("return_data", data=self._summary())]
        outline = next(m.content for m in reversed(messages) if "Current page" in m.content)
        names = {(e.role, e.name) for e in elements(outline)}
        if ("textbox", "Password") in names or ("textbox", "Authentication code") in names:
            # One call to the bundled `login` skill instead of a dozen primitive actions.
            return [
                tool_call("login", username=USERNAME, password_secret="bo_password", totp_secret="bo_totp")
            ]
        if ("button", "Confirm submission") in names:
            self._submitted = True
            return [
                tool_call(
                    "click",
                    ref=find_ref(outline, "Confirm submission", role="button"),
                    irreversible=True,
                    reason="submit the invoice for payment",
                )
            ]
        if self._submitted:
            on_detail_page = re.search(r"^url: \S+/invoices/\d+", outline, re.M) is not None
            if on_detail_page and INVOICE_NUMBER in outline:
                return [tool_call("done", output=self._summary(), confidence=0.95, summary="submitted")]
            if "/invoices/new" in outline.split("\n", 1)[0]:
                return [tool_call("wait_for", state="network_idle", timeout_s=10, reason="still sending")]
        if ("textbox", "Invoice number") in names:
            options = [e for e in elements(outline) if e.role == "option" and e.name.startswith(VENDOR)]
            if options:
                return [tool_call("click", ref=options[0].ref, reason="choose the vendor")]
            if not self._vendor_typed:
                self._vendor_typed = True
                return [tool_call("fill", ref=find_ref(outline, "Vendor", role="combobox"), text="Acme")]
            return self._fill_form(outline)
        if ("link", "New invoice") in names:
            return [tool_call("click", ref=find_ref(outline, "New invoice", role="link"))]
        return [tool_call("fail", reason="the stand-in does not recognise this page")]

    def _fill_form(self, o: str) -> list[ToolCall]:
        return [
            tool_call("fill", ref=find_ref(o, "Invoice number"), text=INVOICE_NUMBER),
            tool_call("fill", ref=find_ref(o, "Invoice date"), text="31/10/2026"),
            tool_call("fill", ref=find_ref(o, "Due date"), text="30/11/2026"),
            tool_call("select_option", ref=find_ref(o, "Currency"), values=["EUR"]),
            tool_call("fill", ref=find_ref(o, "Description, line 1"), text="Printer paper"),
            tool_call("fill", ref=find_ref(o, "Quantity, line 1"), text="4"),
            tool_call("fill", ref=find_ref(o, "Unit price, line 1"), text="12.50"),
            tool_call("check", ref=find_ref(o, "Net 60 days", role="radio")),
            tool_call("check", ref=find_ref(o, "Mark as urgent", role="checkbox")),
            tool_call("upload_file", ref=find_ref(o, "Invoice PDF"), paths=[str(self._pdf)]),
            tool_call("fill", ref=find_ref(o, "Notes"), text="Quarterly paper order"),
            tool_call("click", ref=find_ref(o, "Submit for payment", role="button"), reason="confirm next"),
        ]

    @staticmethod
    def _summary() -> dict[str, str]:
        return {"number": INVOICE_NUMBER, "vendor": VENDOR, "total": "50.00"}


def _model(pdf: Path) -> Model:
    if os.environ.get("OPENAI_MODEL"):
        _say(f"Using the configured model {os.environ['OPENAI_MODEL']!r}.")
        return OpenAIModel()
    _say(
        "No model configured (set OPENAI_MODEL, and OPENAI_API_KEY or OPENAI_BASE_URL, to use one): "
        "a SCRIPTED STAND-IN plays the model. Browser, site, approvals, secrets and trace are real."
    )
    return FunctionModel(ScriptedOperator(pdf=pdf.resolve()), name="scripted-stand-in")


def _report(result: RunResult[InvoiceSummary], site: BackofficeSite) -> int:
    _say(f"\nRun {result.run_id}: {result.status} after {len(result.steps)} steps — {result.reason}")
    if result.output is not None:
        _say(f"Output: {result.output.model_dump_json()}")
    _say(f"Model usage: {result.usage.requests} requests, {result.usage.input_tokens} input tokens")
    submitted = [e for e in site.state().invoices.submitted if e.invoice.number == INVOICE_NUMBER]
    count = submitted[0].count if submitted else 0
    _say(f"Server state: invoice {INVOICE_NUMBER} submitted {count} time(s)")
    if result.trace_dir is not None:
        screenshots = len(list(result.trace_dir.glob("step-*.png")))
        _say(f"Trace: {result.trace_dir / 'trace.jsonl'} ({screenshots} screenshots beside it)")
    denied = os.environ.get("DEMO_APPROVAL") == "deny" and not sys.stdin.isatty()
    if denied:
        return 0 if count == 0 else 1
    return 0 if result.status == "completed" and count == 1 else 1


async def main() -> int:
    configure_logging(level="warning")
    runs = Path("runs") / "demo"
    uploads = runs / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)
    pdf = uploads / "invoice-demo.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    with serve_backoffice(totp_secret=TOTP_SECRET) as site:
        _say(f"Mock back office running at {site.url}")
        model = _model(pdf)
        agent = Agent(
            model=model,
            approver=_approver(),
            on_denial="stop",
            secrets={"bo_password": PASSWORD, "bo_totp": TOTP(TOTP_SECRET)},
            allowed_domains=["127.0.0.1", "localhost"],
            upload_dirs=[uploads],
            trace_dir=runs,
            budget=Budget(max_steps=25, timeout_s=300),
            skills=bundled_skills(),
        )
        result = await agent.run(
            TASK.format(pdf=pdf.resolve()),
            start_url=site.url + "/invoices/new",
            output_type=InvoiceSummary,
        )
        return _report(result, site)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
