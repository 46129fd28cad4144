"""What a finder read along with an element reaches the executor only while it is fresh (``Seen``).

A skill step that locates its element reads, in the same call, what the executor needs before
acting (the element's facts, the page's state), and hands it over so the element is not looked up
twice. These tests pin when that hand-over must not happen: after an approval (the person may have
taken minutes, the page may have changed), for another element, outside the finder's block.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

from operator_agent.act import ActionExecutor
from operator_agent.act.targets import Seen
from operator_agent.skills import SkillContext
from operator_agent.skills._elements import element_ref

PAGE = """
<p id="log"></p>
<button id="save" onclick="document.getElementById('log').textContent += 'saved;'">Save draft</button>
<button id="pay" onclick="document.getElementById('log').textContent += 'paid;'">Pay invoice</button>
"""


def spy(ctx: SkillContext) -> list[Seen | None]:
    """Record the ``seen`` every step hands to the executor (and still run the step)."""
    handed: list[Seen | None] = []
    executor: ActionExecutor = ctx._runner.executor()
    original = executor.execute

    async def execute(action: Any, *, refs: Any, seen: Seen | None = None) -> Any:
        handed.append(seen)
        return await original(action, refs=refs, seen=seen)

    executor.execute = execute  # type: ignore[method-assign]
    return handed


async def test_a_located_step_hands_over_what_it_read_and_the_click_lands(page: Page) -> None:
    await page.set_content(PAGE)
    ctx = SkillContext.for_page(page)
    handed = spy(ctx)
    await ctx.click(page.get_by_role("button", name="Save draft"))
    assert await page.text_content("#log") == "saved;"
    [seen] = handed
    assert seen is not None
    assert seen.facts.tag == "button"
    assert seen.state is not None
    assert seen.state.url == page.url


async def test_a_step_that_waited_for_approval_reads_the_page_again(page: Page) -> None:
    await page.set_content(PAGE)

    async def approve(kind: str, target: str, arguments: dict[str, Any]) -> bool:
        # While the person decides, the page re-renders the button (same name, new node).
        await page.evaluate(
            """() => {
              const old = document.getElementById('pay');
              const fresh = document.createElement('button');
              fresh.id = 'pay';
              fresh.textContent = 'Pay invoice';
              fresh.onclick = () => { document.getElementById('log').textContent += 'paid-new;'; };
              old.replaceWith(fresh);
            }"""
        )
        return True

    ctx = SkillContext.for_page(page, approve=approve)
    handed = spy(ctx)
    await ctx.click(page.get_by_role("button", name="Pay invoice"), irreversible=True)
    assert handed == [None]
    assert await page.text_content("#log") == "paid-new;"


async def test_a_finder_hands_over_only_inside_its_block_and_only_for_its_element(page: Page) -> None:
    await page.set_content(PAGE)
    ctx = SkillContext.for_page(page)
    handed = spy(ctx)
    # What a finder does: find, stamp, describe and read the rest in one call.
    save, seen = await element_ref(page.get_by_role("button", name="Save draft"), ref="t1", timeout_ms=1000)
    pay, _ = await element_ref(page.get_by_role("button", name="Pay invoice"), ref="t2", timeout_ms=1000)
    assert seen is not None
    with ctx.found_with(save, seen):
        await ctx.click(pay)  # another element: not handed over
    with ctx.found_with(save, seen):
        await ctx.click(save)  # the finder's element: handed over
        await ctx.click(save)  # a second step on it reads afresh
    await ctx.click(save)  # after the block: reads afresh
    assert handed == [None, seen, None, None]
    assert await page.text_content("#log") == "paid;saved;saved;saved;"
