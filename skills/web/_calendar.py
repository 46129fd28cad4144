"""Picking a day in a calendar popup, for date fields that cannot be typed into.

The calendar is opened from the field (or the button next to it), the month shown is read from its
heading, the "next"/"previous" buttons are clicked until the wanted month shows, and the day is
clicked by its accessible name ("31 December 2026", "December 31, 2026"), its ``data-date``, or
its number among the days of the month.
"""

from __future__ import annotations

import asyncio
import calendar
import re
import time
from datetime import date
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

from operator_agent.errors import InvalidActionError, SkillFailedError
from operator_agent.skills import SkillContext

from ._page import script

__all__ = ["pick_date"]

CAL_ATTR = "data-oa-calendar"
_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name} | {
    name.lower(): n for n, name in enumerate(calendar.month_abbr) if name
}


def _month_of(heading: str) -> tuple[int, int] | None:
    match = re.search(r"([A-Za-z]{3,9})\.?\s+(\d{4})", heading)
    if match is None or match.group(1).lower() not in _MONTHS:
        return None
    return int(match.group(2)), _MONTHS[match.group(1).lower()]


async def _calendar(ctx: SkillContext, field: Locator) -> dict[str, Any] | None:
    handle = await field.element_handle(timeout=2000)
    try:
        found: dict[str, Any] | None = await ctx.page.evaluate(script("calendar_find"), [handle, CAL_ATTR])
    finally:
        await handle.dispose()
    return found


async def _wait_for_calendar(ctx: SkillContext, field: Locator, wait_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + wait_s
    while True:
        found = await _calendar(ctx, field)
        if found is not None or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.1)


async def _open(ctx: SkillContext, field: Locator) -> dict[str, Any]:
    """Open the calendar the way a person would: its button if it has one, else the field itself."""
    found = await _calendar(ctx, field)
    if found is not None:
        return found
    if await field.evaluate(script("calendar_toggle")):
        await ctx.click(ctx.page.locator("[data-oa-calendar-toggle]").first)
        found = await _wait_for_calendar(ctx, field, 1.5)
        if found is not None:
            return found
    await ctx.click(field)
    found = await _wait_for_calendar(ctx, field, 1.5)
    if found is not None:
        return found
    raise SkillFailedError(
        "no calendar opened from the date field or the button next to it", step="open calendar"
    )


def _day_names(day: date) -> list[str]:
    month = calendar.month_name[day.month]
    return [
        f"{day.day} {month} {day.year}",
        f"{month} {day.day}, {day.year}",
        f"{month} {day.day} {day.year}",
        day.isoformat(),
    ]


async def pick_date(ctx: SkillContext, field: Locator, day: date) -> str:
    """Choose ``day`` in the calendar of a date field and return what the field shows.

    Raises:
        SkillFailedError: If no calendar opens, its month cannot be read, or the day is not offered.
    """
    found = await _open(ctx, field)
    cal = ctx.page.locator(f'[{CAL_ATTR}="{found["stamp"]}"]')
    wanted = day.year * 12 + day.month
    for _ in range(240):
        shown = _month_of(found["heading"])
        if shown is None:
            raise SkillFailedError(
                f'cannot read the month of the calendar ("{found["heading"]}")', step="read calendar"
            )
        current = shown[0] * 12 + shown[1]
        if current == wanted:
            break
        pattern = r"next|›|»|>|→|following" if wanted > current else r"prev|previous|‹|«|<|←|back"
        step_button = cal.get_by_role("button", name=re.compile(pattern, re.I)).first
        try:
            await ctx.click(step_button)
        except InvalidActionError as exc:
            month = f"{calendar.month_name[day.month]} {day.year}"
            raise SkillFailedError(
                f"cannot move the calendar to {month}: {exc}", step="move calendar"
            ) from None
        refreshed = await _calendar(ctx, field)
        if refreshed is None or refreshed["heading"] == found["heading"]:
            raise SkillFailedError("the calendar did not move to another month", step="move calendar")
        found = refreshed
        cal = ctx.page.locator(f'[{CAL_ATTR}="{found["stamp"]}"]')
    else:
        raise SkillFailedError("the wanted month is too far from the calendar's", step="move calendar")
    target = None
    for name in _day_names(day):
        candidates = cal.get_by_role("button", name=name, exact=True).or_(
            cal.get_by_role("gridcell", name=name, exact=True)
        )
        if await candidates.filter(visible=True).count() == 1:
            target = candidates.filter(visible=True)
            break
    if target is None:
        by_data = cal.locator(f'[data-date="{day.isoformat()}"]').filter(visible=True)
        if await by_data.count() == 1:
            target = by_data
    if target is None:
        by_number = cal.get_by_role("button", name=str(day.day), exact=True).filter(visible=True)
        if await by_number.count() == 1:
            target = by_number
    if target is None:
        raise SkillFailedError(f"the calendar offers no button for {day.isoformat()}", step="choose day")
    await ctx.click(target)
    try:
        return await field.input_value(timeout=2000)
    except PlaywrightError:
        return ""
