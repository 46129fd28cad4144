"""Tabs of one browser context: which are open, in what order, and which one the run is using.

Every page the context opens (``new_page``, ``window.open``, a ``target=_blank`` link) is
tracked as it appears and becomes the active tab, as it would for a person at the screen. When
the active tab closes, the tab that was active before it takes over.
"""

from __future__ import annotations

from collections.abc import Callable

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from pydantic import BaseModel, ConfigDict, Field

from operator_agent.errors import BrowserError, InvalidActionError
from operator_agent.logs import get_logger

__all__ = ["TabInfo", "TabTracker"]

_log = get_logger("operator_agent.browser")


class TabInfo(BaseModel):
    """A snapshot of one open tab.

    Attributes:
        index: Its position among the open tabs, in opening order (what ``switch_to`` takes).
        url: Its current URL.
        title: Its title as of its last page load (or the last switch to it).
        active: Whether it is the tab the run is using.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=0)
    url: str
    title: str
    active: bool


class TabTracker:
    """Keeps the list of open tabs and the active one.

    Args:
        on_new_page: Called with each new page as soon as it is seen (to hook more listeners).
    """

    def __init__(self, *, on_new_page: Callable[[Page], None]) -> None:
        self._on_new_page = on_new_page
        self._pages: list[Page] = []
        # Most recently active last; the fallback order when the active tab closes.
        self._history: list[Page] = []
        self._titles: dict[Page, str] = {}

    @property
    def pages(self) -> list[Page]:
        """The open tabs in opening order."""
        return list(self._pages)

    @property
    def active(self) -> Page:
        """The active tab.

        Raises:
            BrowserError: If every tab has been closed.
        """
        if not self._history:
            raise BrowserError("every tab of this run context is closed; open one with new_tab()")
        return self._history[-1]

    def track(self, page: Page) -> None:
        """Start tracking ``page`` (idempotent) and make it the active tab."""
        if page in self._pages or page.is_closed():
            return
        self._pages.append(page)
        self._titles[page] = ""
        self._activate(page)
        page.on("close", self._on_close)
        page.on("load", self._refresh_title)
        self._on_new_page(page)
        _log.debug("tab opened", index=len(self._pages) - 1, url=page.url)

    def infos(self) -> list[TabInfo]:
        """A snapshot of the open tabs."""
        active = self._history[-1] if self._history else None
        return [
            TabInfo(index=i, url=page.url, title=self._titles.get(page, ""), active=page is active)
            for i, page in enumerate(self._pages)
        ]

    async def refresh(self) -> list[TabInfo]:
        """Read every open tab's title now, then return a snapshot."""
        for page in list(self._pages):
            await self._refresh_title(page)
        return self.infos()

    async def switch_to(self, index: int) -> Page:
        """Make tab ``index`` the active one and bring it to the front.

        Raises:
            InvalidActionError: If no open tab has that index; the message lists the open tabs.
        """
        if not 0 <= index < len(self._pages):
            raise InvalidActionError(f"no tab with index {index}; {self.describe()}")
        page = self._pages[index]
        self._activate(page)
        try:
            await page.bring_to_front()
        except PlaywrightError as exc:
            raise BrowserError(f"could not bring tab {index} ({page.url}) to the front: {exc}") from exc
        await self._refresh_title(page)
        _log.info("switched tab", index=index, url=page.url)
        return page

    def describe(self) -> str:
        """The open tabs as one line of text, for error messages."""
        infos = self.infos()
        if not infos:
            return "no tab is open"
        listed = ", ".join(
            f"[{tab.index}] {tab.url}"
            + (f" {tab.title!r}" if tab.title else "")
            + (" (active)" if tab.active else "")
            for tab in infos
        )
        return f"open tabs: {listed}"

    def _activate(self, page: Page) -> None:
        if page in self._history:
            self._history.remove(page)
        self._history.append(page)

    def _on_close(self, page: Page) -> None:
        was_active = bool(self._history) and self._history[-1] is page
        if page in self._pages:
            self._pages.remove(page)
        if page in self._history:
            self._history.remove(page)
        self._titles.pop(page, None)
        if was_active and self._history:
            _log.info("active tab closed", url=page.url, now_active=self._history[-1].url)

    async def _refresh_title(self, page: Page) -> None:
        try:
            title = await page.title()
        except PlaywrightError:
            # The page closed or navigated meanwhile; keep the last title known.
            return
        if page in self._titles:
            self._titles[page] = title
