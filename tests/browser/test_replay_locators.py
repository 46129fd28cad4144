"""Locator chains on real pages (labels, generated ids, ambiguity, shadow DOM, iframes) and how a replayed
step uses them: a grace period before any fallback, a retry on the next element when a postcondition
fails, never a retry of an irreversible step, and the policy's judgement on the page as it is now."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from operator_agent.act import ContextTabs
from operator_agent.errors import ApprovalDeniedError, HealingFailedError
from operator_agent.guardrails.policy import Policy
from operator_agent.observe import observe
from operator_agent.replay import Replayer, ReplaySession, build_locator, capture_locator_chain
from operator_agent.skills import SkillContext
from operator_agent.testing.site_server import LocalServer, serve_directory

ORDERS = """<!doctype html><html><head><title>Orders</title></head><body><main>
<h1>Orders</h1>
<form action="/orders" id="order-form">
  <label for="r9f3a2c1d7">Customer</label><input id="r9f3a2c1d7" name="customer">
  <label>Reference <input name="ref" placeholder="e.g. PO-1"></label>
  <button type="button" data-testid="save-btn">Save</button>
</form>
<ul class="rows"><li><span>A</span><button type="button">Delete</button></li>
<li><span>B</span><button type="button">Delete</button></li></ul>
<x-card></x-card>
<iframe src="frame.html" title="notes"></iframe>
<script>
customElements.define('x-card', class extends HTMLElement {
  connectedCallback() {
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = '<button class="card-open" type="button">Open card</button>';
  }
});
</script>
</main></body></html>"""

FRAME = """<!doctype html><html><body><label>Frame note <input name="note"></label></body></html>"""

LATE = """<!doctype html><html><body>
<button type="button" data-action="save">Loading…</button>
<p id="log"></p>
<script>
const b = document.querySelector('button');
setTimeout(() => { b.textContent = 'Save'; }, 400);
b.addEventListener('click', () => { document.getElementById('log').textContent += 'clicked;'; });
</script></body></html>"""

DECOY = """<!doctype html><html><body>
<button type="button" id="go">Go</button> <a id="real" href="done.html">Continue</a>
<button type="button" id="danger">Delete permanently</button>
<p id="log"></p>
<script>
for (const id of ['go', 'danger']) document.getElementById(id).addEventListener('click', () => {
  document.getElementById('log').textContent += id + ';';
});
</script></body></html>"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    root = tmp_path_factory.mktemp("replay-pages")
    for name, html in {"orders.html": ORDERS, "frame.html": FRAME, "late.html": LATE, "decoy.html": DECOY,
                       "done.html": "<!doctype html><p>Done</p>"}.items():  # fmt: skip
        (root / name).write_text(html)
    with serve_directory(root) as running:
        yield running


@pytest.fixture(scope="module")
async def tab(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context()
    yield await context.new_page()
    await context.close()


async def _finds_only_it(page: Page, entry: dict[str, str], selector_of: tuple[Any, str]) -> bool:
    frame, selector = selector_of
    total = 0
    for candidate in page.frames:
        total += await build_locator(candidate, entry).filter(visible=True).count()
    mine = await build_locator(frame, entry).and_(frame.locator(selector)).count()
    return total == 1 and mine == 1


async def test_chains_hold_only_strategies_that_find_exactly_the_element(
    server: LocalServer, tab: Page
) -> None:
    await tab.goto(f"{server.url}/orders.html")
    await tab.frame_locator("iframe").locator("input").wait_for()
    obs = await observe(tab)
    captured = [
        (el.describe().split(" [")[0], el, await capture_locator_chain(el)) for el in obs.refs.values()
    ]
    chains = {described: (element, chain) for described, element, chain in captured}

    for described, element, chain in captured:
        assert chain, f"no chain for {described}"
        for entry in chain:
            assert await _finds_only_it(tab, entry, (element.frame, element.selector)), (described, entry)

    _, customer = chains['textbox "Customer"']
    assert customer[0] == {"role": "textbox", "name": "Customer"}
    assert {"label": "Customer"} in customer
    assert not any("id" in entry for entry in customer)  # r9f3a2c1d7 looks generated
    assert {"css": 'input[name="customer"]'} in customer
    _, reference = chains['textbox "Reference"']
    assert {"placeholder": "e.g. PO-1"} in reference
    _, save = chains['button "Save"']
    assert {"test_id": "save-btn"} in save
    # Two "Delete" buttons: the name is ambiguous, so only positional CSS is kept.
    deletes = [chain for described, _, chain in captured if described == 'button "Delete"']
    assert len(deletes) == 2
    assert deletes[0] != deletes[1]
    for chain in deletes:
        assert not any("role" in e or "text" in e for e in chain)
        assert any("li:nth-of-type" in e.get("css", "") for e in chain)
    _, card = chains['button "Open card"']
    assert any(e.get("css", "").startswith("x-card ") for e in card), card  # through the shadow host
    note, note_chain = chains['textbox "Frame note"']
    assert note.frame != tab.main_frame
    assert note_chain[0] == {"role": "textbox", "name": "Frame note"}


async def test_a_capture_of_an_element_that_left_is_empty(server: LocalServer, tab: Page) -> None:
    await tab.goto(f"{server.url}/orders.html")
    obs = await observe(tab)
    element = next(el for el in obs.refs.values() if el.name == "Save")
    await tab.evaluate("document.querySelector('[data-testid=save-btn]').remove()")
    assert await capture_locator_chain(element) == []


async def _click(page: Page, chain: list[dict[str, str]], session: ReplaySession, **options: Any) -> None:
    ctx = SkillContext(
        tabs=ContextTabs(page=page), approve=options.pop("approve", None), policy=options.pop("policy", None)
    )
    with session:
        await Replayer(ctx, skill="t").click(1, "click the button", locators=chain, **options)


async def test_the_first_strategy_gets_a_grace_period_before_a_fallback_is_used(
    server: LocalServer, tab: Page
) -> None:
    chain = [{"role": "button", "name": "Save"}, {"css": 'button[data-action="save"]'}]
    await tab.goto(f"{server.url}/late.html")
    patient = ReplaySession(heal_grace_s=2.0)
    await _click(tab, chain, patient)
    assert patient.heals == []
    assert patient.steps[-1].strategy == 'role=button name="Save"'

    await tab.goto(f"{server.url}/late.html")
    hasty = ReplaySession(heal_grace_s=0.0)
    await _click(tab, chain, hasty)
    assert [h.via for h in hasty.heals] == ["fallback"]
    assert hasty.heals[0].used == {"css": 'button[data-action="save"]'}
    assert await tab.locator("#log").inner_text() == "clicked;"


async def test_a_failed_postcondition_moves_to_the_next_element(server: LocalServer, tab: Page) -> None:
    await tab.goto(f"{server.url}/decoy.html")
    session = ReplaySession(heal_grace_s=0.0, postcondition_timeout_s=1.0)
    chain = [{"role": "button", "name": "Go"}, {"css": "a#real"}]

    await _click(tab, chain, session, expect={"url": "/done.html"})

    assert tab.url.endswith("/done.html")
    assert [h.used for h in session.heals] == [{"css": "a#real"}]
    assert "expected the page to be at /done.html" in session.heals[0].why


async def test_an_irreversible_step_is_never_done_twice(server: LocalServer, tab: Page) -> None:
    await tab.goto(f"{server.url}/decoy.html")
    session = ReplaySession(heal_grace_s=0.0, postcondition_timeout_s=1.0)
    chain = [{"role": "button", "name": "Go"}, {"css": "a#real"}]

    with pytest.raises(HealingFailedError, match="is irreversible and its postcondition failed") as caught:
        await _click(tab, chain, session, expect={"url": "/done.html"}, irreversible=True)

    assert caught.value.step == 1
    assert await tab.locator("#log").inner_text() == "go;"
    assert tab.url.endswith("/decoy.html")


async def test_the_policy_judges_the_page_as_it_is_now(server: LocalServer, tab: Page) -> None:
    await tab.goto(f"{server.url}/decoy.html")
    asked: list[tuple[str, str | None]] = []

    async def deny(kind: str, target: str | None, arguments: dict[str, Any]) -> bool:
        asked.append((kind, target))
        return False

    # The recording did not flag this step; the button's words make the policy ask anyway.
    with pytest.raises(ApprovalDeniedError):
        await _click(tab, [{"role": "button", "name": "Delete permanently"}], ReplaySession(), approve=deny,
                     policy=Policy())  # fmt: skip

    assert [kind for kind, _ in asked] == ["click"]
    assert "Delete permanently" in (asked[0][1] or "")
    assert await tab.locator("#log").inner_text() == ""


async def test_without_any_working_strategy_the_error_lists_every_one(server: LocalServer, tab: Page) -> None:
    await tab.goto(f"{server.url}/decoy.html")
    session = ReplaySession(locate_timeout_s=0.5, heal_grace_s=0.0, screenshot_dir=None)
    chain = [{"role": "button", "name": "Pay now"}, {"css": "#pay"}, {"text": "Pay"}]

    with pytest.raises(HealingFailedError) as caught:
        await _click(tab, chain, session)

    error = caught.value
    assert error.tried[:3] == [
        'role=button name="Pay now": no element',
        "css #pay: no element",
        'text "Pay": no element',
    ]
    assert error.screenshot is not None
    assert Path(error.screenshot).name == "t-step-001-failed.png"
    assert session.steps[-1].ok is False
