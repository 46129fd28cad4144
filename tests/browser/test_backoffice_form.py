"""New-invoice form: every widget, the submit confirmation, server validation, replays, drafts, v2."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

from playwright.async_api import Page, expect

from operator_agent.testing.backoffice import BackofficeSite

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\nBT (Invoice 4471) Tj ET\n\x00\xff\xfe binary tail\r\n%%EOF\n"


def _pdf(name: str = "invoice-4471.pdf") -> dict[str, object]:
    return {"name": name, "mimeType": "application/pdf", "buffer": PDF}


async def _pick_vendor(page: Page, label: str, typed: str, option: str) -> None:
    box = page.get_by_role("combobox", name=label)
    await box.fill(typed)
    await page.get_by_role("option", name=option).click()
    await expect(box).to_have_value(option)


async def _fill_v1(page: Page, *, number: str) -> None:
    await _pick_vendor(page, "Vendor", "wind", "Northwind Traders")
    await page.get_by_label("Invoice number").fill(number)
    await page.get_by_label("Invoice date").fill("2026-04-01")
    due = page.get_by_role("textbox", name="Due date")
    await due.fill("2026-04-30")
    await due.press("Enter")
    await expect(due).to_have_value("30/04/2026")  # typed ISO, normalised to the person's format
    await page.get_by_label("Currency").select_option("EUR")
    await page.get_by_label("Description, line 1").fill("Pallets of paper")
    await page.get_by_label("Quantity, line 1").fill("3")
    await page.get_by_label("Unit price, line 1").fill("1,250.50")
    await page.get_by_role("button", name="Add line").click()
    await page.get_by_label("Description, line 2").fill("Delivery")
    await page.get_by_label("Quantity, line 2").fill("1")
    await page.get_by_label("Unit price, line 2").fill("49.99")
    await expect(page.locator("#invoice-total")).to_have_text("3,801.49 EUR")
    await page.get_by_label("Net 60 days").check()
    await page.get_by_label("Mark as urgent").check()
    await page.get_by_label("Invoice PDF").set_input_files(files=[_pdf()])
    await page.get_by_label("Notes").fill("Split delivery, see PO 7781")


async def test_create_with_every_field_and_submit_through_the_modal(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    await page.goto(site.url + "/invoices/new")
    await _fill_v1(page, number="NW-2026-0042")
    await page.get_by_role("button", name="Submit for payment").click()
    dialog = page.get_by_role("dialog", name="Submit this invoice for payment?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("3,801.49 EUR")
    assert site.state().count("invoice.submitted") == 0  # opening the modal changes nothing
    await dialog.get_by_role("button", name="Confirm submission").click()
    await expect(page.get_by_text("Invoice NW-2026-0042 was submitted for payment.")).to_be_visible()

    state = site.state()
    [effect] = state.invoices.submitted
    assert effect.count == 1
    assert state.count("invoice.created") == 1
    inv = effect.invoice
    assert (inv.number, inv.vendor_name, inv.currency, inv.status) == (
        "NW-2026-0042",
        "Northwind Traders",
        "EUR",
        "submitted",
    )
    assert (inv.invoice_date, inv.due_date) == (date(2026, 4, 1), date(2026, 4, 30))
    assert [(line.description, line.quantity, line.unit_price) for line in inv.lines] == [
        ("Pallets of paper", Decimal("3"), Decimal("1250.50")),
        ("Delivery", Decimal("1"), Decimal("49.99")),
    ]
    assert inv.amount == Decimal("3801.49")
    assert (inv.payment_terms, inv.urgent, inv.notes) == ("net60", True, "Split delivery, see PO 7781")
    assert inv.attachment is not None
    assert inv.attachment.filename == "invoice-4471.pdf"
    assert inv.attachment.sha256 == hashlib.sha256(PDF).hexdigest()  # binary upload arrives byte for byte
    assert inv.created_by == site.credentials.username


async def test_cancel_in_the_modal_and_enter_key_never_submit(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    await page.goto(site.url + "/invoices/new")
    await page.get_by_role("button", name="Submit for payment").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await page.get_by_label("Invoice number").fill("ENTER-1")
    await page.get_by_label("Invoice number").press("Enter")  # implicit submission = Save draft
    await expect(page.get_by_role("alert")).to_contain_text("problems with this invoice")
    assert site.state().count("invoice.submitted") == 0
    assert site.state().count("invoice.created") == 0


async def test_server_validation_shows_inline_errors_and_keeps_values(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    existing = site.data().invoices[0].number
    await page.goto(site.url + "/invoices/new")
    await page.get_by_role("combobox", name="Vendor").fill("Imaginary Supplies Ltd")
    await page.get_by_label("Invoice number").fill(existing)
    await page.get_by_label("Invoice date").fill("2026-05-10")
    await page.get_by_role("textbox", name="Due date").fill("01/05/2026")
    await page.get_by_label("Currency").select_option("GBP")
    await page.get_by_label("Description, line 1").fill("Toner")
    await page.get_by_label("Quantity, line 1").fill("0")
    await page.get_by_label("Unit price, line 1").fill("12,5x")
    await page.get_by_label("Invoice PDF").set_input_files(
        files=[{"name": "invoice.docx", "mimeType": "application/msword", "buffer": b"PK\x03\x04 not a pdf"}]
    )
    await page.get_by_label("Notes").fill("keep me")
    await page.get_by_role("button", name="Submit for payment").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm submission").click()

    await expect(page.get_by_role("alert")).to_contain_text("There are 6 problems with this invoice")
    vendor = page.get_by_role("combobox", name="Vendor")
    await expect(vendor).to_have_value("Imaginary Supplies Ltd")
    await expect(vendor).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#vendor-error")).to_have_text(re.compile("Unknown vendor"))
    await expect(page.locator("#invoice-number-error")).to_contain_text(
        f"Invoice number {existing} already exists"
    )
    await expect(page.get_by_label("Invoice number")).to_have_value(existing)
    await expect(page.locator("#due-date-error")).to_have_text(
        "The due date cannot be before the invoice date"
    )
    await expect(page.get_by_role("textbox", name="Due date")).to_have_value("01/05/2026")
    await expect(page.locator("#line-1-quantity-error")).to_have_text(
        "The quantity must be greater than zero"
    )
    await expect(page.locator("#line-1-unit_price-error")).to_have_text("Enter an amount like 1250.00")
    await expect(page.get_by_label("Unit price, line 1")).to_have_value("12,5x")
    await expect(page.locator("#attachment-error")).to_contain_text("must be a PDF")
    await expect(page.get_by_label("Currency")).to_have_value("GBP")
    await expect(page.get_by_label("Notes")).to_have_value("keep me")
    assert site.state().count("invoice.created") == 0


async def test_replayed_form_and_back_button_do_not_create_a_second_invoice(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    await page.goto(site.url + "/invoices/new")
    await _fill_v1(page, number="DUP-77")
    token = await page.locator("input[name=form_token]").input_value()
    await page.get_by_role("button", name="Submit for payment").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm submission").click()
    await expect(page).to_have_url(re.compile(r"/invoices/\d+$"))

    # The same form sent again (a double click that got through, a retrying proxy): refused.
    replay = await page.request.post(
        site.url + "/invoices/new",
        multipart={
            "form_token": token,
            "action": "submit",
            "vendor": "Northwind Traders",
            "number": "DUP-78",
            "invoice_date": "2026-04-01",
            "due_date": "30/04/2026",
            "currency": "EUR",
            "payment_terms": "net30",
            "line_description": "Delivery",
            "line_quantity": "1",
            "line_unit_price": "10",
            "attachment": {"name": "a.pdf", "mimeType": "application/pdf", "buffer": PDF},
        },
    )
    assert replay.status == 409
    assert "already submitted" in await replay.text()

    # Back to the form and the same data again: the invoice number is now taken.
    await page.go_back()
    await expect(page.get_by_label("Invoice number")).to_be_visible()
    await _fill_v1(page, number="DUP-77")
    await page.get_by_role("button", name="Submit for payment").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm submission").click()
    await expect(page.locator("#invoice-number-error")).to_contain_text("already exists")

    state = site.state()
    [effect] = state.invoices.submitted
    assert (effect.invoice.number, effect.count) == ("DUP-77", 1)
    assert state.count("invoice.created") == 1


async def test_draft_is_saved_then_submitted_as_the_same_invoice(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    await page.goto(site.url + "/invoices/new")
    await _pick_vendor(page, "Vendor", "zeph", "Zephyr HVAC Services")
    await page.get_by_label("Invoice number").fill("ZH-100")
    await page.get_by_label("Invoice date").fill("2026-03-01")
    await page.get_by_role("textbox", name="Due date").fill("15/03/2026")
    await page.get_by_label("Currency").select_option("CHF")
    await page.get_by_label("Description, line 1").fill("Filter change")
    await page.get_by_label("Quantity, line 1").fill("2")
    await page.get_by_label("Unit price, line 1").fill("80")
    await page.get_by_role("button", name="Save draft").click()
    await expect(page.get_by_text("Draft ZH-100 saved.")).to_be_visible()
    [draft] = site.state().invoices.drafts_saved
    assert (draft.invoice.status, draft.invoice.amount, draft.invoice.attachment) == (
        "draft",
        Decimal("160.00"),
        None,
    )

    # The edit form comes back filled in; a PDF is required to submit.
    await expect(page.get_by_label("Invoice number")).to_have_value("ZH-100")
    await expect(page.get_by_role("combobox", name="Vendor")).to_have_value("Zephyr HVAC Services")
    await page.get_by_role("button", name="Submit for payment").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm submission").click()
    await expect(page.locator("#attachment-error")).to_have_text("Attach the invoice PDF before submitting")
    await page.get_by_label("Invoice PDF").set_input_files(files=[_pdf("zh-100.pdf")])
    await page.get_by_role("button", name="Submit for payment").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm submission").click()
    await expect(page.get_by_text("Invoice ZH-100 was submitted for payment.")).to_be_visible()

    state = site.state()
    assert state.count("invoice.created") == 1
    [submitted] = state.invoices.submitted
    assert submitted.invoice.id == draft.invoice.id
    assert submitted.invoice.attachment is not None


async def test_keyboard_vendor_pick_and_calendar_popup(site: BackofficeSite, signed_in_page: Page) -> None:
    page = signed_in_page
    await page.goto(site.url + "/invoices/new")
    box = page.get_by_role("combobox", name="Vendor")
    options = page.get_by_role("listbox").get_by_role("option")
    await box.press_sequentially("ine")  # filters while typing: every vendor whose name holds "ine"
    await expect(options).to_have_count(2)
    await expect(options.first).to_have_text(re.compile("^Brightline Telecom AG"))
    await box.press_sequentially(" c")
    await expect(options).to_have_count(1)
    await box.press("ArrowDown")
    await expect(box).to_have_attribute("aria-expanded", "true")
    await box.press("Enter")
    await expect(box).to_have_value("Silverline Couriers")
    await expect(options).to_have_count(0)
    await expect(box).to_have_attribute("aria-expanded", "false")

    await page.get_by_role("button", name="Open calendar").click()
    calendar = page.get_by_role("dialog", name="Choose date")
    await expect(calendar).to_be_visible()
    await page.get_by_role("textbox", name="Due date").fill("2026-12-01")
    await page.get_by_role("button", name="Open calendar").click()
    await page.get_by_role("button", name="Open calendar").click()
    await calendar.get_by_role("button", name="31 December 2026").click()
    await expect(calendar).to_be_hidden()
    await expect(page.get_by_role("textbox", name="Due date")).to_have_value("31/12/2026")


async def test_v2_same_function_with_other_words_ids_and_order(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    site.set_variant("v2")
    await page.goto(site.url + "/invoices/new")
    await expect(page.get_by_role("button", name="Submit for payment")).to_have_count(0)
    await expect(page.locator("#invoice-number")).to_have_count(0)
    labels = await page.locator("form label").all_inner_texts()
    assert labels.index("Invoice no.") < labels.index("Vendor name")  # field order changed
    await _pick_vendor(page, "Vendor name", "lumen", "Lumen Lighting Systems")
    await page.get_by_label("Invoice no.").fill("LL-9")
    await page.get_by_label("Date of invoice").fill("2026-02-02")
    await page.get_by_role("textbox", name="Payment due").fill("2/3/2026")
    await page.get_by_label("Currency code").select_option("SEK")
    await page.get_by_label("Item, item 1").fill("Lamps")
    await page.get_by_label("Qty, item 1").fill("4")
    await page.get_by_label("Price per unit, item 1").fill("99.5")
    await page.get_by_role("button", name="Add item").click()
    await page.get_by_label("Item, item 2").fill("Fitting")
    await page.get_by_label("Qty, item 2").fill("1")
    await page.get_by_label("Price per unit, item 2").fill("150")
    await page.get_by_label("Net 15 days").check()
    await page.get_by_label("PDF copy of invoice").set_input_files(files=[_pdf()])
    await page.get_by_role("button", name="Send to payment run").click()
    await page.get_by_role("dialog").get_by_role("button", name="Yes, send it").click()
    await expect(page.get_by_text("Invoice LL-9 was submitted for payment.")).to_be_visible()
    [effect] = site.state().invoices.submitted
    assert effect.count == 1
    assert (effect.invoice.due_date, effect.invoice.amount, effect.invoice.currency) == (
        date(2026, 3, 2),
        Decimal("548.00"),
        "SEK",
    )
    assert site.state().variant == "v2"
