"""The invoice task on the mock back office, written once for tests, benchmarks and examples.

Many suites need the same job done on the site of
:func:`~operator_agent.testing.backoffice.serve_backoffice`: sign in as ``ops.agent``, pick the
vendor in the new-invoice form's autocomplete, fill every field (two dates, the currency, one line
item, the payment terms, the urgency flag, the PDF, the notes), submit for payment and confirm in
the modal. This module holds that job in the shapes they use:

* :func:`invoice_script`, built from :func:`sign_in_reply`, :func:`entry_replies` and
  :func:`form_calls`: the replies of a :class:`~operator_agent.models.ScriptedModel` that drives
  the agent loop through the task, each pointing at elements by the refs of the observation it
  was given;
* :func:`enter_by_hand`: the same steps as an engineer would write them in plain Playwright, the
  baseline benchmarks measure against;
* :func:`submitted_invoices` and :func:`times_submitted`: what the server received, to assert on.

For example::

    pdf = write_invoice_pdf(tmp_path)
    values = InvoiceValues(number="INV-0001")
    agent = Agent(
        model=ScriptedModel(invoice_script(values=values, pdf=pdf)),
        secrets={PASSWORD_SECRET: PASSWORD},
        upload_dirs=[tmp_path],
    )
    await agent.run("Enter invoice INV-0001", start_url=site.url + "/invoices/new", inputs=values.params())
    assert times_submitted(site, "INV-0001") == 1
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from operator_agent.models import ModelRequest, ScriptEntry, ToolCall, reply, tool_call
from operator_agent.testing.backoffice import DEFAULT_USERS, BackofficeSite, InvoiceEffect
from operator_agent.testing.outline import find_ref

if TYPE_CHECKING:
    from playwright.async_api import Page

__all__ = [
    "INVOICE_PDF",
    "PASSWORD",
    "PASSWORD_SECRET",
    "USERNAME",
    "VENDOR",
    "InvoiceValues",
    "enter_by_hand",
    "entry_replies",
    "form_calls",
    "invoice_script",
    "sign_in_reply",
    "submitted_invoices",
    "times_submitted",
    "write_invoice_pdf",
]

USERNAME = "ops.agent"
"""The back-office user the task signs in as."""

PASSWORD = DEFAULT_USERS[USERNAME]
"""That user's password on a site served with the default users."""

PASSWORD_SECRET = "bo_password"
"""The secret name the script gives for the password: pass ``secrets={PASSWORD_SECRET: PASSWORD}``."""

VENDOR = "Acme Office Supplies GmbH"
"""A vendor of the site's seed data."""

INVOICE_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
"""The smallest PDF the site accepts as an invoice attachment."""


@dataclass(frozen=True, kw_only=True)
class InvoiceValues:
    """What one run of the task enters.

    Attributes:
        number: The invoice number; the server's record of the task is found by it.
        vendor: The vendor's full name, as the autocomplete lists it.
        invoice_date: The invoice date.
        due_date: The due date.
        notes: The notes field.
        currency: The currency code chosen in the select.
        description: The description of the one line item.
        quantity: The line item's quantity, as typed.
        unit_price: The line item's unit price, as typed.
    """

    number: str
    vendor: str = VENDOR
    invoice_date: date = date(2026, 10, 31)
    due_date: date = date(2026, 11, 30)
    notes: str = "Paper for Q4"
    currency: str = "EUR"
    description: str = "Printer paper"
    quantity: str = "4"
    unit_price: str = "12.50"

    def params(self) -> dict[str, str]:
        """The values a compiled ``enter_invoice`` skill takes as parameters.

        Give them as ``inputs`` to the run that records the task, so the compiler turns the typed
        values into parameters, and as ``params`` to :func:`~operator_agent.replay.replay_skill`.
        """
        return {
            "invoice_number": self.number,
            "vendor": self.vendor,
            "due_date": self.due_date.isoformat(),
            "notes": self.notes,
        }


def _typed(day: date) -> str:
    """A date as a person types it into the form's date fields."""
    return day.strftime("%d/%m/%Y")


def write_invoice_pdf(folder: Path) -> Path:
    """Write :data:`INVOICE_PDF` as ``invoice.pdf`` in ``folder`` (which must exist) and return its path."""
    pdf = folder / "invoice.pdf"
    pdf.write_bytes(INVOICE_PDF)
    return pdf


def sign_in_reply(request: ModelRequest) -> list[ToolCall]:
    """The model's reply on the sign-in page: user name, password by its secret name, "Sign in"."""
    return [
        tool_call("fill", ref=find_ref(request, "Username"), text=USERNAME),
        tool_call("fill", ref=find_ref(request, "Password"), secret=PASSWORD_SECRET),
        tool_call("click", ref=find_ref(request, "Sign in", role="button")),
    ]


def form_calls(source: ModelRequest | str, *, values: InvoiceValues, pdf: Path) -> list[ToolCall]:
    """The tool calls that fill the new-invoice form (vendor already picked) and open the confirmation.

    They fill the number, both dates (as a person types them), the currency, the first line item,
    the payment terms, the urgency flag, the PDF and the notes, then click "Submit for payment".

    Args:
        source: A model request (its newest observation gives the refs) or an outline's text.
        values: What to enter.
        pdf: The file to attach; its folder must be one of the agent's ``upload_dirs``.
    """
    return [
        tool_call("fill", ref=find_ref(source, "Invoice number"), text=values.number),
        tool_call("fill", ref=find_ref(source, "Invoice date"), text=_typed(values.invoice_date)),
        tool_call("fill", ref=find_ref(source, "Due date"), text=_typed(values.due_date)),
        tool_call("select_option", ref=find_ref(source, "Currency"), values=[values.currency]),
        tool_call("fill", ref=find_ref(source, "Description, line 1"), text=values.description),
        tool_call("fill", ref=find_ref(source, "Quantity, line 1"), text=values.quantity),
        tool_call("fill", ref=find_ref(source, "Unit price, line 1"), text=values.unit_price),
        tool_call("check", ref=find_ref(source, "Net 60 days", role="radio")),
        tool_call("check", ref=find_ref(source, "Mark as urgent", role="checkbox")),
        tool_call("upload_file", ref=find_ref(source, "Invoice PDF"), paths=[str(pdf)]),
        tool_call("fill", ref=find_ref(source, "Notes"), text=values.notes),
        tool_call("click", ref=find_ref(source, "Submit for payment", role="button")),
    ]


def entry_replies(*, values: InvoiceValues, pdf: Path, vendor_query: str | None = None) -> list[ScriptEntry]:
    """The model's four replies from the signed-in new-invoice form to the confirmed submission.

    They type into the vendor autocomplete, pick the vendor's option, fill the form and click
    "Submit for payment" (:func:`form_calls`), then click "Confirm submission" in the modal
    (marked irreversible).

    Args:
        values: What to enter.
        pdf: The file to attach; its folder must be one of the agent's ``upload_dirs``.
        vendor_query: What to type into the vendor autocomplete; by default the vendor's full
            name (so a recording compiles it into the ``vendor`` parameter).
    """

    def type_vendor(r: ModelRequest) -> ToolCall:
        text = vendor_query or values.vendor
        return tool_call("fill", ref=find_ref(r, "Vendor", role="combobox"), text=text)

    def pick_vendor(r: ModelRequest) -> ToolCall:
        return tool_call("click", ref=find_ref(r, values.vendor, role="option", exact=False))

    def form(r: ModelRequest) -> list[ToolCall]:
        return form_calls(r, values=values, pdf=pdf)

    def confirm(r: ModelRequest) -> ToolCall:
        return tool_call(
            "click",
            ref=find_ref(r, "Confirm submission", role="button"),
            irreversible=True,
            reason="submit the invoice for payment",
        )

    return [type_vendor, pick_vendor, form, confirm]


def invoice_script(*, values: InvoiceValues, pdf: Path) -> list[ScriptEntry]:
    """The whole task for a :class:`~operator_agent.models.ScriptedModel`, ending with ``done``.

    Start the run at the site's ``/invoices/new`` (it asks to sign in first) with the secret
    :data:`PASSWORD_SECRET` set to :data:`PASSWORD`. The recorded run compiles into a skill of
    18 steps that acts on an element each.

    Args:
        values: What to enter.
        pdf: The file to attach; its folder must be one of the agent's ``upload_dirs``.
    """
    done = reply(tool_call("done", output="submitted", confidence=0.95, summary="invoice submitted"))
    return [sign_in_reply, *entry_replies(values=values, pdf=pdf), done]


async def enter_by_hand(page: Page, *, url: str, values: InvoiceValues, pdf: Path) -> None:
    """The task as an engineer would write it in Playwright: hard-coded locators, no agent.

    It signs in, enters ``values``, confirms the submission and returns once the site shows the
    submitted invoice.

    Args:
        page: A page of a fresh context (not signed in).
        url: The site's base URL.
        values: What to enter.
        pdf: The file to attach.
    """
    await page.goto(url + "/invoices/new", wait_until="domcontentloaded")
    await page.get_by_label("Username").fill(USERNAME)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/invoices/new")
    await page.get_by_role("combobox", name="Vendor").fill(values.vendor)
    await page.get_by_role("option", name=values.vendor).click()
    await page.get_by_label("Invoice number").fill(values.number)
    # A native date input takes ISO dates; the due date's picker takes what a person types.
    await page.get_by_label("Invoice date").fill(values.invoice_date.isoformat())
    await page.get_by_label("Due date").fill(_typed(values.due_date))
    await page.get_by_label("Currency").select_option(values.currency)
    await page.get_by_label("Description, line 1").fill(values.description)
    await page.get_by_label("Quantity, line 1").fill(values.quantity)
    await page.get_by_label("Unit price, line 1").fill(values.unit_price)
    await page.get_by_role("radio", name="Net 60 days").check()
    await page.get_by_role("checkbox", name="Mark as urgent").check()
    await page.get_by_label("Invoice PDF").set_input_files(str(pdf))
    await page.get_by_label("Notes").fill(values.notes)
    await page.get_by_role("button", name="Submit for payment").click()
    await page.get_by_role("button", name="Confirm submission").click()
    await page.wait_for_url(re.compile(r".*/invoices/\d+$"))


def submitted_invoices(site: BackofficeSite, number: str) -> list[InvoiceEffect]:
    """The server's record of each invoice with this number that was submitted for payment.

    Each entry holds the invoice as it is now and ``count``, how many times it was submitted.
    """
    return [e for e in site.state().invoices.submitted if e.invoice.number == number]


def times_submitted(site: BackofficeSite, number: str) -> int:
    """How many submissions for payment of an invoice with this number the server received."""
    return sum(e.count for e in submitted_invoices(site, number))
