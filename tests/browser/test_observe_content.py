"""What the outline shows: clickable widgets, states, hidden things, dialogs first, secrets never."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page

from operator_agent.logs import register_secret_values
from operator_agent.observe import Observation, ObserveOptions, observe
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "observe"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as running:
        yield running


def ref_of(obs: Observation, role: str, name: str) -> str:
    found = [ref for ref, el in obs.refs.items() if el.role == role and el.name == name]
    assert len(found) == 1, f"{role} {name!r} in {[(e.role, e.name) for e in obs.refs.values()]}"
    return found[0]


def line_of(obs: Observation, ref: str) -> str:
    return next(line.strip() for line in obs.text.splitlines() if f"[{ref}]" in line)


@pytest.mark.parametrize(
    ("name", "effect"),
    [
        ("Paid", "chip paid"),  # addEventListener + cursor:pointer, inside a sentence
        ("reset filters", "attr span"),  # onclick attribute, inside a sentence
        ("Refresh totals", "prop div"),  # onclick property
        ("Export as PDF", "menu pdf"),  # list item with a pointer cursor, delegated handler
        ("Invoice INV-00042 Acme Corp · €1,200.00", "card 42"),  # a clickable card, named by its text
        ("Globex", "node Globex"),  # a tree node without ARIA roles
        ("Reject all", "jq Reject all"),  # jQuery delegated handler
        ("Recalculate", "jq direct"),  # jQuery direct handler
    ],
)
async def test_clickable_elements_without_a_role_get_their_own_ref(
    page: Page, server: LocalServer, name: str, effect: str
) -> None:
    await page.goto(f"{server.url}/clickable.html")
    obs = await observe(page)
    element = obs.element(ref_of(obs, "generic", name))
    assert f'clickable "{name}"' in line_of(obs, element.ref)
    await element.locator().click()
    assert await page.locator("#log").text_content() == effect


async def test_inline_clickables_are_not_folded_into_their_sentence(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/clickable.html")
    obs = await observe(page)
    line = line_of(obs, ref_of(obs, "generic", "Paid"))
    assert line.startswith("Filter by status: [e")
    assert 'clickable "Open"' in line
    assert 'clickable "reset filters" before exporting.' in line
    # A pointer cursor inherited from a listed element is not another element.
    assert not any(el.name == "Invoice INV-00042" for el in obs.refs.values())


async def test_an_unnamed_icon_button_is_described_by_its_markup(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/clickable.html")
    obs = await observe(page)
    ref = next(r for r, el in obs.refs.items() if el.role == "button" and not el.name)
    assert line_of(obs, ref) == f"[{ref}] button (.btn.btn-danger icon fa-trash)"
    await obs.element(ref).locator().click()
    assert await page.locator("#log").text_content() == "trash"


async def test_tree_and_accordion_states(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/clickable.html")
    obs = await observe(page)
    assert line_of(obs, ref_of(obs, "treeitem", "Invoices")).endswith('treeitem "Invoices" expanded')
    assert line_of(obs, ref_of(obs, "treeitem", "Contracts")).endswith("collapsed")
    assert "2024" in obs.text
    assert ref_of(obs, "treeitem", "2024")
    shipping = ref_of(obs, "button", "Shipping")
    assert line_of(obs, shipping).endswith("collapsed")
    assert "Copy IBAN" not in obs.text
    assert "Ships from Lyon" not in obs.text

    await obs.element(ref_of(obs, "generic", "Payment details")).locator().click()
    await obs.element(shipping).locator().click()
    after = await observe(page)
    assert ref_of(after, "button", "Copy IBAN")
    assert "Ships from Lyon" in after.text
    assert line_of(after, ref_of(after, "button", "Shipping")).endswith("expanded focused")


async def test_hidden_elements_are_absent(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/hidden.html")
    obs = await observe(page)
    for hidden in (
        "Display none",
        "Visibility hidden",
        "Aria hidden",
        "Inert",
        "Zero size",
        "Skip to content",
        "Offscreen",
        "Collapsed panel",
        "Hidden paragraph",
        "Invisible text",
        "Inside closed details",
        "Transparent",
        "Second slide",
        "Slide two",
        "Template",
    ):
        assert hidden not in obs.text, hidden
    assert "Visible button" in obs.text
    assert "but this span is visible" in obs.text
    assert line_of(obs, ref_of(obs, "button", "More options")).endswith("collapsed")
    assert ref_of(obs, "button", "First slide action")
    # Names come from aria-label and from visually hidden text, as screen readers read them.
    assert ref_of(obs, "button", "Close dialog")
    assert ref_of(obs, "button", "Delete row")


async def test_a_label_stands_in_for_its_visually_hidden_checkbox(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/hidden.html")
    obs = await observe(page)
    agree = obs.element(ref_of(obs, "checkbox", "I agree to the terms"))
    assert agree.tag == "label"
    assert agree.input_type == "checkbox"
    await agree.locator().click()
    assert await page.locator("#agree").is_checked()
    assert "checked" in line_of(await observe(page), agree.ref).split()


async def test_form_fields_show_values_states_and_errors(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/form.html")
    obs = await observe(page)
    expected = {
        ("textbox", "Company name *"): 'textbox "Company name *" required',
        ("textbox", "VAT number"): 'placeholder="e.g. FR12345678901" description="Two letters, then digits"',
        ("textbox", "Billing email"): 'type=email value="not-an-email" invalid: "Please include an \'@\'',
        ("textbox", "IBAN *"): 'required invalid: "IBAN must start with a country code',
        ("combobox", "Country"): 'value="Germany" options: France | Germany | Italy | Spain',
        ("spinbutton", "Payment terms (days)"): 'value="30"',
        ("textbox", "Supplier since"): "type=date",
        ("radio", "EUR"): "checked",
        ("radio", "USD"): "unchecked",
        ("checkbox", "Preferred supplier"): "checked",
        ("checkbox", "Blocked"): "unchecked disabled",
        ("textbox", "Notes"): 'value="Pays late in August"',
        ("button", "Contract (PDF)"): "type=file",
        ("button", "Save supplier"): "",
        ("button", "Reset"): "",
    }
    for (role, name), shown in expected.items():
        assert shown in line_of(obs, ref_of(obs, role, name)), (role, name)
    # The hint and the error message are shown with their field, not repeated as page text.
    assert obs.text.count("Two letters, then digits") == 1
    assert obs.text.count("IBAN must start with") == 1
    assert obs.token_count <= 600

    await obs.element(ref_of(obs, "textbox", "Company name *")).locator().fill("Acme")
    await obs.element(ref_of(obs, "textbox", "Billing email")).locator().fill("billing@acme.test")
    await obs.element(ref_of(obs, "button", "Save supplier")).locator().click()
    assert await page.locator("#result").text_content() == "Saved Acme"


async def test_secret_fields_never_show_their_value(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/secrets.html")
    obs = await observe(page)
    for value in ("correct horse battery", "991234", "4321", "alpha bravo charlie"):
        assert value not in obs.text
    for name in ("Password", "One-time code", "PIN", "Recovery phrase"):
        ref = ref_of(obs, "textbox", name)
        assert "value=••• (hidden)" in line_of(obs, ref)
        assert obs.element(ref).is_secret
    assert 'textbox "User" value="jdoe"' in obs.text

    # Typed later (as the executor would, by placeholder), still hidden.
    await obs.element(ref_of(obs, "textbox", "Password")).locator().fill("s3cr3t-typed-later")
    assert "s3cr3t-typed-later" not in (await observe(page)).text


async def test_redact_replaces_values_everywhere(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/secrets.html")
    plain = await observe(page)
    assert plain.text.count("sk-live-7f3a9") == 3  # title, paragraph, button name

    obs = await observe(page, options=ObserveOptions(redact=("sk-live-7f3a9",)))
    assert "sk-live-7f3a9" not in obs.text
    assert obs.text.count("[REDACTED]") == 3
    assert "sk-live-7f3a9" not in obs.title
    assert all("sk-live-7f3a9" not in el.name for el in obs.refs.values())

    with register_secret_values(["jdoe"]):
        registered = await observe(page)
    assert "jdoe" not in registered.text


async def test_modal_dialog_comes_first_and_blocks_the_page(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/dialog.html")
    obs = await observe(page)
    lines = obs.text.splitlines()
    dialog = lines.index('dialog "Delete invoice INV-00042?" (modal):')
    behind = next(i for i, line in enumerate(lines) if line.startswith("page (behind the modal dialog"))
    assert dialog < behind < lines.index("  # Invoice INV-00042")
    # Elements behind the modal are shown for context, without refs: they cannot be used now.
    assert '  button "Delete invoice" (blocked)' in obs.text
    assert {el.name for el in obs.refs.values()} == {"Cancel", "Delete"}
    await obs.element(ref_of(obs, "button", "Cancel")).locator().click()
    assert await page.locator("#outcome").text_content() == "Kept"

    after = await observe(page)
    assert "(modal)" not in after.text
    assert "Cancel" not in after.text
    assert ref_of(after, "button", "Delete invoice")


async def test_native_modal_dialog_comes_first(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/dialog_native.html")
    obs = await observe(page)
    assert obs.text.index("dialog (modal):") < obs.text.index("# Suppliers")
    assert {el.name for el in obs.refs.values()} == {"Keep editing", "Discard"}
    await obs.element(ref_of(obs, "button", "Discard")).locator().click()
    assert await page.evaluate("document.getElementById('confirm').returnValue") == "discard"


async def test_an_overlay_covering_the_page_comes_first(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/overlay.html")
    obs = await observe(page)
    assert (
        obs.text.index("overlay (modal):") < obs.text.index("We use cookies") < obs.text.index("# Dashboard")
    )
    assert "page (behind the overlay" in obs.text
    assert [el.name for el in obs.refs.values()] == ["Accept cookies"]
    await obs.element(ref_of(obs, "button", "Accept cookies")).locator().click()
    after = await observe(page)
    await after.element(ref_of(after, "button", "Export")).locator().click()
    assert await page.locator("#log").text_content() == "behind clicked"


async def test_screenshot_on_request(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/form.html")
    assert (await observe(page)).screenshot_png is None
    shot = (await observe(page, options=ObserveOptions(include_screenshot=True))).screenshot_png
    assert shot is not None
    assert shot.startswith(b"\x89PNG\r\n\x1a\n")
