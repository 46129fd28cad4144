"""The back-office skills: each one changes the server exactly as asked, and nothing when denied."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

from operator_agent.errors import ApprovalDeniedError
from operator_agent.skills import Skill, SkillContext, SkillRegistry, bundled_skills
from operator_agent.testing.backoffice import BackofficeSite, FaultConfig

PDF = b"%PDF-1.4\n% operator-agent test invoice\n"


@pytest.fixture(scope="module")
def skills() -> SkillRegistry:
    return bundled_skills()


def use(skills: SkillRegistry, name: str) -> Skill[Any]:
    return skills[name]


class Approvals:
    """Records what is asked and answers as told."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[str, str | None, dict[str, Any]]] = []

    async def __call__(self, kind: str, target: str | None, arguments: dict[str, Any]) -> bool:
        self.asked.append((kind, target, arguments))
        return self.answer


def invoice_arguments(number: str) -> dict[str, Any]:
    return {
        "vendor": "Blue Harbor Catering",
        "invoice_number": number,
        "invoice_date": date(2026, 10, 30),
        "due_date": date(2026, 11, 29),
        "currency": "GBP",
        "lines": [{"description": "Team lunch", "quantity": 12, "unit_price": "18.50"}],
        "payment_terms": "receipt",
        "attachment": "bh-4471.pdf",
        "notes": "Approved by Dana",
    }


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    (tmp_path / "bh-4471.pdf").write_bytes(PDF)
    return tmp_path


async def test_enter_invoice_submits_once_in_v2_under_faults(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, run_folder: Path
) -> None:
    site.set_variant("v2")
    site.set_faults(
        FaultConfig(
            seed=11, latency_ms=(20, 150), interstitial_rate=0.5, slow_spinner_ms=400, rerender_rate=1.0
        )
    )
    await signed_in_page.goto(site.url + "/invoices")
    approvals = Approvals(True)
    ctx = SkillContext.for_page(signed_in_page, run_dir=run_folder, approve=approvals)
    entered = await use(skills, "enter_invoice")(ctx, **invoice_arguments("BH-4471"))
    state = site.state()
    assert state.count("invoice.submitted") == 1
    assert state.count("invoice.created") == 1
    invoice = state.invoices.submitted[0].invoice
    assert (invoice.number, invoice.vendor_name, invoice.currency) == (
        "BH-4471",
        "Blue Harbor Catering",
        "GBP",
    )
    assert (invoice.due_date, invoice.payment_terms, invoice.amount) == (
        date(2026, 11, 29),
        "receipt",
        Decimal("222.00"),
    )
    assert invoice.attachment is not None
    assert invoice.status == "submitted"
    assert entered.status == "submitted"
    assert entered.invoice_id == invoice.id
    assert entered.message == "Invoice BH-4471 was submitted for payment."
    assert len(approvals.asked) == 1, "only the final confirmation needs approval"
    kind, target, details = approvals.asked[0]
    assert kind == "click"
    assert 'button "Yes, send it"' in str(target)
    assert details == {"skill": "enter_invoice"}


async def test_a_denied_submission_changes_nothing_on_the_server(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, run_folder: Path
) -> None:
    await signed_in_page.goto(site.url + "/invoices")
    approvals = Approvals(False)
    ctx = SkillContext.for_page(signed_in_page, run_dir=run_folder, approve=approvals)
    with pytest.raises(ApprovalDeniedError) as info:
        await use(skills, "enter_invoice")(ctx, **invoice_arguments("BH-4472"))
    assert 'button "Confirm submission"' in str(info.value.target)
    assert len(approvals.asked) == 1
    state = site.state()
    assert state.count("invoice.created") == 0
    assert state.count("invoice.submitted") == 0
    assert state.count("invoice.draft_saved") == 0


def as_json(arguments: dict[str, Any]) -> str:
    """Arguments as a model would send them."""
    return json.dumps(arguments, default=str)


@pytest.mark.parametrize("variant", ["v1", "v2"])
async def test_reply_to_ticket_sends_once_and_closes(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, variant: str
) -> None:
    site.set_variant(variant)  # type: ignore[arg-type]
    ticket = next(t for t in site.data().tickets if t.status == "open")
    await signed_in_page.goto(site.url + "/tickets")
    approvals = Approvals(True)
    ctx = SkillContext.for_page(signed_in_page, approve=approvals)
    message = "Hello,\n\nthe corrected invoice is attached.\n\nKind regards"
    result = await use(skills, "reply_to_ticket")(
        ctx, ticket_id=ticket.id, message=message, close=variant == "v2"
    )
    state = site.state()
    assert [(r.ticket_id, r.body, r.count) for r in state.tickets.replies] == [(ticket.id, message, 1)]
    assert result.message == f"Reply sent to {ticket.customer}."
    assert [kind for kind, _, _ in approvals.asked] == (["click", "click"] if variant == "v2" else ["click"])
    assert [c.ticket_id for c in state.tickets.closed] == ([ticket.id] if variant == "v2" else [])
    assert result.closed is (variant == "v2")


async def test_a_denied_reply_is_not_sent_and_a_closed_ticket_is_refused(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry
) -> None:
    tickets = site.data().tickets
    open_ticket = next(t for t in tickets if t.status == "open")
    closed_ticket = next(t for t in tickets if t.status == "closed")
    await signed_in_page.goto(site.url + "/tickets")
    ctx = SkillContext.for_page(signed_in_page, approve=Approvals(False))
    denied = await use(skills, "reply_to_ticket").invoke(
        ctx, as_json({"ticket_id": open_ticket.id, "message": "Hi"})
    )
    assert denied.denied
    assert "no irreversible step was carried out" in denied.message
    refused = await use(skills, "reply_to_ticket").invoke(
        ctx, as_json({"ticket_id": closed_ticket.id, "message": "Hi"})
    )
    assert refused.failed_step == "open the ticket"
    assert "is closed" in refused.message
    assert site.state().count("ticket.reply") == 0


async def test_update_vendor_bank_details_asks_once_with_the_new_details(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry
) -> None:
    site.set_variant("v2")
    site.set_faults(FaultConfig(seed=2, latency_ms=(20, 100), rerender_rate=1.0))
    vendor = site.data().vendors[7]
    await signed_in_page.goto(site.url + "/invoices")
    approvals = Approvals(True)
    ctx = SkillContext.for_page(signed_in_page, approve=approvals)
    arguments = {
        "vendor": vendor.name,
        "iban": "NL91 ABNA 0417 1643 00",
        "bic": "ABNANL2A",
        "account_holder": "Cobalt BV",
    }
    change = await use(skills, "update_vendor_bank_details")(ctx, **arguments)
    assert approvals.asked == [("update_vendor_bank_details", "skill update_vendor_bank_details", arguments)]
    changes = site.state().vendors.bank_details_changed
    assert [(c.vendor_id, c.iban, c.bic, c.account_holder, c.count) for c in changes] == [
        (vendor.id, "NL91ABNA0417164300", "ABNANL2A", "Cobalt BV", 1)
    ]
    assert change.vendor_id == vendor.id
    assert change.changed


async def test_a_denied_bank_details_change_does_not_even_open_the_vendor(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry
) -> None:
    vendor = site.data().vendors[2]
    await signed_in_page.goto(site.url + "/invoices")
    ctx = SkillContext.for_page(signed_in_page, approve=Approvals(False))
    result = await use(skills, "update_vendor_bank_details").invoke(
        ctx,
        as_json(
            {
                "vendor": vendor.id,
                "iban": "DE89370400440532013000",
                "bic": "COBADEFFXXX",
                "account_holder": "X",
            }
        ),
    )
    assert result.denied
    assert [step.kind for step in result.steps] == ["approval"]
    assert signed_in_page.url == site.url + "/invoices"
    assert site.state().count("vendor.bank_details_changed") == 0


async def test_bank_details_the_back_office_refuses_fail_with_its_message(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry
) -> None:
    vendor = site.data().vendors[5]
    await signed_in_page.goto(site.url + "/vendors")
    ctx = SkillContext.for_page(signed_in_page, approve=Approvals(True))
    arguments = {
        "vendor": vendor.name,
        "iban": "DE00 1234",
        "bic": "COBADEFFXXX",
        "account_holder": "Someone",
    }
    result = await use(skills, "update_vendor_bank_details").invoke(ctx, as_json(arguments))
    assert not result.ok
    assert result.failed_step == "save the bank details"
    assert "the back office refused the bank details" in result.message
    assert "IBAN" in result.message
    assert site.state().count("vendor.bank_details_changed") == 0


async def test_enter_invoice_fails_on_an_error_page_and_is_rejected_on_refusal(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, run_folder: Path
) -> None:
    from playwright.async_api import Route

    from operator_agent.batch import classify_error
    from operator_agent.errors import ItemRejectedError, SkillFailedError

    # The gateway answers the submission with a 502 page: the invoice never reaches the site.
    async def gateway_down(route: Route) -> None:
        if route.request.method == "POST":
            await route.fulfill(status=502, content_type="text/html", body="<h1>Bad gateway</h1>")
        else:
            await route.continue_()

    await signed_in_page.goto(site.url + "/invoices")
    await signed_in_page.route(re.compile(r"/invoices"), gateway_down)
    ctx = SkillContext.for_page(signed_in_page, run_dir=run_folder, approve=Approvals(True))
    with pytest.raises(SkillFailedError, match=r"did not confirm the invoice.*Bad gateway") as failed:
        await use(skills, "enter_invoice")(ctx, **invoice_arguments("BH-5001"))
    assert failed.value.step == "save the invoice"
    assert classify_error(failed.value) == "transient"
    assert site.state().count("invoice.submitted") == 0
    await signed_in_page.unroute(re.compile(r"/invoices"), gateway_down)

    # The site's own validation refuses a due date before the invoice date: rejected, not retried.
    refused = invoice_arguments("BH-5002") | {"due_date": date(2026, 10, 1)}
    with pytest.raises(ItemRejectedError, match="refused the invoice") as rejected:
        await use(skills, "enter_invoice")(ctx, **refused)
    assert classify_error(rejected.value) == "rejected"
    assert site.state().count("invoice.submitted") == 0


async def test_enter_invoice_with_values_the_form_does_not_offer_goes_to_review_untouched(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, run_folder: Path
) -> None:
    from operator_agent.batch import classify_error
    from operator_agent.errors import ItemRejectedError, SkillFailedError, ValueNotOfferedError

    await signed_in_page.goto(site.url + "/invoices")
    ctx = SkillContext.for_page(signed_in_page, run_dir=run_folder, approve=Approvals(True))
    # A currency the form's list does not have: found before anything is saved. Still a skill
    # failure for scripts that catch those, but the input is at fault: a batch sends the item to
    # review instead of retrying it.
    with pytest.raises(ValueNotOfferedError, match=r'"Currency" has no option "XYZ"') as info:
        await use(skills, "enter_invoice")(ctx, **invoice_arguments("BH-5003") | {"currency": "XYZ"})
    assert isinstance(info.value, SkillFailedError)
    assert info.value.fields == ["Currency"]
    assert classify_error(info.value) == "rejected"

    # A vendor the autocomplete does not know: no suggestion to pick, and the site refuses the name.
    await signed_in_page.goto(site.url + "/invoices")
    with pytest.raises(ItemRejectedError, match="Unknown vendor") as refused:
        await use(skills, "enter_invoice")(
            ctx, **invoice_arguments("BH-5004") | {"vendor": "Nonexistent Ltd"}
        )
    assert classify_error(refused.value) == "rejected"
    for event in ("invoice.created", "invoice.draft_saved", "invoice.submitted"):
        assert site.state().count(event) == 0, event
