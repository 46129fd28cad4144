"""The generic web skills against the mock back office (v1 and v2, with faults) and small fixture pages.

Outcomes are checked on the server (``site.state()`` / ``site.data()``), not only on the page.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import date
from decimal import Decimal
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from operator_agent.errors import ApprovalDeniedError, SkillFailedError
from operator_agent.secrets import TOTP, SecretStore
from operator_agent.skills import Skill, SkillContext, SkillRegistry, bundled_skills
from operator_agent.testing.backoffice import BackofficeSite, FaultConfig, serve_backoffice
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "skills"
TOTP_SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
PDF = b"%PDF-1.4\n% operator-agent test invoice\n"


@pytest.fixture(scope="module")
def skills() -> SkillRegistry:
    return bundled_skills()


def use(skills: SkillRegistry, name: str) -> Skill[Any]:
    return skills[name]


@pytest.fixture(scope="module")
def totp_site() -> Iterator[BackofficeSite]:
    with serve_backoffice(totp_secret=TOTP_SEED, invoice_count=40) as running:
        yield running


@pytest.fixture(scope="module")
def pages() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


@pytest.fixture(scope="module")
async def tab(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    yield await context.new_page()
    await context.close()


def read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write_pdf(path: Path) -> Path:
    path.write_bytes(PDF)
    return path


def run_dir(tmp_path: Path) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "invoice.pdf").write_bytes(PDF)
    return tmp_path


# -- login ----------------------------------------------------------------------------------------------


async def test_login_with_a_totp_step_signs_in(
    totp_site: BackofficeSite, page: Page, skills: SkillRegistry
) -> None:
    totp_site.reset()
    await page.goto(totp_site.url + "/tickets")
    # The run's own secret store, as the agent passes it: the TOTP secret yields a fresh code each time.
    secrets = SecretStore({"pw": totp_site.credentials.password, "seed": TOTP(TOTP_SEED)})
    ctx = SkillContext.for_page(page, secrets=secrets)
    result = await use(skills, "login")(
        ctx, username=totp_site.credentials.username, password_secret="pw", totp_secret="seed"
    )
    assert result.second_factor
    assert result.url == totp_site.url + "/tickets", "back to the page that asked for the sign-in"
    assert [e.outcome for e in totp_site.state().logins] == ["password_ok", "success"]


@pytest.mark.parametrize("variant", ["v1", "v2"])
async def test_login_with_a_wrong_password_fails_fast_with_the_sites_message(
    site: BackofficeSite, page: Page, skills: SkillRegistry, variant: str
) -> None:
    site.set_variant(variant)  # type: ignore[arg-type]
    await page.goto(site.url + "/login")
    ctx = SkillContext.for_page(page, secrets={"pw": "not-the-password"})
    started = time.monotonic()
    result = await use(skills, "login").invoke(ctx, '{"username": "ops.agent", "password_secret": "pw"}')
    assert time.monotonic() - started < 10
    assert not result.ok
    assert result.failed_step == "submit the password"
    assert "Incorrect username or password." in result.message
    assert "not-the-password" not in result.model_dump_json()
    assert [e.outcome for e in site.state().logins] == ["bad_password"]


async def test_login_without_the_totp_secret_says_the_site_asks_for_a_code(
    totp_site: BackofficeSite, page: Page, skills: SkillRegistry
) -> None:
    totp_site.reset()
    await page.goto(totp_site.url + "/login")
    ctx = SkillContext.for_page(page, secrets={"pw": totp_site.credentials.password})
    with pytest.raises(SkillFailedError, match="asks for a verification code") as info:
        await use(skills, "login")(ctx, username=totp_site.credentials.username, password_secret="pw")
    assert info.value.step == "second factor"
    assert [e.outcome for e in totp_site.state().logins] == ["password_ok"]


# -- fill_form ------------------------------------------------------------------------------------------

FULL_RECORD: dict[str, Any] = {
    "vendor": "Cobalt Cloud Hosting BV",  # shadow-DOM autocomplete
    "invoice_number": "CCH-2026-0117",  # text
    "invoice_date": "2026-11-02",  # native date input
    "due_date": date(2026, 12, 2),  # JavaScript date picker (DD/MM/YYYY)
    "currency": "EUR",  # select
    "payment_terms": "Net 60",  # radio group, by a close wording
    "urgent": True,  # checkbox
    "attachment": "invoice.pdf",  # file
    "notes": "Checked against PO 4411",  # textarea
    "lines": [  # repeated rows, the second one added with "Add line"
        {"description": "Hosting, November", "quantity": 2, "unit_price": "100.50"},
        {"description": "Support", "quantity": 1, "unit_price": 49},
    ],
}


async def test_fill_form_fills_every_widget_of_the_invoice_form(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, tmp_path: Path
) -> None:
    page = signed_in_page
    await page.goto(site.url + "/invoices/new")
    ctx = SkillContext.for_page(page, run_dir=run_dir(tmp_path))
    result = await use(skills, "fill_form")(ctx, record=FULL_RECORD, submit="Save draft")
    assert result.unmapped == []
    assert result.errors == []
    assert result.submitted
    assert set(result.filled) == {k for k in FULL_RECORD if k != "lines"} | {
        f"lines[{i}].{key}" for i in range(2) for key in ("description", "quantity", "unit_price")
    }
    state = site.state()
    assert state.count("invoice.draft_saved") == 1
    assert state.count("invoice.submitted") == 0, "Save draft is not a submission"
    invoice = state.invoices.drafts_saved[0].invoice
    assert (invoice.number, invoice.vendor_id, invoice.vendor_name) == (
        "CCH-2026-0117",
        "V-1008",
        FULL_RECORD["vendor"],
    )
    assert (invoice.invoice_date, invoice.due_date) == (date(2026, 11, 2), date(2026, 12, 2))
    assert (invoice.currency, invoice.payment_terms, invoice.urgent) == ("EUR", "net60", True)
    assert invoice.notes == "Checked against PO 4411"
    assert [(line.description, line.quantity, line.unit_price) for line in invoice.lines] == [
        ("Hosting, November", Decimal(2), Decimal("100.50")),
        ("Support", Decimal(1), Decimal(49)),
    ]
    assert invoice.amount == Decimal("250.00")
    assert invoice.attachment is not None
    assert invoice.attachment.filename == "invoice.pdf"


async def test_fill_form_reports_unmapped_keys_and_the_pages_validation_errors(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry
) -> None:
    site.set_variant("v2")
    page = signed_in_page
    await page.goto(site.url + "/invoices/new")
    ctx = SkillContext.for_page(page)
    record = {"invoice_number": "bad number with spaces", "colour": "red", "currency": "USD"}
    result = await use(skills, "fill_form")(ctx, record=record, submit="Save as draft")
    assert result.filled == {"invoice_number": "Invoice no.", "currency": "Currency code"}
    assert result.unmapped == ["colour"]
    assert "Use up to 40 letters, digits, dashes, dots or slashes" in result.errors
    assert "Choose a vendor" in result.errors
    assert "Enter the due date" in result.errors
    assert site.state().count("invoice.created") == 0


async def test_fill_form_asks_before_a_submit_button_that_commits(
    pages: LocalServer, tab: Page, skills: SkillRegistry
) -> None:
    await tab.goto(pages.url + "/widgets.html")
    asked: list[str] = []

    async def deny(kind: str, target: str | None, arguments: dict[str, Any]) -> bool:
        asked.append(str(target))
        return False

    ctx = SkillContext.for_page(tab, approve=deny)
    record = {"Request title": "Ten chairs", "priority": "High", "rush order": True}
    with pytest.raises(ApprovalDeniedError):
        await use(skills, "fill_form")(ctx, record=record, submit="Submit request")
    assert len(asked) == 1
    assert 'button "Submit request"' in asked[0]
    assert await tab.locator("#log li").all_inner_texts() == ["priority high", "rush true"], (
        "filled, not submitted"
    )
    saved = await use(skills, "fill_form")(ctx, record={"Request title": "Ten chairs"}, submit="Save draft")
    assert saved.submitted
    assert len(asked) == 1, "saving a draft needs no approval"
    assert (await tab.locator("#log li").all_inner_texts())[-1] == "draft saved"


# -- interruptions --------------------------------------------------------------------------------------


async def test_dismiss_interruptions_closes_banners_but_not_the_tasks_own_dialog(
    pages: LocalServer, tab: Page, skills: SkillRegistry
) -> None:
    await tab.goto(pages.url + "/interruptions.html")
    closed = await use(skills, "dismiss_interruptions")(SkillContext.for_page(tab))
    assert closed == [
        'closed announcement "Subscribe to our newsletter" with "No thanks"',
        'closed cookie banner with "Reject all"',
    ]
    assert await tab.locator("#log li").all_inner_texts() == ["newsletter declined", "cookies rejected"]
    assert await tab.locator("#confirm-delete").is_visible()
    await tab.get_by_role("button", name="Open records").click(timeout=2000)  # nothing covers the page


def _interstitial_seeds(site: BackofficeSite) -> dict[str, int]:
    """A fault seed per interstitial kind whose first /invoices page shows it."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login = urlencode({"username": site.credentials.username, "password": site.credentials.password}).encode()
    seeds: dict[str, int] = {}
    for seed in range(60):
        site.reset()
        site.set_faults(FaultConfig(seed=seed, interstitial_rate=1.0))
        opener.open(site.url + "/login", data=login).read()
        shown = [e.modal for e in site.state().fault_events if e.kind == "interstitial"]
        seeds.setdefault(str(shown[-1]), seed)
        if len(seeds) == 3:
            return seeds
    raise AssertionError(f"not every interstitial kind appeared: {seeds}")


async def test_dismiss_interruptions_handles_each_back_office_interstitial(
    site: BackofficeSite, context: BrowserContext, page: Page, skills: SkillRegistry
) -> None:
    expected = {
        "cookie_banner": 'closed cookie banner "We value your privacy" with "Reject"',
        "session_warning": 'closed session warning "Your session is about to expire" with "Stay signed in"',
        "whats_new": 'closed announcement "What\'s new in Back Office" with "Close"',
    }
    for kind, seed in _interstitial_seeds(site).items():
        site.reset()
        site.set_faults(FaultConfig(seed=seed, interstitial_rate=1.0))
        await site.sign_in(context)
        await page.goto(site.url + "/invoices")
        closed = await use(skills, "dismiss_interruptions")(SkillContext.for_page(page))
        assert closed == [expected[kind]]
        assert await page.locator(".modal-backdrop:not([hidden])").count() == 0
        assert "logout" not in [e.outcome for e in site.state().logins], "never signs out"


# -- waiting -------------------------------------------------------------------------------------------


async def test_wait_until_idle_waits_out_the_loading_spinner(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry
) -> None:
    site.set_faults(FaultConfig(slow_spinner_ms=900))
    await signed_in_page.goto(site.url + "/invoices", wait_until="commit")
    report = await use(skills, "wait_until_idle")(SkillContext.for_page(signed_in_page))
    assert report.idle
    assert await signed_in_page.locator(".loading").count() == 0
    assert await signed_in_page.locator("table tbody tr").count() == 25, "the rows show once it is idle"
    assert any(e.kind == "spinner" for e in site.state().fault_events)


async def test_wait_until_idle_says_what_stays_busy(tab: Page, skills: SkillRegistry) -> None:
    await tab.set_content('<p>Reports</p><div class="spinner" style="width:24px;height:24px">Loading…</div>')
    started = time.monotonic()
    report = await use(skills, "wait_until_idle")(SkillContext.for_page(tab), timeout_s=1.0)
    assert time.monotonic() - started < 5
    assert not report.idle
    assert report.busy == ['div.spinner "Loading…"']


# -- tables and search ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["v1", "v2"])
async def test_find_rows_filters_sorts_and_pages_through_re_rendered_rows(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, variant: str
) -> None:
    site.set_variant(variant)  # type: ignore[arg-type]
    if variant == "v2":
        site.set_faults(FaultConfig(seed=5, latency_ms=(20, 120), rerender_rate=1.0, slow_spinner_ms=300))
    await signed_in_page.goto(site.url + "/invoices")
    ctx = SkillContext.for_page(signed_in_page)
    found = await use(skills, "find_rows")(
        ctx, criteria={"Status": "Paid"}, sort_by="Amount", descending=True
    )
    paid = sorted((i for i in site.data().invoices if i.status == "paid"), key=lambda i: (-i.amount, i.id))
    assert len(paid) > 25, "the expected rows span more than one page"
    assert [row.cells["Number"] for row in found.rows] == [i.number for i in paid]
    assert found.complete
    assert found.pages_read == -(-len(paid) // 25)
    assert found.filters[0].startswith("Status = Paid")
    assert found.rows[0].link == f"{site.url}/invoices/{paid[0].id}"
    if variant == "v2":
        assert any(e.kind == "rerender" for e in site.state().fault_events)


async def test_find_rows_uses_the_search_box_for_a_column_it_covers(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry
) -> None:
    vendor = site.data().vendors[3].name
    await signed_in_page.goto(site.url + "/invoices")
    ctx = SkillContext.for_page(signed_in_page)
    found = await use(skills, "find_rows")(ctx, criteria={"Vendor": vendor}, limit=3)
    assert f'search "{vendor}" (Number or vendor)' in found.filters
    assert "q=" in signed_in_page.url
    assert len(found.rows) == 3
    assert all(row.cells["Vendor"] == vendor for row in found.rows)
    with pytest.raises(SkillFailedError, match="no column for 'Colour'; its columns are \"Number\""):
        await use(skills, "find_rows")(ctx, criteria={"Colour": "red"})


@pytest.mark.parametrize("variant", ["v1", "v2"])
async def test_read_table_reads_every_page_into_records(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, variant: str
) -> None:
    site.set_variant(variant)  # type: ignore[arg-type]
    await signed_in_page.goto(site.url + "/tickets")
    table = await use(skills, "read_table")(SkillContext.for_page(signed_in_page), max_pages=5)
    tickets = sorted(site.data().tickets, key=lambda t: (t.updated_at, t.id), reverse=True)
    assert table.columns[:3] == ["Ticket", "Subject", "Customer"]
    assert [row.cells["Ticket"] for row in table.rows] == [t.id for t in tickets]
    assert table.complete
    assert table.pages_read == -(-len(tickets) // 25)


@pytest.mark.parametrize("variant", ["v1", "v2"])
async def test_search_runs_the_query_with_the_pages_search_box(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, variant: str
) -> None:
    site.set_variant(variant)  # type: ignore[arg-type]
    vendor = site.data().vendors[0].name
    await signed_in_page.goto(site.url + "/invoices")
    result = await use(skills, "search")(SkillContext.for_page(signed_in_page), query=vendor)
    expected = [i for i in site.data().invoices if vendor.lower() in i.vendor_name.lower()]
    assert result.summary.endswith(f"of {len(expected)} invoices")
    assert "q=" in result.url


# -- files ----------------------------------------------------------------------------------------------


async def test_download_file_keeps_the_export_in_the_run_folder(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, tmp_path: Path
) -> None:
    site.set_variant("v2")
    await signed_in_page.goto(site.url + "/invoices?status=rejected")
    ctx = SkillContext.for_page(signed_in_page, run_dir=tmp_path)
    downloaded = await use(skills, "download_file")(ctx, link_text="Download CSV")
    path = Path(downloaded.path)
    assert path.parent == tmp_path / "downloads"
    lines = read_lines(path)
    rejected = [i for i in site.data().invoices if i.status == "rejected"]
    assert lines[0] == "Number,Vendor,Invoice date,Due date,Amount,Currency,Status"
    assert len(lines) == 1 + len(rejected)
    assert downloaded.size == len("\r\n".join(lines).encode()) + 2


async def test_attach_file_attaches_from_the_run_folder_and_nowhere_else(
    site: BackofficeSite, signed_in_page: Page, skills: SkillRegistry, tmp_path: Path
) -> None:
    await signed_in_page.goto(site.url + "/invoices/new")
    ctx = SkillContext.for_page(signed_in_page, run_dir=run_dir(tmp_path / "run"))
    assert await use(skills, "attach_file")(ctx, label="Invoice PDF", path="invoice.pdf") == "invoice.pdf"
    outside = write_pdf(tmp_path / "secret.pdf")
    result = await use(skills, "attach_file").invoke(ctx, f'{{"label": "Invoice PDF", "path": "{outside}"}}')
    assert not result.ok
    assert "outside the folder of files you may upload" in result.message


# -- choices and dates ----------------------------------------------------------------------------------


async def test_choose_option_works_for_every_kind_of_choice(
    pages: LocalServer, tab: Page, skills: SkillRegistry
) -> None:
    await tab.goto(pages.url + "/choices.html")
    ctx = SkillContext.for_page(tab)
    choose = use(skills, "choose_option")
    assert await choose(ctx, label="Carrier", option="UPS") == "UPS Standard"  # custom list box
    assert await choose(ctx, label="Packaging", option="pallet") == "Wooden pallet"  # radio group
    assert await choose(ctx, label="Speed", option="Express") == "Express (next day)"  # select
    await choose(ctx, label="City", option="Bergen")  # datalist suggestions
    values = await tab.evaluate(
        "() => Object.fromEntries(new FormData(document.getElementById('delivery')).entries())"
    )
    assert values == {
        "delivery_date": "",
        "carrier": "c-ups",
        "city": "Bergen",
        "packaging": "pallet",
        "speed": "exp",
    }


async def test_select_date_picks_a_day_in_a_calendar_only_field(
    pages: LocalServer, tab: Page, skills: SkillRegistry
) -> None:
    await tab.goto(pages.url + "/choices.html")
    ctx = SkillContext.for_page(tab)
    shown = await use(skills, "select_date")(ctx, label="Delivery date", day=date(2027, 1, 15))
    assert shown == "2027-01-15"
    assert await tab.locator("#delivery-date").input_value() == "2027-01-15"
    previous = await use(skills, "select_date")(ctx, label="Delivery date", day=date(2026, 9, 3))
    assert previous == "2026-09-03"
