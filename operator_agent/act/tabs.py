"""The tabs an executor acts in: which one is current, and how to switch."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from playwright.async_api import BrowserContext, Page

from operator_agent.errors import BrowserError, InvalidActionError

__all__ = ["ContextTabs", "Tabs"]


@runtime_checkable
class Tabs(Protocol):
    """The open tabs of a run and the one actions go to.

    The browser session's run context satisfies this protocol; :class:`ContextTabs` is a small
    standalone implementation over one Playwright browser context.
    """

    @property
    def page(self) -> Page:
        """The current tab."""
        ...

    @property
    def pages(self) -> list[Page]:
        """Every open tab, in the order they were opened."""
        ...

    async def switch_to(self, index: int) -> Page:
        """Make tab ``index`` (from 0, in :attr:`pages` order) the current one and return it."""
        ...


class ContextTabs:
    """The tabs of one Playwright browser context, starting from a given page.

    When the current tab closes, the most recently opened tab that is still open becomes current.

    Args:
        page: The tab to start in; its browser context holds the other tabs.
    """

    def __init__(self, *, page: Page) -> None:
        self._context: BrowserContext = page.context
        self._current = page

    @property
    def page(self) -> Page:
        """The current tab."""
        if self._current.is_closed():
            open_pages = self.pages
            if not open_pages:
                raise BrowserError("every tab of the browser context is closed; there is no page to act on")
            self._current = open_pages[-1]
        return self._current

    @property
    def pages(self) -> list[Page]:
        """Every open tab, in the order they were opened."""
        return [page for page in self._context.pages if not page.is_closed()]

    async def switch_to(self, index: int) -> Page:
        """Make tab ``index`` the current one and bring it to the front.

        Raises:
            InvalidActionError: If there is no tab ``index``.
        """
        open_pages = self.pages
        if not 0 <= index < len(open_pages):
            raise InvalidActionError(
                f"there is no tab {index}: {len(open_pages)} tab(s) are open, "
                f"numbered 0 to {len(open_pages) - 1}"
            )
        self._current = open_pages[index]
        await self._current.bring_to_front()
        return self._current
