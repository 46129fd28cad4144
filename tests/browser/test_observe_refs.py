"""Refs: every usable element gets one (iframes and shadow roots included) and it finds that element."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page

from operator_agent.errors import UnknownRefError
from operator_agent.observe import REF_ATTRIBUTE, Observation, observe
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "observe"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as running:
        yield running


@pytest.fixture(scope="module")
def other_origin() -> Iterator[LocalServer]:
    """The same pages on a second origin (``localhost`` instead of ``127.0.0.1``)."""
    with serve_directory(PAGES, host="localhost") as running:
        yield running


def ref_of(obs: Observation, role: str, name: str) -> str:
    found = [ref for ref, el in obs.refs.items() if el.role == role and el.name == name]
    assert len(found) == 1, f"{role} {name!r} in {[(e.role, e.name) for e in obs.refs.values()]}"
    return found[0]


async def stamps(page: Page) -> dict[str, list[str]]:
    """Every ref stamp in every frame, shadow roots included, by frame URL."""
    found: dict[str, list[str]] = {}
    for frame in page.frames:
        found[frame.url] = await frame.evaluate(
            """(attr) => {
              const out = [];
              const visit = (root) => {
                for (const el of root.querySelectorAll('*')) {
                  if (el.hasAttribute(attr)) out.push(el.getAttribute(attr));
                  if (el.shadowRoot) visit(el.shadowRoot);
                }
              };
              visit(document);
              return out;
            }""",
            REF_ATTRIBUTE,
        )
    return found


async def test_refs_reach_into_same_and_cross_origin_iframes(
    page: Page, server: LocalServer, other_origin: LocalServer
) -> None:
    await page.goto(f"{server.url}/frames.html?cross={other_origin.url}/frame_cross.html")
    await page.frame_locator("#cross").get_by_role("button").wait_for()
    obs = await observe(page)

    street = obs.element(ref_of(obs, "textbox", "Street"))
    card = obs.element(ref_of(obs, "textbox", "Card number"))
    pay = obs.element(ref_of(obs, "button", "Pay €120.00"))
    help_button = obs.element(ref_of(obs, "button", "Help"))
    assert street.frame.url == f"{server.url}/frame_inner.html"
    assert card.frame.url == f"{other_origin.url}/frame_cross.html"
    assert re.fullmatch(r"f\de\d+", street.ref)
    assert re.fullmatch(r"f\de\d+", card.ref)
    assert street.ref[:2] != card.ref[:2] != help_button.ref[:2]

    # The outline nests each frame's elements under its iframe, and skips the hidden iframe.
    lines = obs.text.splitlines()
    billing = lines.index('iframe "Billing address":')
    assert lines[billing + 1].startswith(f"  [{street.ref}] textbox")
    assert any(line.startswith("    [") and help_button.ref in line for line in lines)
    assert "Hidden tracker" not in obs.text

    await street.locator().fill("12 Main St")
    await obs.element(ref_of(obs, "button", "Save address")).locator().click()
    await card.locator().fill("4242424242424242")
    await pay.locator().click()
    await help_button.locator().click()
    await obs.element(ref_of(obs, "button", "Outer button")).locator().click()

    inner = page.frame_locator('iframe[title="Billing address"]')
    await inner.locator("#done").filter(has_text="Address saved: 12 Main St").wait_for()
    await page.frame_locator("#cross").locator("#paid").filter(has_text="Paid with 4242").wait_for()
    await inner.frame_locator("iframe").get_by_role("button", name="Help opened").wait_for()
    assert await page.locator("#log").text_content() == "outer clicked"


async def test_refs_reach_into_open_shadow_roots(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/shadow.html")
    obs = await observe(page)
    assert "## Profile" in obs.text
    assert "Slotted note" in obs.text
    assert "Ghost" not in obs.text  # display:none inside a nested shadow root

    nickname = obs.element(ref_of(obs, "textbox", "Nickname"))
    assert 'value="jdoe"' in obs.text
    await nickname.locator().fill("jane")
    await obs.element(ref_of(obs, "button", "Save profile")).locator().click()
    assert await page.locator("#log").text_content() == "Saved jane"
    await obs.element(ref_of(obs, "button", "Archive")).locator().click()  # two shadow roots deep
    assert await page.locator("#log").text_content() == "Archived"


async def test_each_ref_locates_exactly_one_element(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/clickable.html")
    obs = await observe(page)
    assert len(obs.refs) >= 15
    for ref, element in obs.refs.items():
        assert await element.locator().count() == 1, ref
        assert element.selector == f'[{REF_ATTRIBUTE}="{ref}"]'


async def test_refs_follow_document_order(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/form.html")
    obs = await observe(page)
    in_text = re.findall(r"\[(e\d+)\]", obs.text)
    assert in_text == list(obs.refs) == [f"e{i}" for i in range(1, len(in_text) + 1)]


async def test_stale_and_planted_stamps_are_cleared(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/shadow.html")
    first = await observe(page)
    archive = ref_of(first, "button", "Archive")
    assert sorted(ref for refs in (await stamps(page)).values() for ref in refs) == sorted(first.refs)

    # The archive button (two shadow roots deep) goes away; a page script plants a fake stamp.
    await page.evaluate(
        """(attr) => {
          const toolbar = document.querySelector('user-card').shadowRoot.querySelector('inner-toolbar');
          toolbar.shadowRoot.getElementById('archive').style.display = 'none';
          const fake = document.createElement('button');
          fake.textContent = 'Fake';
          fake.setAttribute(attr, 'e1');
          fake.disabled = true;
          document.body.appendChild(fake);
        }""",
        REF_ATTRIBUTE,
    )
    second = await observe(page)
    assert archive not in second.refs or second.refs[archive].name != "Archive"
    found = [ref for refs in (await stamps(page)).values() for ref in refs]
    assert sorted(found) == sorted(second.refs)
    assert len(found) == len(set(found))
    for element in second.refs.values():
        assert await element.locator().count() == 1


async def test_digest_is_stable_until_the_page_changes(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/form.html")
    first = await observe(page)
    second = await observe(page)
    assert first.text == second.text
    assert first.digest == second.digest
    await second.element(ref_of(second, "textbox", "Company name *")).locator().fill("Acme")
    third = await observe(page)
    assert third.digest != second.digest
    assert 'textbox "Company name *" value="Acme"' in third.text


async def test_unknown_ref_names_the_problem(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/form.html")
    obs = await observe(page)
    with pytest.raises(UnknownRefError, match="e999"):
        obs.element("e999")


async def test_a_page_that_breaks_the_installed_collector_is_still_observed(
    page: Page, server: LocalServer
) -> None:
    await page.goto(f"{server.url}/form.html")
    first = await observe(page)
    replaced = await page.evaluate(
        """() => {
          const keys = Object.getOwnPropertyNames(window).filter((k) => k.startsWith('__operatorAgentObserveFn'));
          for (const k of keys) Object.defineProperty(window, k, { value: () => 'not an outline', configurable: true });
          return keys.length;
        }"""
    )
    assert replaced == 1
    second = await observe(page)
    assert second.text == first.text


async def test_a_page_that_patches_json_prototypes_is_still_observed(page: Page, server: LocalServer) -> None:
    # Old Prototype.js pages define Array.prototype.toJSON, which breaks plain JSON.stringify.
    await page.goto(f"{server.url}/form.html")
    clean = await observe(page)
    await page.evaluate("Array.prototype.toJSON = function () { return 'not an array'; }")
    patched = await observe(page)
    assert patched.text == clean.text
    assert await page.evaluate("[1].toJSON()") == "not an array"
