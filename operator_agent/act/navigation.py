"""Actions on the tab rather than an element: navigate, go back, switch tab."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from operator_agent.act.outcome import StepResult
from operator_agent.act.tabs import Tabs
from operator_agent.errors import InvalidActionError

__all__ = ["go_back", "navigate", "resolve_url", "switch_tab"]


def resolve_url(current: str, requested: str) -> str:
    """The absolute address to open: ``requested`` taken relative to the current page.

    Raises:
        InvalidActionError: If the address is not http or https (``javascript:``, ``file:``,
            ``data:``...), or is relative while the tab shows no web page.
    """
    requested = requested.strip()
    base = current if urlsplit(current).scheme in ("http", "https") else ""
    url = urljoin(base, requested) if base else requested
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        if not parts.scheme:
            raise InvalidActionError(
                f'cannot navigate to "{requested}": it is a relative address and the tab shows no web page; '
                "give a full http(s) address"
            )
        raise InvalidActionError(
            f'cannot navigate to "{requested}": only http and https addresses can be opened, '
            f"not {parts.scheme}:"
        )
    if not parts.netloc:
        raise InvalidActionError(f'cannot navigate to "{requested}": the address has no host')
    return url


async def navigate(page: Page, requested: str, *, timeout_ms: float) -> StepResult:
    """Open an http(s) address in the tab and report where it landed and the HTTP status."""
    url = resolve_url(page.url, requested)
    response = await page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    landed = page.url
    where = url if landed == url else f"{url} (redirected to {landed})"
    if response is not None and response.status >= 400:
        status = f"HTTP {response.status} {response.status_text}".strip()
        return StepResult(
            ok=False, error="ActionFailedError", message=f"opened {where}, but the server answered {status}"
        )
    return StepResult(message=f"opened {where}")


async def go_back(page: Page, *, timeout_ms: float) -> StepResult:
    """Go back one entry in the tab's history."""
    before = page.url
    response = await page.go_back(wait_until="domcontentloaded", timeout=timeout_ms)
    if response is None and page.url == before:
        return StepResult(
            ok=False, error="ActionFailedError", message="cannot go back: this tab has no previous page"
        )
    return StepResult(message=f"went back to {page.url}")


async def _tab_line(index: int, page: Page) -> str:
    try:
        title = await page.title()
    except PlaywrightError:
        title = ""  # a tab between two documents has no title to read
    return f'{index}: "{title}" ({page.url})'


async def switch_tab(tabs: Tabs, index: int) -> StepResult:
    """Make tab ``index`` current.

    Raises:
        InvalidActionError: If there is no such tab; the message lists the open tabs.
    """
    pages = tabs.pages
    if index >= len(pages):
        listed = "; ".join([await _tab_line(i, p) for i, p in enumerate(pages)])
        raise InvalidActionError(f"there is no tab {index}; the open tabs are {listed}")
    current = tabs.page
    page = await tabs.switch_to(index)
    line = await _tab_line(index, page)
    if page is current:
        return StepResult(message=f"tab {line} was already the current tab")
    return StepResult(message=f"switched to tab {line}")
