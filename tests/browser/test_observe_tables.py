"""Long tables and lists, the token budget, scroll position, tabs, and the full page text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Page

from operator_agent.errors import UnknownRefError
from operator_agent.observe import (
    REF_ATTRIBUTE,
    Observation,
    ObserveOptions,
    count_tokens,
    observe,
    page_text,
)
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "observe"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as running:
        yield running


def refs_in_text(obs: Observation) -> list[str]:
    return re.findall(r"\[((?:f\d+)?e\d+)\]", obs.text)


async def stamp_count(page: Page) -> int:
    return int(await page.evaluate("(a) => document.querySelectorAll(`[${a}]`).length", REF_ATTRIBUTE))


async def test_big_table_keeps_head_and_tail_and_says_what_it_omitted(
    page: Page, server: LocalServer
) -> None:
    await page.goto(f"{server.url}/table.html")
    obs = await observe(page)
    assert 'table "Invoices" (2,000 rows × 7 columns; ' in obs.text
    assert "Number | Customer | Amount | Status | Due | Actions" in obs.text
    assert "| INV-00001 | Globex | €79.19 | sent | 2024-02-02 |" in obs.text
    assert "| INV-00020 |" in obs.text
    assert "| INV-00021 |" not in obs.text
    assert "| INV-01995 |" not in obs.text
    assert "| INV-01996 |" in obs.text
    assert "| INV-02000 |" in obs.text
    summary = "… 1,975 rows omitted (rows 21–1,995); scroll, search or extract to reach them"
    assert summary in obs.text
    assert [(t.kind, t.where, t.omitted) for t in obs.truncations] == [("rows", 'table "Invoices"', 1975)]
    assert obs.token_count <= 6000
    # Only listed elements carry a stamp: 25 rows × 3 controls, the header checkbox, nav and search.
    assert await stamp_count(page) == len(obs.refs) == len(refs_in_text(obs))

    last_row = next(line for line in obs.text.splitlines() if "INV-02000" in line)
    approve = re.search(r'\[(e\d+)\] button "Approve"', last_row)
    assert approve is not None
    await obs.element(approve.group(1)).locator().click()
    assert await page.locator("#approved").text_content() == "Approved INV-02000"


@pytest.mark.parametrize("max_tokens", [300, 800, 2500])
async def test_the_token_budget_is_always_respected(page: Page, server: LocalServer, max_tokens: int) -> None:
    await page.goto(f"{server.url}/table.html?rows=600")
    obs = await observe(page, options=ObserveOptions(max_tokens=max_tokens))
    assert obs.token_count == count_tokens(obs.text) <= max_tokens
    assert "INV-00001" in obs.text
    if max_tokens > 300:
        assert re.search(r"… [\d,]+ rows omitted \(rows \d+–5\d\d\)", obs.text)
    # Every ref in the text resolves, and nothing outside the text is stamped.
    assert refs_in_text(obs) == list(obs.refs)
    assert await stamp_count(page) == len(obs.refs)
    if max_tokens == 300:
        cut = [t for t in obs.truncations if t.kind == "budget"]
        assert cut
        assert cut[0].summary in obs.text


async def test_a_tight_budget_keeps_dialogs_and_cuts_the_page_first(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/table.html?rows=400")
    await page.evaluate(
        """() => {
          const d = document.createElement('div');
          d.setAttribute('role', 'dialog');
          d.setAttribute('aria-modal', 'true');
          d.setAttribute('aria-label', 'Session expiring');
          d.style.cssText = 'position:fixed;top:100px;left:100px;background:#fff;padding:20px';
          d.innerHTML = '<p>Your session expires in 1 minute.</p><button>Stay signed in</button>';
          document.body.appendChild(d);
        }"""
    )
    obs = await observe(page, options=ObserveOptions(max_tokens=250))
    assert obs.token_count <= 250
    assert obs.text.index('dialog "Session expiring" (modal):') < obs.text.index(
        "page (behind the modal dialog"
    )
    # The dialog has no backdrop: what it does not cover stays usable, but the page is cut first.
    assert next(iter(obs.refs.values())).name == "Stay signed in"
    assert any(t.kind == "budget" for t in obs.truncations)


async def test_long_lists_and_repeated_blocks_are_truncated_with_a_summary(
    page: Page, server: LocalServer
) -> None:
    await page.goto(f"{server.url}/list.html")
    obs = await observe(
        page, options=ObserveOptions(list_head_items=5, list_tail_items=2, max_select_options=3)
    )
    assert "- Event 5: invoice INV-00005 updated" in obs.text
    assert "Event 6:" not in obs.text
    assert "… 493 items omitted (items 6–498); scroll, search or extract to reach them" in obs.text
    assert "- Event 500: invoice INV-00500 updated" in obs.text
    assert "… 53 items omitted (items 6–58)" in obs.text  # 60 customer cards
    assert "Customer 60" in obs.text
    assert 'combobox "Month" value="Month 1" options: Month 1 | Month 2 | Month 3 … +45 more' in obs.text
    assert {t.kind for t in obs.truncations} == {"items", "options"}


async def test_scroll_position_and_what_lies_below(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/table.html?rows=600")
    top = await observe(page)
    assert top.scroll.y == 0
    assert top.scroll.page_height > 10 * top.scroll.viewport_height
    assert 550 < top.scroll.rows_below < 600
    assert top.scroll.pixels_below == top.scroll.page_height - top.scroll.viewport_height
    assert f"below: {top.scroll.pixels_below:,} px, {top.scroll.rows_below:,} table rows" in top.text

    await page.evaluate("window.scrollTo(0, document.scrollingElement.scrollHeight / 2)")
    middle = await observe(page)
    assert middle.scroll.y > 0
    assert 250 < middle.scroll.rows_below < 350
    assert f"scroll: y={middle.scroll.y:,} of {middle.scroll.page_height:,} px" in middle.text

    await page.goto(f"{server.url}/form.html?short")
    await page.set_viewport_size({"width": 1280, "height": 2000})
    assert "scroll: the whole page is in view" in (await observe(page)).text


async def test_open_tabs_are_listed(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/form.html")
    assert "tabs: only this one" in (await observe(page)).text
    other = await page.context.new_page()
    await other.goto(f"{server.url}/list.html")
    obs = await observe(page)
    assert [(t.index, t.title, t.active) for t in obs.tabs] == [
        (0, "New supplier", True),
        (1, "Activity", False),
    ]
    assert f'tabs: 0 "New supplier" (this tab) | 1 "Activity" {server.url}/list.html' in obs.text


async def test_page_text_reads_everything(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/table.html?rows=1000")
    text = await page_text(page, max_chars=1_000_000)
    assert "# Invoices" in text
    assert (
        "[ ] Select INV-01000 | INV-01000 | Wayne Enterprises | €190.00 | draft | 2024-05-21 | View Approve"
        in text
    )
    assert text.count("[ ] Select INV-") == 1000


async def test_page_text_of_one_element_hides_secrets_and_redacts(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/secrets.html")
    text = await page_text(page, redact=["sk-live-7f3a9"])
    assert "[Password: •••]" in text
    assert "correct horse battery" not in text
    assert "[User: jdoe]" in text
    assert "sk-live-7f3a9" not in text
    assert "Your current key is [REDACTED]" in text

    await page.goto(f"{server.url}/form.html")
    obs = await observe(page)
    form = await page_text(page, ref=next(r for r, el in obs.refs.items() if el.name == "EUR"))
    assert form == "(x) EUR"
    fieldset = await page_text(
        page, ref=obs.refs[next(r for r, el in obs.refs.items() if el.name == "Notes")]
    )
    assert fieldset == "[Notes: Pays late in August]"
    with pytest.raises(UnknownRefError):
        await page_text(page, ref="e999")


async def test_page_text_is_cut_at_max_chars(page: Page, server: LocalServer) -> None:
    await page.goto(f"{server.url}/list.html")
    text = await page_text(page, max_chars=500)
    head, _, tail = text.rpartition("\n")
    assert len(head) <= 500
    assert re.fullmatch(r"… \([\d,]+ more characters not shown; max_chars=500\)", tail)


async def test_an_app_shell_is_not_an_overlay_and_its_form_is_not_cut(
    page: Page, server: LocalServer
) -> None:
    # A fixed full-window layout whose main area scrolls, holding a 300-row table and 30 checkboxes.
    await page.goto(f"{server.url}/app_shell.html")
    obs = await observe(page)
    assert "overlay" not in obs.text
    assert "page (behind" not in obs.text
    assert "… 275 rows omitted (rows 21–295)" in obs.text
    assert sum(1 for el in obs.refs.values() if el.role == "checkbox") == 30
    assert obs.scroll.pixels_below == 0
    assert obs.scroll.rows_below == 270
    assert "scrollable areas hold more below the viewport: 270 table rows" in obs.text
    assign = next(r for r, el in obs.refs.items() if el.name == "Assign")
    await obs.element(assign).locator().click()
    assert page.url.endswith("#t1")
