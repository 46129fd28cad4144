"""The guardrail policy on the mock back office: its real irreversible buttons, in both layouts.

Each irreversible action of the back office (submit for payment and its confirm, approve, reject and
its confirm, delete and its confirm, send reply, save bank details and its confirm) needs approval, in
v1 and in the reworded v2; the everyday safe controls do not. Assessing never acts: the site records
no effect. Two Enter presses are then really carried out, to show the verdicts match what the browser
does.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page

from operator_agent.actions import Click, Fill, PageAction, Press
from operator_agent.guardrails.policy import Policy
from operator_agent.observe.refs import ElementRef
from operator_agent.testing.backoffice import BackofficeSite

CLICK = Click(ref="e1")
ENTER = Press(ref="e1", keys="Enter")
EFFECTS = (
    "invoice.submitted",
    "invoice.approved",
    "invoice.rejected",
    "invoice.deleted",
    "ticket.reply",
    "ticket.closed",
    "vendor.bank_details_changed",
)

# (path key, selector, action, needs approval)
CHECKS: list[tuple[str, str, PageAction, bool]] = [
    ("list", "form[role=search] button[type=submit]", CLICK, False),
    ("list", "form[role=search] input[name=q]", ENTER, False),
    ("list", "a[download]", CLICK, False),
    ("list", "a[href='/invoices/new']", CLICK, False),
    ("list", "button[data-clear]", CLICK, False),
    ("list", "form[action='/logout'] button", CLICK, False),
    ("new", "button[data-open-modal]", CLICK, True),
    ("new", "button[name=action][value=submit]", CLICK, True),
    ("new", "button[name=action][value=draft]", CLICK, False),
    ("new", "button[data-add-line]", CLICK, False),
    ("new", "button[data-remove-line]", CLICK, False),
    ("new", "button.cal-toggle", CLICK, False),
    ("new", "[role=dialog] button[data-close-modal]", CLICK, False),
    ("new", "input[name=number]", ENTER, False),
    ("detail", "form[action$='/approve'] button", CLICK, True),
    ("detail", "button[data-open-modal='reject-dialog']", CLICK, True),
    ("detail", "#reject-dialog button[type=submit]", CLICK, True),
    ("detail", "#reject-dialog textarea", ENTER, False),
    ("detail", "#reject-dialog button[data-close-modal]", CLICK, False),
    ("detail", "button[data-open-modal='delete-dialog']", CLICK, True),
    ("detail", "#delete-dialog button[type=submit]", CLICK, True),
    ("detail", "#delete-dialog button[data-close-modal]", CLICK, False),
    ("detail", "button[data-print]", CLICK, False),
    ("ticket", "form[action$='/reply'] button[type=submit]", CLICK, True),
    ("ticket", "form[action$='/reply'] textarea", ENTER, False),
    ("ticket", "form[action$='/assign'] button", CLICK, False),
    ("ticket", "button.tag-remove >> nth=0", CLICK, False),
    ("ticket", "form[action$='/tags']:not(.inline) button", CLICK, False),
    # Closing a ticket tells the customer and ends the conversation: the policy asks.
    ("ticket", "form[action$='/close'] button", CLICK, True),
    ("vendor", "button[data-open-modal='bank-confirm']", CLICK, True),
    ("vendor", "#bank-confirm button[type=submit]", CLICK, True),
    ("vendor", "#bank-confirm button[data-close-modal]", CLICK, False),
    ("vendor", "form.bank-form input[name=iban]", Fill(ref="e1", text="DE02120300000000202051"), False),
    ("vendor", "form.bank-form input[name=iban]", ENTER, True),
]


def _paths(site: BackofficeSite) -> dict[str, str]:
    data = site.data()
    submitted = next(invoice for invoice in data.invoices if invoice.status == "submitted")
    ticket = next(ticket for ticket in data.tickets if ticket.status == "open" and ticket.tags)
    return {
        "list": "/invoices",
        "new": "/invoices/new",
        "detail": f"/invoices/{submitted.id}",
        "ticket": f"/tickets/{ticket.id}",
        "vendor": f"/vendors/{data.vendors[0].id}",
    }


def _effects(site: BackofficeSite) -> dict[str, int]:
    state = site.state()
    return {kind: state.count(kind) for kind in EFFECTS}


@pytest.mark.parametrize("variant", ["v1", "v2"])
async def test_real_irreversible_buttons_need_approval(
    site: BackofficeSite, signed_in_page: Page, variant: str
) -> None:
    site.set_variant("v2" if variant == "v2" else "v1")
    page = signed_in_page
    paths = _paths(site)
    policy = Policy()
    wrong: list[str] = []
    current = ""
    for key, selector, action, expected in CHECKS:
        if key != current:
            await page.goto(site.url + paths[key])
            current = key
        assert await page.locator(selector).count() >= 1, f"{variant} {key}: nothing matches {selector}"
        element = ElementRef(ref="e1", frame=page.main_frame, selector=selector, role="", name="", tag="")
        verdict = await policy.assess(action, element, page=page)
        if verdict.needs_approval != expected:
            wrong.append(f"{key} {selector} {action.kind}: {verdict.summary()}")
    assert wrong == []
    assert _effects(site) == dict.fromkeys(EFFECTS, 0), "assessing an action must never carry it out"


async def test_enter_in_the_iban_field_really_changes_the_bank_details(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    """The bank form's only submit button is the hidden confirm: Enter skips the confirmation dialog."""
    page = signed_in_page
    await page.goto(site.url + _paths(site)["vendor"])
    iban = "form.bank-form input[name=iban]"
    element = ElementRef(
        ref="e1", frame=page.main_frame, selector=iban, role="textbox", name="IBAN", tag="input"
    )
    verdict = await Policy().assess(ENTER, element, page=page)
    assert verdict.needs_approval
    assert "submits POST /vendors/" in verdict.reasons[0]
    await page.locator(iban).fill("DE02120300000000202051")
    async with page.expect_navigation():
        await page.locator(iban).press("Enter")
    assert site.state().count("vendor.bank_details_changed") == 1


async def test_enter_in_the_invoice_form_only_saves_a_draft(
    site: BackofficeSite, signed_in_page: Page
) -> None:
    """The invoice form's first submit button is Save draft: Enter there is safe, and submits nothing."""
    page = signed_in_page
    await page.goto(site.url + "/invoices/new")
    number = "input[name=number]"
    element = ElementRef(
        ref="e1", frame=page.main_frame, selector=number, role="textbox", name="", tag="input"
    )
    verdict = await Policy().assess(ENTER, element, page=page)
    assert verdict.decision == "allow"
    assert "'Save draft'" in verdict.reasons[0]
    await page.locator(number).fill("NW-2026-0099")
    async with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/invoices/new")) as sent:
        await page.locator(number).press("Enter")
    body = (await sent.value).post_data or ""
    assert re.search(r'name="action"\s+draft', body), "Enter went through the Save draft button"
    await page.wait_for_load_state()
    assert site.state().count("invoice.submitted") == 0
