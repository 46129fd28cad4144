"""Seeing what an action did to the page: navigation, new tabs, dialogs, re-rendering.

Before an action the executor takes a :class:`PageWatch`: a snapshot of the page (its URL, a
token that identifies the document, a count of DOM mutations kept by a ``MutationObserver`` the
executor installs once per document, the number of open dialogs) and listeners for navigation
requests, downloads and new tabs. After the action it lets the page settle, waits for a
navigation the action started to commit and load, and compares. The comparison tells the agent
whether its refs are still good and lets a batch stop before acting on a page that changed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from playwright.async_api import Download, Frame, Page, Request
from playwright.async_api import Error as PlaywrightError

from operator_agent.act.tabs import Tabs
from operator_agent.errors import OperatorAgentError
from operator_agent.logs import get_logger

__all__ = [
    "SETTLE_THEN_STATE_JS",
    "STATE_JS",
    "PageChange",
    "PageState",
    "PageWatch",
    "Settle",
    "page_state",
    "state_from",
]

# Built per event rather than at import, so a logging configuration made later (by the
# application, or a test capturing logs) always applies.
_log = partial(get_logger, "operator_agent.act")

# Installed once per document; a page script could read or reset these counters, which would at
# worst make a batch continue on a changed page, where refs are checked again anyway.
STATE_JS = """
() => {
  const key = '__operatorAgentWatch';
  if (!window[key]) {
    const token = Math.random().toString(36).slice(2) + Date.now().toString(36);
    const state = { token, mutations: 0, opens: 0 };
    const observer = new MutationObserver((records) => {
      for (const r of records) state.mutations += r.type === 'childList'
        ? r.addedNodes.length + r.removedNodes.length : 1;
    });
    observer.observe(document, {
      subtree: true, childList: true, attributes: true,
      attributeFilter: ['open', 'hidden', 'style', 'class', 'aria-hidden', 'aria-modal', 'role'],
    });
    // New tabs appear asynchronously; counting what should open one tells how long to wait.
    const nativeOpen = window.open;
    window.open = function (...args) { state.opens += 1; return nativeOpen.apply(this, args); };
    const elsewhere = (target) => !!target && !['_self', '_parent', '_top'].includes(target.toLowerCase());
    const onLink = (e, middle) => {
      const link = e.target && e.target.closest ? e.target.closest('a[href]') : null;
      const modified = e.ctrlKey || e.metaKey || e.shiftKey;
      if (link && (middle || modified || elsewhere(link.target))) state.opens += 1;
    };
    document.addEventListener('click', (e) => onLink(e, false), true);
    document.addEventListener('auxclick', (e) => { if (e.button === 1) onLink(e, true); }, true);
    document.addEventListener('submit', (e) => { if (elsewhere(e.target.target)) state.opens += 1; }, true);
    Object.defineProperty(window, key, { value: state, enumerable: false });
  }
  const visible = (el) => el.checkVisibility
    ? el.checkVisibility({ visibilityProperty: true })
    : el.getClientRects().length > 0;
  let dialogs = 0;
  for (const el of document.querySelectorAll(
      'dialog[open], [role="dialog"], [role="alertdialog"], [aria-modal="true"]')) {
    if (visible(el)) dialogs += 1;
  }
  const s = window[key];
  return { token: s.token, mutations: s.mutations, opens: s.opens, dialogs, url: location.href };
}
"""

# The state once the page has run what the action set off, in the same call: with ``frame``, until
# its next animation frame has been drawn (where frameworks render and handlers' short timers have
# run; 50 ms at most, for a tab that draws no frames), then one task turn; without, one task turn.
SETTLE_THEN_STATE_JS = f"""
(frame) => new Promise((resolve) => {{
  if (!frame) {{ setTimeout(resolve, 0); return; }}
  let done = false;
  const next = () => {{ if (!done) {{ done = true; setTimeout(resolve, 0); }} }};
  requestAnimationFrame(next);
  setTimeout(next, 50);
}}).then({STATE_JS.strip()})
"""

Settle = Literal["turn", "frame"]
"""How long :meth:`PageWatch.finish` lets the page run before reading it.

``"frame"`` waits for the page's next animation frame (and one turn after it): click and key
handlers have started their navigation, request, dialog or re-render by then. ``"turn"`` lets only
what the action queued run (one task turn), which is enough for input that cannot submit: filling,
ticking, attaching a file.
"""


@dataclass(frozen=True, slots=True)
class PageState:
    """A snapshot of one document.

    Attributes:
        token: Identifies the document; a new document gets a new token.
        mutations: DOM mutations counted since the executor first looked at this document.
        opens: Clicks and calls that open a new tab (``target=_blank`` links, ``window.open``).
        dialogs: Visible dialogs (``<dialog open>``, ``role=dialog``/``alertdialog``, ``aria-modal``).
        url: The document's URL.
    """

    token: str
    mutations: int
    opens: int
    dialogs: int
    url: str


async def page_state(page: Page, *, settle: Settle | None = None) -> PageState | None:
    """Snapshot the page, or ``None`` if it is between documents or closed.

    Args:
        page: The tab.
        settle: Let the page run first, in the same call (see :data:`Settle`); ``None`` reads at once.
    """
    try:
        if settle is None:
            raw: dict[str, Any] = await page.evaluate(STATE_JS)
        else:
            raw = await asyncio.wait_for(page.evaluate(SETTLE_THEN_STATE_JS, settle == "frame"), timeout=2)
    except (PlaywrightError, TimeoutError):
        return None
    return state_from(raw)


def state_from(raw: dict[str, Any]) -> PageState:
    """The :class:`PageState` of what the state script returned."""
    return PageState(
        token=str(raw["token"]),
        mutations=int(raw["mutations"]),
        opens=int(raw["opens"]),
        dialogs=int(raw["dialogs"]),
        url=str(raw["url"]),
    )


@dataclass(frozen=True, slots=True)
class PageChange:
    """What changed between the start and the end of an action.

    Attributes:
        navigated: The current tab shows another page (URL change, new document, other tab).
        new_document: A new document loaded in the tab.
        url_after: The URL of the current tab afterwards ("" if every tab closed).
        tabs_opened: ``tab N (url)`` for each tab the action opened.
        tab_closed: Whether the tab the action ran in closed.
        dialog_opened: Whether a dialog opened on the same document.
        mutated: Whether the DOM changed at all (cheap pre-check for the ref checks of a batch).
        downloads: The file names of downloads the action started.
        still_loading: A navigation started but the new page had not loaded in time.
    """

    navigated: bool
    new_document: bool
    url_after: str
    tabs_opened: list[str] = field(default_factory=list)
    tab_closed: bool = False
    dialog_opened: bool = False
    mutated: bool = False
    downloads: list[str] = field(default_factory=list)
    still_loading: bool = False

    @property
    def stops_batch(self) -> bool:
        """Whether the rest of a batch must not run on the page as it was observed."""
        return (
            self.navigated
            or self.still_loading
            or bool(self.tabs_opened)
            or self.tab_closed
            or self.dialog_opened
        )

    def effects(self) -> list[str]:
        """Sentences for the model about what the action changed."""
        notes: list[str] = []
        if self.tab_closed:
            notes.append("the tab closed")
        if self.navigated and not self.tab_closed:
            notes.append(f"the page is now {self.url_after}")
        if self.still_loading:
            notes.append("a new page was still loading when the wait ended; observe again to see it")
        if self.tabs_opened:
            notes.append("a new tab opened: " + ", ".join(self.tabs_opened) + " (use switch_tab to go there)")
        if self.dialog_opened:
            notes.append("a dialog opened")
        notes.extend(f'a download of "{name}" started' for name in self.downloads)
        return notes


class PageWatch:
    """Listens to the current tab while one action runs; see the module docs."""

    def __init__(self, *, tabs: Tabs, page: Page, before: PageState | None, pages_before: list[Page]) -> None:
        self._tabs = tabs
        self._page = page
        self._before = before
        self._pages_before = pages_before
        self._nav_requests: list[Request] = []
        self._nav_done = False
        self._committed = False
        self._downloads: list[str] = []
        self._popups: list[Page] = []
        self._tab_opened = asyncio.Event()

    @classmethod
    async def start(cls, tabs: Tabs) -> PageWatch:
        """Snapshot the current tab and start listening."""
        return cls.start_from(tabs, before=await page_state(tabs.page))

    @classmethod
    def start_from(cls, tabs: Tabs, *, before: PageState | None) -> PageWatch:
        """Start listening to the current tab, whose snapshot was just read (``before``)."""
        page = tabs.page
        watch = cls(tabs=tabs, page=page, before=before, pages_before=list(tabs.pages))
        page.on("request", watch._on_request)
        page.on("requestfinished", watch._on_request_done)
        page.on("requestfailed", watch._on_request_done)
        page.on("framenavigated", watch._on_frame_navigated)
        page.on("download", watch._on_download)
        page.context.on("page", watch._on_page)
        return watch

    @property
    def page(self) -> Page:
        """The tab the action runs in."""
        return self._page

    def _on_request(self, request: Request) -> None:
        try:
            if request.is_navigation_request() and request.frame == self._page.main_frame:
                self._nav_requests.append(request)
        except PlaywrightError:
            return

    def _on_request_done(self, request: Request) -> None:
        if request in self._nav_requests:
            self._nav_done = True

    def _on_frame_navigated(self, frame: Frame) -> None:
        if frame == self._page.main_frame:
            self._committed = True

    def _on_download(self, download: Download) -> None:
        self._downloads.append(download.suggested_filename)

    def _on_page(self, page: Page) -> None:
        self._popups.append(page)
        self._tab_opened.set()

    def _detach(self) -> None:
        page = self._page
        page.remove_listener("request", self._on_request)
        page.remove_listener("requestfinished", self._on_request_done)
        page.remove_listener("requestfailed", self._on_request_done)
        page.remove_listener("framenavigated", self._on_frame_navigated)
        page.remove_listener("download", self._on_download)
        page.context.remove_listener("page", self._on_page)

    async def _wait_for_commit(self, deadline: float) -> None:
        grace_end: float | None = None
        while not self._committed and not self._page.is_closed() and time.monotonic() < deadline:
            if self._nav_done or self._downloads:
                # A navigation that answered without a document (204, download) never commits.
                grace_end = grace_end or time.monotonic() + 0.3
                if time.monotonic() >= grace_end:
                    return
            await asyncio.sleep(0.025)

    def _current_page(self) -> Page | None:
        try:
            return self._tabs.page
        except OperatorAgentError:
            return None

    async def finish(
        self, *, timeout_s: float, settle: Settle = "frame", settled: PageState | None = None
    ) -> PageChange:
        """Let the page settle, wait for a started navigation, and report what changed.

        Args:
            timeout_s: The longest wait for a navigation the action started.
            settle: How long the page may run before it is read (see :data:`Settle`).
            settled: The page as the action itself read it last, after letting it run as
                ``settle`` says (see :mod:`operator_agent.act.readback`); it is not read again.
        """
        page = self._page
        still_loading = False
        deadline = time.monotonic() + timeout_s
        try:
            if settled is not None:
                after: PageState | None = settled
            elif self._nav_requests or page.is_closed():
                # The tab is leaving this document: the new one is read once it has loaded, below.
                after = None
            else:
                after = await page_state(page, settle=settle)
            if self._nav_requests and not self._committed and not page.is_closed():
                await self._wait_for_commit(deadline)
                # Still neither a new document nor an answer without one: it is on its way.
                still_loading = not self._committed and not self._nav_done and not self._downloads
            if self._committed and not page.is_closed():
                remaining_ms = max(deadline - time.monotonic(), 0.5) * 1000
                try:
                    await page.wait_for_load_state("domcontentloaded", timeout=remaining_ms)
                except PlaywrightError:
                    still_loading = not page.is_closed()
                # What was read may be the document the action left.
                after = await page_state(page)
            if after is None and not page.is_closed():
                # Between two documents: give the new one a moment to exist.
                try:
                    await page.wait_for_load_state("domcontentloaded", timeout=2000)
                    still_loading = False
                except PlaywrightError:
                    still_loading = True
                after = await page_state(page)
            await self._wait_for_new_tabs(after, deadline)
            opened = [await self._describe_new_tab(p) for p in self._new_tabs()]
        finally:
            self._detach()
        return self._compare(after, opened=opened, still_loading=still_loading)

    async def _wait_for_new_tabs(self, after: PageState | None, deadline: float) -> None:
        """Wait (briefly) for the tabs the page asked to open to show up."""
        before = self._before
        if before is None or after is None or after.token != before.token:
            return
        expected = after.opens - before.opens
        # A page may block a popup or prevent a link's default: never wait long for one.
        deadline = min(deadline, time.monotonic() + 3)
        while len(self._new_tabs()) < expected:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._tab_opened.clear()
            try:
                await asyncio.wait_for(self._tab_opened.wait(), timeout=remaining)
            except TimeoutError:
                return

    def _new_tabs(self) -> list[Page]:
        seen = set(map(id, self._pages_before))
        candidates = [
            p for p in (*self._tabs.pages, *self._popups) if id(p) not in seen and not p.is_closed()
        ]
        unique: dict[int, Page] = {id(p): p for p in candidates}
        return list(unique.values())

    async def _describe_new_tab(self, page: Page) -> str:
        try:
            await page.wait_for_load_state("domcontentloaded", timeout=3000)
        except PlaywrightError:
            _log().debug("new tab still loading", url=page.url)
        pages = self._tabs.pages
        index = next((i for i, p in enumerate(pages) if p is page), len(pages))
        return f"tab {index} ({page.url})"

    def _compare(self, after: PageState | None, *, opened: list[str], still_loading: bool) -> PageChange:
        before = self._before
        current = self._current_page()
        tab_closed = self._page.is_closed()
        switched = current is not None and current is not self._page
        url_after = current.url if current is not None else ""
        # framenavigated also fires for history.pushState, so the document token decides.
        new_document = before is not None and (after is None or after.token != before.token)
        url_changed = before is not None and after is not None and after.url != before.url
        dialog_opened = (
            not new_document and before is not None and after is not None and after.dialogs > before.dialogs
        )
        mutated = before is None or after is None or after.mutations != before.mutations or new_document
        return PageChange(
            navigated=switched or tab_closed or new_document or url_changed,
            new_document=new_document,
            url_after=url_after,
            tabs_opened=opened,
            tab_closed=tab_closed,
            dialog_opened=dialog_opened,
            mutated=mutated,
            downloads=list(self._downloads),
            still_loading=still_loading,
        )
