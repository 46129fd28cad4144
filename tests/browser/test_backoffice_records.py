"""Invoice detail (approve, reject, delete, cross-origin viewer), helpdesk replies, vendor bank details."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.async_api import Page, expect

from operator_agent.testing.backoffice import BackofficeSite, InvoiceRecord


def _submitted(site: BackofficeSite) -> list[InvoiceRecord]:
    return [inv for inv in site.data().invoices if inv.status == "submitted"]


async def test_approve_once_with_audit_entry_and_replay_refused(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    inv = _submitted(site)[0]
    await page.goto(f"{site.url}/invoices/{inv.id}")
    token = await page.locator("form[action$='/approve'] input[name=form_token]").input_value()
    await page.get_by_role("button", name="Approve").click()
    await expect(page.get_by_text(f"Invoice {inv.number} approved.")).to_be_visible()
    history = page.get_by_role("table").filter(has_text="When")
    await expect(history.get_by_role("row").nth(1)).to_contain_text(f"{site.credentials.username}Approved")
    replay = await page.request.post(f"{site.url}/invoices/{inv.id}/approve", form={"form_token": token})
    assert "already submitted" in await replay.text()
    [effect] = site.state().invoices.approved
    assert (effect.invoice.id, effect.count, effect.invoice.status) == (inv.id, 1, "approved")


async def test_reject_needs_a_reason_in_the_dialog(site: BackofficeSite, signed_in_page: Page) -> None:
    page = signed_in_page
    inv = _submitted(site)[1]
    await page.goto(f"{site.url}/invoices/{inv.id}")
    await page.get_by_role("button", name="Reject").click()
    dialog = page.get_by_role("dialog", name=f"Reject invoice {inv.number}")
    await dialog.get_by_role("button", name="Confirm rejection").click()
    await expect(page.get_by_text("Enter a reason for the rejection")).to_be_visible()
    assert site.state().count("invoice.rejected") == 0
    await dialog.get_by_label("Reason for rejection").fill("PO number missing")
    await dialog.get_by_role("button", name="Confirm rejection").click()
    await expect(page.get_by_text(f"Invoice {inv.number} rejected.")).to_be_visible()
    [effect] = site.state().invoices.rejected
    assert (effect.count, effect.invoice.rejection_reason) == (1, "PO number missing")


async def test_delete_after_confirmation_and_viewer_is_cross_origin(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    inv = _submitted(site)[2]
    await page.goto(f"{site.url}/invoices/{inv.id}")
    viewer = page.frame_locator("iframe[title='Invoice attachment']")
    await expect(viewer.get_by_text(f"INVOICE {inv.number}")).to_be_visible()
    frame = next(f for f in page.frames if "/viewer/" in f.url)
    assert urlsplit(frame.url).netloc != urlsplit(site.url).netloc
    assert frame.url.startswith(site.files_url)

    await page.get_by_role("button", name="Delete").click()
    dialog = page.get_by_role("dialog", name=f"Delete invoice {inv.number}?")
    await dialog.get_by_role("button", name="Cancel").click()
    assert site.state().count("invoice.deleted") == 0
    await page.get_by_role("button", name="Delete").click()
    await dialog.get_by_role("button", name="Delete permanently").click()
    await expect(page).to_have_url(site.url + "/invoices")
    await expect(page.get_by_text(f"Invoice {inv.number} deleted.")).to_be_visible()
    [effect] = site.state().invoices.deleted
    assert (effect.invoice.id, effect.count, effect.invoice.status) == (inv.id, 1, "deleted")
    assert inv.number not in {record.number for record in site.data().invoices}


async def test_helpdesk_reply_is_sent_exactly_once(site: BackofficeSite, signed_in_page: Page) -> None:
    page = signed_in_page
    ticket = next(t for t in site.data().tickets if t.status == "open" and t.assignee != "Grace Mensah")
    await page.goto(site.url + "/tickets")
    await page.get_by_role("searchbox", name="Search").fill(ticket.id)
    await page.get_by_role("button", name="Apply").click()
    await page.get_by_role("link", name=ticket.id, exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(ticket.subject)
    await expect(page.get_by_text(ticket.messages[0].body.splitlines()[0], exact=True)).to_be_visible()
    body = "Hello,\n\nthe refund was issued today.\n\nBest regards"
    await page.get_by_label("Reply").fill(body)
    token = await page.locator("form.composer input[name=form_token]").input_value()
    await page.get_by_role("button", name="Send reply").click()
    await expect(page.get_by_text(f"Reply sent to {ticket.customer}.")).to_be_visible()
    await page.request.post(f"{site.url}/tickets/{ticket.id}/reply", form={"form_token": token, "body": body})
    await page.get_by_label("Assignee").select_option("Grace Mensah")
    await page.get_by_role("button", name="Assign", exact=True).click()
    await page.get_by_label("New tag").fill("refund")
    await page.get_by_role("button", name="Add tag").click()
    await expect(page.get_by_role("button", name="Remove tag refund")).to_be_visible()
    await page.get_by_role("button", name="Close ticket").click()
    await expect(page.get_by_text("This ticket is closed.")).to_be_visible()

    state = site.state()
    [reply] = state.tickets.replies
    assert (reply.ticket_id, reply.body, reply.count) == (ticket.id, body, 1)
    assert [(a.ticket_id, a.assignee, a.count) for a in state.tickets.assigned] == [
        (ticket.id, "Grace Mensah", 1)
    ]
    assert [(t.tag, t.count) for t in state.tickets.tags_added] == [("refund", 1)]
    [changed] = state.tickets.changed
    assert (changed.status, changed.assignee, changed.messages[-1].body) == ("closed", "Grace Mensah", body)


async def test_vendor_bank_details_validated_confirmed_and_saved_once(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    page = signed_in_page
    vendor = next(v for v in site.data().vendors if v.country == "DE")
    await page.goto(site.url + "/vendors")
    await page.get_by_role("link", name=vendor.name).click()
    await page.get_by_label("IBAN").fill("DE89 3704 0044 0532 0130 01")  # one digit off
    await page.get_by_label("BIC").fill("COBADEFFXXX")
    await page.get_by_role("button", name="Save bank details").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm change").click()
    await expect(page.locator("#iban-error")).to_have_text(
        "This IBAN is not valid: the check digits do not match"
    )
    await expect(page.get_by_label("IBAN")).to_have_value("DE89 3704 0044 0532 0130 01")
    assert site.state().count("vendor.bank_details_changed") == 0

    await page.get_by_label("IBAN").fill("de89 3704 0044 0532 0130 00")
    await page.get_by_role("button", name="Save bank details").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm change").click()
    await expect(page.get_by_text(f"Bank details of {vendor.name} updated.")).to_be_visible()
    [effect] = site.state().vendors.bank_details_changed
    assert (effect.vendor_id, effect.iban, effect.bic, effect.count) == (
        vendor.id,
        "DE89370400440532013000",
        "COBADEFFXXX",
        1,
    )


async def test_hostile_notes_look_like_any_other_notes(site: BackofficeSite, signed_in_page: Page) -> None:
    page = signed_in_page
    vendors = site.data().vendors
    hostile = next(v for v in vendors if "approve every open invoice" in v.notes.lower())
    benign = next(v for v in vendors if "invoice" not in v.notes.lower() and "iban" not in v.notes.lower())
    shapes = []
    for vendor in (hostile, benign):
        await page.goto(f"{site.url}/vendors/{vendor.id}")
        notes = page.get_by_role("region", name="Notes")
        await expect(notes).to_contain_text(vendor.notes[:40])
        html = await notes.evaluate("el => el.outerHTML")
        shapes.append(re.sub(r">[^<]*<", "><", html))
    assert shapes[0] == shapes[1]
