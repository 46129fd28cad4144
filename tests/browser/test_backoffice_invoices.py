"""Invoice list: search, status filter, sorting, pagination and CSV export of the current filter."""

from __future__ import annotations

import csv
from decimal import Decimal

from playwright.async_api import Page, expect

from operator_agent.testing.backoffice import BackofficeSite


async def _column(page: Page, index: int) -> list[str]:
    return await page.locator(f"table tbody tr td:nth-child({index})").all_inner_texts()


async def test_search_and_status_filter_show_only_matching_invoices(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    invoices = site.data().invoices
    approved = [inv for inv in invoices if inv.status == "approved"]
    vendor = max(
        {inv.vendor_name for inv in approved}, key=lambda name: sum(i.vendor_name == name for i in approved)
    )
    term = vendor.split()[0].lower()
    matching = [inv for inv in approved if term in inv.vendor_name.lower() or term in inv.number.lower()]
    expected = sorted(matching, key=lambda inv: (inv.invoice_date, inv.id), reverse=True)
    await page.goto(site.url + "/invoices")
    await page.get_by_role("searchbox", name="Search").fill(term.upper())
    await page.get_by_label("Status").select_option(label="Approved")
    await page.get_by_role("button", name="Apply").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"Showing 1–{len(expected)} of {len(expected)} invoices"
    )
    assert set(await _column(page, 2)) == {inv.vendor_name for inv in expected}
    assert {text.split()[0] for text in await _column(page, 6)} == {"Approved"}
    assert await _column(page, 1) == [inv.number for inv in expected]
    await page.get_by_role("button", name="Clear search").click()
    await expect(page.get_by_role("searchbox", name="Search")).to_have_value("")


async def test_sorting_by_amount_and_paginating(site: BackofficeSite, signed_in_page: Page) -> None:
    page = signed_in_page
    invoices = site.data().invoices
    by_amount = sorted(sorted(invoices, key=lambda inv: inv.id), key=lambda inv: inv.amount)
    await page.goto(site.url + "/invoices")
    await expect(page.get_by_role("status")).to_have_text("Showing 1–25 of 250 invoices")
    await page.get_by_role("link", name="Amount").click()
    await expect(page.get_by_role("columnheader", name="Amount")).to_have_attribute("aria-sort", "ascending")
    amounts = [Decimal(text.replace(",", "")) for text in await _column(page, 4)]
    assert amounts == [inv.amount for inv in by_amount[:25]]
    await page.get_by_role("link", name="Next").click()
    await expect(page.get_by_role("status")).to_have_text("Showing 26–50 of 250 invoices")
    assert await _column(page, 1) == [inv.number for inv in by_amount[25:50]]
    await page.get_by_role("link", name="Page 10").click()
    await expect(page.get_by_role("status")).to_have_text("Showing 226–250 of 250 invoices")
    await expect(page.get_by_role("link", name="Next")).to_have_count(0)
    await page.get_by_role("link", name="Amount").click()
    await expect(page.get_by_role("columnheader", name="Amount")).to_have_attribute("aria-sort", "descending")
    assert (await _column(page, 1))[0] == by_amount[-1].number


async def test_csv_export_downloads_every_row_of_the_current_filter(
    site: BackofficeSite, signed_in_page: Page, tmp_path
) -> None:
    page = signed_in_page
    submitted = [inv for inv in site.data().invoices if inv.status == "submitted"]
    assert len(submitted) > 25, "the export must not be limited to one page"
    await page.goto(site.url + "/invoices?status=submitted")
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Export CSV").click()
    download = await info.value
    assert download.suggested_filename == "invoices-export.csv"
    target = tmp_path / "export.csv"
    await download.save_as(target)
    with target.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["Number"] for row in rows} == {inv.number for inv in submitted}
    assert {row["Status"] for row in rows} == {"Awaiting approval"}
    first = next(inv for inv in submitted if inv.number == rows[0]["Number"])
    assert rows[0]["Vendor"] == first.vendor_name
    assert Decimal(rows[0]["Amount"]) == first.amount
    assert rows[0]["Invoice date"] == first.invoice_date.isoformat()


async def test_row_action_div_opens_the_invoice(site: BackofficeSite, signed_in_page: Page) -> None:
    page = signed_in_page
    await page.goto(site.url + "/invoices")
    number = (await _column(page, 1))[0]
    await page.locator("table tbody tr").first.get_by_text("View", exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Invoice {number}")
