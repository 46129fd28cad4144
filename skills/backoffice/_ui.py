"""Small helpers for the back-office skills: buttons worded differently per layout, flash messages.

The back office exists in two layouts (v1 and v2) that word the same buttons differently
("Submit for payment" / "Send to payment run"). Rather than one skill per layout, a step names
every wording it accepts, and the helper takes the one the page shows.
"""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator

from operator_agent.errors import ElementNotFoundError
from operator_agent.skills import SkillContext

__all__ = ["flash_message", "one_of"]


async def one_of(ctx: SkillContext, *names: str, role: str = "button", timeout_s: float = 8.0) -> Locator:
    """The element with ``role`` named by any of ``names`` (exactly), whichever the page shows.

    Raises:
        ElementNotFoundError: If none shows up within ``timeout_s``; the message lists every wording.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        for name in names:
            try:
                return await ctx.locate(role=role, name=name, exact=True, timeout_s=0)
            except ElementNotFoundError:
                continue
        if time.monotonic() >= deadline:
            tried = [f'{role} "{name}"' for name in names]
            raise ElementNotFoundError(
                f"none of {', '.join(tried)} is on {ctx.page.url} after {timeout_s:g} s", tried=tried
            )
        await asyncio.sleep(0.1)


async def flash_message(ctx: SkillContext) -> str:
    """The confirmation or error banner the page shows after a change ("Reply sent to ..."), or ""."""
    banner = ctx.page.locator(".flash, [role='status'].flash, [role='alert'].flash").filter(visible=True)
    try:
        if await banner.count():
            return " ".join((await banner.first.inner_text(timeout=2000)).split())
    except PlaywrightError:
        return ""
    return ""
