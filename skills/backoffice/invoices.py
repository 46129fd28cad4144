"""enter_invoice: type a supplier invoice into the back office and submit it for payment."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Literal

from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict, Field

from operator_agent.errors import ItemRejectedError, SkillFailedError
from operator_agent.skills import SkillContext, skill

from ..web._page import settle
from ..web.forms import fill_form, page_errors
from ._ui import flash_message, one_of

__all__ = ["EnteredInvoice", "InvoiceLine", "enter_invoice"]

# The form shows payment terms by their label; the skill takes the short codes people use.
_TERMS = {"net15": "Net 15 days", "net30": "Net 30 days", "net60": "Net 60 days", "receipt": "Due on receipt"}


class InvoiceLine(BaseModel):
    """One line of the invoice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(min_length=1, description="What was bought.")
    quantity: Decimal = Field(gt=0, description="How many.")
    unit_price: Decimal = Field(ge=0, description="The price of one, without currency.")


class EnteredInvoice(BaseModel):
    """The invoice as the back office recorded it.

    Attributes:
        number: The invoice number.
        invoice_id: The back office's id of the record (from its address).
        status: ``submitted`` (sent to approval and payment) or ``draft``.
        url: The invoice's page.
        message: The confirmation the back office showed.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: str
    invoice_id: int
    status: Literal["submitted", "draft"]
    url: str
    message: str


@skill
async def enter_invoice(
    ctx: SkillContext,
    *,
    vendor: str,
    invoice_number: str,
    invoice_date: date,
    due_date: date,
    currency: str,
    lines: list[InvoiceLine],
    payment_terms: Literal["net15", "net30", "net60", "receipt"] = "net30",
    urgent: bool = False,
    attachment: str | None = None,
    notes: str = "",
    submit: bool = True,
) -> EnteredInvoice:
    """Enter a supplier invoice in the back office and submit it for payment (or save a draft).

    Submitting cannot be undone: the final confirmation asks for approval first.

    Args:
        vendor: The vendor's name as the back office knows it.
        invoice_number: The number printed on the invoice.
        invoice_date: The date printed on the invoice.
        due_date: When it must be paid.
        currency: The ISO currency code, such as EUR.
        lines: The invoice lines.
        payment_terms: net15, net30, net60 or receipt (due on receipt).
        urgent: Mark the invoice for the next payment run.
        attachment: The invoice PDF, relative to the run folder; required to submit.
        notes: Internal notes for the approvers.
        submit: Submit for payment; false saves a draft that can still be changed.
    """
    if not lines:
        raise SkillFailedError("an invoice needs at least one line", step="check the invoice")
    # 1. Open the form. The address is stable across layouts, so go there directly.
    await ctx.goto("/invoices/new")
    # 2. Fill it. fill_form finds each field by its label, whichever layout the back office shows.
    record = {
        "vendor": vendor,
        "invoice_number": invoice_number,
        "invoice_date": invoice_date,
        "due_date": due_date,
        "currency": currency,
        "lines": [line.model_dump() for line in lines],
        "payment_terms": _TERMS[payment_terms],
        "urgent": urgent,
        "notes": notes,
    }
    if attachment is not None:
        record["attachment"] = attachment
    filled = await fill_form(ctx, record=record)
    if filled.unmapped:
        raise SkillFailedError(
            f"the invoice form has no field for {', '.join(filled.unmapped)}", step="fill the form"
        )
    # 3. Save or submit. Submitting opens a confirmation; confirming is the irreversible step.
    if submit:
        await ctx.click(await one_of(ctx, "Submit for payment", "Send to payment run"))
        confirm = await one_of(ctx, "Confirm submission", "Yes, send it")
        await ctx.click(confirm, irreversible=True)
    else:
        await ctx.click(await one_of(ctx, "Save draft", "Save as draft"))
    await settle(ctx, timeout_s=15)
    # 4. Check what the back office says: a form shown again with errors means nothing was saved.
    errors = await page_errors(ctx)
    if errors:
        # The site's own validation said no: the same data would be refused again.
        raise ItemRejectedError("the back office refused the invoice: " + "; ".join(errors))
    match = re.search(r"/invoices/(\d+)", ctx.page.url)
    if match is None:
        # Saved invoices open at their own address; anything else (an error page, a gateway
        # timeout) means the back office did not confirm it, which may pass on a later attempt.
        raise SkillFailedError(
            f"the back office did not confirm the invoice: the page at {ctx.page.url} shows "
            f"{await _heading(ctx)!r} instead of the saved invoice",
            step="save the invoice",
        )
    return EnteredInvoice(
        number=invoice_number,
        invoice_id=int(match.group(1)),
        status="submitted" if submit else "draft",
        url=ctx.page.url,
        message=await flash_message(ctx),
    )


async def _heading(ctx: SkillContext) -> str:
    """The page's main heading (or its title), to say what it shows instead."""
    heading = ctx.page.locator("h1").first
    try:
        if await heading.count():
            return " ".join((await heading.inner_text(timeout=2000)).split())
        return await ctx.page.title()
    except PlaywrightError:
        return ""
