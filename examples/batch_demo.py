"""Month-end in miniature: a batch of supplier invoices entered into the mock back office.

It starts the mock back office on 127.0.0.1, writes a small CSV of invoices (two of them bad on
purpose: an unknown vendor and a negative amount), and runs them as a batch:

* each invoice is entered by ``enter_invoice_compiled``, a compiled skill (fixed locators, no
  model), with two browser contexts working side by side from one signed-in session;
* the final "Confirm submission" is irreversible: the supervisor approved this batch as a whole,
  which the demo expresses as ``PolicyApprover(mode="approve")`` (acceptable on a mock site);
* before anything is retried after a crash, ``invoice_exists`` asks the back office whether the
  invoice is already there, so no invoice is entered twice;
* the bad rows end in the review queue with the back office's own words.

It then prints the review queue and the KPIs, writes the HTML report, and checks on the server that
every good invoice was submitted exactly once. Run it with
``.venv/bin/python examples/batch_demo.py`` (add ``--keep`` to keep the journal and report).

The same task runs from the command line (``make_task`` reads the site's address from
``BACKOFFICE_URL``)::

    operator-agent batch run --task examples.batch_demo:make_task --input invoices.csv \\
        --key invoice_number --journal month-end.db --batch-id 2026-10 --approval approve-all
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import sys
import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlsplit

from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict, Field

from operator_agent.batch import (
    BatchRunner,
    ItemContext,
    ItemRecord,
    SessionExpiredError,
    SkillTask,
    TransientItemError,
    read_csv,
)
from operator_agent.browser import RunContext
from operator_agent.errors import ItemRejectedError
from operator_agent.guardrails import PolicyApprover
from operator_agent.skills import SkillContext, bundled_skills, skill

__all__ = [
    "INVOICE_PDF",
    "InvoiceRow",
    "enter_invoice_compiled",
    "invoice_exists",
    "main",
    "make_task",
    "sample_rows",
    "write_csv",
]

INVOICE_PDF = b"%PDF-1.4\n% operator-agent batch demo invoice\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
_SUBMITTED_PAGE = re.compile(r"/invoices/(\d+)$")
# Statuses of an invoice that was submitted (as the list shows them): anything but a draft.
_NOT_SUBMITTED = ("draft", "deleted")


class InvoiceRow(BaseModel):
    """One row of the month-end CSV, as the accounts-payable team fills it in."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    invoice_number: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9\-/_.]*$")
    vendor: str = Field(min_length=1)
    invoice_date: date
    due_date: date
    currency: Literal["EUR", "USD", "GBP", "CHF", "SEK", "DKK", "PLN"]
    description: str = Field(min_length=1)
    quantity: Decimal = Field(gt=0)
    unit_price: Decimal = Field(gt=0)


async def _form_errors(ctx: SkillContext) -> list[str]:
    texts = await ctx.page.locator(".field-error, .error-summary").all_inner_texts()
    return [" ".join(t.split()) for t in texts if t.strip()]


async def _where_are_we(ctx: SkillContext) -> None:
    """Turn the pages a step may land on instead of the expected one into the right error."""
    path = urlsplit(ctx.page.url).path
    if path.startswith("/login"):
        raise SessionExpiredError("the back office session expired (sent to the sign-in page)")
    title = await ctx.page.title()
    if title in {"Something went wrong", "Service unavailable", "502 Bad Gateway"}:
        raise TransientItemError(f"the back office answered with an error page: {title}", kind="SiteError")


@skill
async def enter_invoice_compiled(
    ctx: SkillContext,
    *,
    vendor: str,
    invoice_number: str,
    invoice_date: date,
    due_date: date,
    currency: str,
    description: str,
    quantity: Decimal,
    unit_price: Decimal,
    attachment: str = "invoice.pdf",
) -> dict[str, str]:
    """Enter one single-line supplier invoice and submit it for payment (compiled from a recorded run).

    Args:
        vendor: The vendor's name as the back office lists it.
        invoice_number: The number printed on the invoice.
        invoice_date: The invoice date.
        due_date: When it must be paid.
        currency: ISO currency code.
        description: The line's description.
        quantity: How many.
        unit_price: Price of one.
        attachment: The PDF, relative to the run folder.
    """
    page = ctx.page
    await ctx.goto("/invoices/new")
    await _where_are_we(ctx)
    await bundled_skills()["dismiss_interruptions"](ctx)
    # 1. Vendor: type the first word, pick the suggestion; an unknown vendor is left for the
    #    back office to refuse with its own words.
    picker = page.get_by_role("combobox", name="Vendor")
    await ctx.fill(picker, vendor.split()[0])
    option = page.get_by_role("option", name=re.compile("^" + re.escape(vendor) + r"(\s|$)"))
    try:
        await option.wait_for(state="visible", timeout=5_000)
    except PlaywrightError:
        await ctx.fill(picker, vendor)
    else:
        await ctx.click(option)
    # 2. The other fields, by their form names (stable across both layouts).
    await ctx.fill(page.locator("input[name=number]"), invoice_number)
    await ctx.fill(page.locator("input[name=invoice_date]"), invoice_date.isoformat())
    await ctx.fill(page.locator("input[name=due_date]"), due_date.strftime("%d/%m/%Y"))
    await ctx.select(page.locator("select[name=currency]"), currency)
    await ctx.fill(page.locator("input[name=line_description]").first, description)
    await ctx.fill(page.locator("input[name=line_quantity]").first, str(quantity))
    await ctx.fill(page.locator("input[name=line_unit_price]").first, f"{unit_price:.2f}")
    await ctx.upload(page.locator("input[type=file][name=attachment]"), attachment)
    # 3. Submit, then confirm: the confirmation is the irreversible step and asks for approval.
    await ctx.click(page.get_by_role("button", name=re.compile("^(Submit for payment|Send to payment run)$")))
    confirm = page.get_by_role("button", name=re.compile("^(Confirm submission|Yes, send it)$"))
    await ctx.click(confirm, irreversible=True)
    # 4. Read the outcome: the invoice's page, the form again with errors, or a fault.
    for _ in range(100):
        if _SUBMITTED_PAGE.search(urlsplit(page.url).path):
            break
        errors = await _form_errors(ctx)
        if errors:
            raise ItemRejectedError("the back office refused the invoice: " + "; ".join(errors))
        await _where_are_we(ctx)
        await asyncio.sleep(0.1)
    else:
        raise TransientItemError(
            f"no confirmation after submitting; the page is {page.url}", kind="NoConfirmation"
        )
    invoice_id = _SUBMITTED_PAGE.search(urlsplit(page.url).path)
    assert invoice_id is not None
    return {"invoice_number": invoice_number, "invoice_id": invoice_id.group(1), "url": page.url}


async def invoice_exists(ctx: ItemContext, item: ItemRecord) -> bool:
    """The idempotency check: is this invoice number on file in the back office (not as a draft)?"""
    number = str(item.data["invoice_number"])
    page = ctx.page
    base = urlsplit(page.url)
    if not base.scheme.startswith("http"):
        raise TransientItemError(f"the check needs a page on the back office, not {page.url}", kind="NoPage")
    await page.goto(
        f"{base.scheme}://{base.netloc}/invoices?q={quote(number)}", wait_until="domcontentloaded"
    )
    if urlsplit(page.url).path.startswith("/login"):
        raise SessionExpiredError("the back office session expired during the check")
    if await page.title() in {"Something went wrong", "Service unavailable", "502 Bad Gateway"}:
        raise TransientItemError(
            "the back office answered with an error page during the check", kind="SiteError"
        )
    for row in await page.locator("table tbody tr").all():
        cells = [" ".join(t.split()) for t in await row.locator("td").all_inner_texts()]
        if cells and cells[0] == number:
            status = cells[5].lower() if len(cells) > 5 else ""
            return not status.startswith(_NOT_SUBMITTED)
    return False


def _sign_in_with(base_url: str, username: str, password: str) -> object:
    async def sign_in(run: RunContext) -> None:
        await run.page.goto(base_url + "/login", wait_until="domcontentloaded")
        ctx = SkillContext(tabs=run, secrets={"bo_password": password})
        await bundled_skills()["login"](ctx, username=username, password_secret="bo_password")

    return sign_in


def _arguments(row: dict[str, object]) -> dict[str, object]:
    names = (
        "vendor",
        "invoice_number",
        "invoice_date",
        "due_date",
        "currency",
        "description",
        "quantity",
        "unit_price",
    )
    return {name: row.get(name) for name in names if row.get(name) not in (None, "")}


def make_task(
    base_url: str | None = None,
    *,
    username: str = "ops.agent",
    password: str = "Northwind-Ops-2026!",
    pdf_dir: Path | None = None,
) -> SkillTask:
    """The month-end invoice task for a back office at ``base_url`` (default: ``$BACKOFFICE_URL``)."""
    url = (base_url or os.environ.get("BACKOFFICE_URL", "")).rstrip("/")
    if not url:
        raise SystemExit("make_task needs the back office's address: pass base_url or set BACKOFFICE_URL")
    folder = Path(pdf_dir or os.environ.get("BACKOFFICE_PDF_DIR") or tempfile.mkdtemp(prefix="batch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "invoice.pdf").write_bytes(INVOICE_PDF)

    task = SkillTask(
        enter_invoice_compiled,
        name="enter-invoice",
        arguments=_arguments,
        start_url=url + "/invoices",
        already_done=invoice_exists,
        sign_in=_sign_in_with(url, username, password),  # type: ignore[arg-type]
        input_model=InvoiceRow,
        upload_dirs=[folder],
    )
    return task


def sample_rows(
    vendors: list[str], *, count: int = 8, bad: bool = True, prefix: str = "INV-DEMO"
) -> list[dict[str, str]]:
    """Invoice rows for the demo and the tests; with ``bad``, two rows the back office refuses."""
    rows = []
    for n in range(count):
        rows.append(
            {
                "invoice_number": f"{prefix}-{n + 1:04d}",
                "vendor": vendors[n % len(vendors)],
                "invoice_date": "2026-10-01",
                "due_date": "2026-10-31",
                "currency": "EUR",
                "description": f"Services, October (line {n + 1})",
                "quantity": "1",
                "unit_price": f"{100 + n * 7}.50",
            }
        )
    if bad:
        rows.append(
            {**rows[0], "invoice_number": f"{prefix}-BAD-VENDOR", "vendor": "Nonexistent Supplies Ltd"}
        )
        rows.append({**rows[1], "invoice_number": f"{prefix}-BAD-AMOUNT", "unit_price": "-12.00"})
    return rows


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """Write rows as the CSV the team would export from their spreadsheet."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


async def main(argv: list[str] | None = None) -> int:
    """Run the demo batch end to end; returns 0 when the server shows each good invoice once."""
    from operator_agent.batch import ReviewQueue, batch_kpis, write_report
    from operator_agent.logs import configure_logging
    from operator_agent.testing.backoffice import serve_backoffice

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=6, help="good invoices in the batch")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--keep", action="store_true", help="keep the journal and report in ./runs/batch-demo"
    )
    args = parser.parse_args(argv)
    configure_logging(level="warning")
    folder = Path("runs/batch-demo") if args.keep else Path(tempfile.mkdtemp(prefix="batch-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    with serve_backoffice(invoice_count=40) as site:
        print(f"Mock back office running at {site.url}")
        vendors = [vendor.name for vendor in site.data().vendors][:5]
        rows = sample_rows(vendors, count=args.count)
        source = write_csv(folder / "month-end.csv", rows)
        print(f"Batch input: {source} ({len(rows)} rows, 2 of them bad on purpose)")
        runner = BatchRunner(
            task=make_task(site.url, pdf_dir=folder / "pdf"),
            journal=folder / "month-end.db",
            concurrency=args.concurrency,
            approver=PolicyApprover(mode="approve"),
            verify_completion=True,
        )
        summary = await runner.run(read_csv(source, key="invoice_number"), batch_id="demo-month-end")
        print(
            f"\nBatch {summary.batch_id}: {summary.status} in {summary.duration_s:.0f} s — {summary.counts}"
        )
        print("\nReview queue:")
        for item in ReviewQueue(journal=runner.journal).list(summary.batch_id):
            print(f"  {item.key}: {item.review_reason} — {item.reason}")
        kpis = batch_kpis(runner.journal, summary.batch_id)
        print(
            f"\nKPIs: completion {kpis.completion_rate:.0%}, "
            f"without a person {kpis.straight_through_rate:.0%}, "
            f"review {kpis.review_rate:.0%}, time per item p50 {kpis.time_p50_s} s / p95 {kpis.time_p95_s} s"
        )
        _, html, _ = write_report(runner.journal, summary.batch_id, folder=folder / "report")
        print(f"Report: {html}")
        submitted = {effect.invoice.number: effect.count for effect in site.state().invoices.submitted}
        good = [row["invoice_number"] for row in rows if "BAD" not in row["invoice_number"]]
        once = all(submitted.get(number) == 1 for number in good)
        print(
            f"Server state: {sum(submitted.values())} invoices submitted; each good one exactly once: {once}"
        )
        return 0 if once and set(submitted) == set(good) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
