"""search: type a query into the page's search box and run it."""

from __future__ import annotations

import re

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator
from pydantic import BaseModel, ConfigDict

from operator_agent.errors import SkillFailedError
from operator_agent.skills import SkillContext, skill

from ._fields import locator, scan
from ._page import dismiss, settle

__all__ = ["SearchResult", "search"]

_SEARCHY = re.compile(r"search|find|query|look ?up|filter|^q$", re.I)


class SearchResult(BaseModel):
    """What the search did.

    Attributes:
        query: The text searched for.
        url: The page showing the results.
        summary: What the page says about the results ("Showing 1–3 of 3 invoices"), if it says.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str
    url: str
    summary: str


@skill
async def search(ctx: SkillContext, *, query: str, label: str | None = None) -> SearchResult:
    """Search the page's records: fill the search box with the query and run the search.

    Args:
        query: What to search for.
        label: The search box's label, when the page has several ("Search tickets").
    """
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    form_button: Locator | None = None
    if label is not None:
        box = await ctx.locate(name=label)
    else:
        box, form_button = await _search_box(ctx)
    await ctx.fill(box, query)
    if form_button is not None:
        await ctx.click(form_button)
    else:
        await ctx.press("Enter", target=box)
    await settle(ctx, timeout_s=15)
    await dismiss(ctx)
    summary = ""
    status = ctx.page.locator('[role="status"]').filter(visible=True)
    try:
        if await status.count():
            summary = " ".join((await status.first.inner_text(timeout=2000)).split())
    except PlaywrightError:
        summary = ""
    return SearchResult(query=query, url=ctx.page.url, summary=summary)


async def _search_box(ctx: SkillContext) -> tuple[Locator, Locator | None]:
    searchbox = ctx.page.locator(
        'input[type="search"], [role="searchbox"], [role="search"] input[type="text"]'
    )
    visible = searchbox.filter(visible=True)
    if await visible.count() == 1:
        return visible, None
    form = await scan(ctx, timeout_s=2.0)
    for field in form.fields:
        texts = [*field.labels, field.name, field.placeholder, field.id]
        if field.kind in ("text", "combobox") and any(_SEARCHY.search(t) for t in texts if t):
            submit = next((b for b in form.buttons if b["submit"]), None)
            return locator(ctx, field.stamp), locator(ctx, submit["stamp"]) if submit else None
    raise SkillFailedError(f"no search box on {ctx.page.url}", step="find the search box")
