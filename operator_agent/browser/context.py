"""One isolated browser context for one run: its tabs, dialogs, downloads and stored state."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

from operator_agent.browser._shutdown import run_to_completion
from operator_agent.browser.dialogs import DialogHandler, DialogPolicy, DialogRecord
from operator_agent.browser.downloads import DownloadCollector, DownloadRecord
from operator_agent.browser.tabs import TabInfo, TabTracker
from operator_agent.errors import BrowserError
from operator_agent.logs import get_logger

if TYPE_CHECKING:
    from operator_agent.guardrails.domains import DomainAllowlist
    from operator_agent.guardrails.proxy import DomainProxy

__all__ = ["RunContext"]

_CLOSE_TIMEOUT_S = 10.0
_TEMP_PREFIX = "operator-agent-downloads-"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class RunContext:
    """One isolated Playwright ``BrowserContext`` for one run, with its bookkeeping.

    Every page the context opens is tracked as a tab (the newest becomes active; when the
    active tab closes, the one active before it takes over). Every JavaScript dialog is
    answered by ``dialog_policy`` and recorded. Every download is saved into
    ``downloads_dir``. Use :meth:`BrowserSession.new_context` to get one with a first tab open;
    it is an async context manager that closes the browser context on exit.

    Args:
        context: The browser context to manage; it must accept downloads. Pages it already
            has are tracked too.
        downloads_dir: Where downloads are saved. When ``None``, a new temporary folder is
            made; it is left in place after :meth:`close` if it holds downloads, else removed.
        dialog_policy: How JavaScript dialogs are answered; :class:`DialogPolicy` defaults
            when ``None``.
        on_close: Called with this object once it is closed (the session uses it to forget it).
        allowlist: The domain allowlist the context was created under, if any.
        proxy: The allowlist's filtering proxy the context was created with; it is closed
            after the browser context.
    """

    context: BrowserContext

    def __init__(
        self,
        *,
        context: BrowserContext,
        downloads_dir: str | os.PathLike[str] | None = None,
        dialog_policy: DialogPolicy | None = None,
        on_close: Callable[[RunContext], None] | None = None,
        allowlist: DomainAllowlist | None = None,
        proxy: DomainProxy | None = None,
    ) -> None:
        self.context = context
        self.allowlist = allowlist
        self._proxy = proxy
        self.id = uuid.uuid4().hex[:12]
        self._log = get_logger("operator_agent.browser", run_context=self.id)
        self._owns_downloads_dir = downloads_dir is None
        folder = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX)) if downloads_dir is None else Path(downloads_dir)
        self._downloads = DownloadCollector(folder=folder)
        self._dialogs = DialogHandler(policy=dialog_policy or DialogPolicy())
        self._tabs = TabTracker(on_new_page=self._downloads.attach)
        self._on_close = on_close
        self._closed = False
        self._closing: asyncio.Future[None] | None = None
        context.on("page", self._tabs.track)
        context.on("dialog", self._dialogs.handle)
        for page in context.pages:
            self._tabs.track(page)

    # -- async context manager -------------------------------------------------------------

    async def __aenter__(self) -> RunContext:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- tabs ------------------------------------------------------------------------------

    @property
    def page(self) -> Page:
        """The active tab.

        Raises:
            BrowserError: If every tab has been closed.
        """
        return self._tabs.active

    @property
    def pages(self) -> list[Page]:
        """The open tabs, in opening order."""
        return self._tabs.pages

    def tabs(self) -> list[TabInfo]:
        """A snapshot of the open tabs (index, URL, title as of its last load, active or not).

        Titles are cached: read when a tab finishes loading, in the background. Use
        :meth:`refresh_tabs` to read them afresh.
        """
        return self._tabs.infos()

    async def refresh_tabs(self) -> list[TabInfo]:
        """Like :meth:`tabs`, with every title read from its page now."""
        return await self._tabs.refresh()

    async def switch_to(self, index: int) -> Page:
        """Make tab ``index`` (see :meth:`tabs`) the active one and bring it to the front.

        Raises:
            InvalidActionError: If no open tab has that index; the message lists the open tabs.
        """
        return await self._tabs.switch_to(index)

    async def new_tab(self) -> Page:
        """Open a blank tab and make it the active one."""
        self._ensure_open()
        try:
            page = await self.context.new_page()
        except PlaywrightError as exc:
            raise BrowserError(
                f"could not open a new tab in run context {self.id}: {_first_line(exc)}"
            ) from exc
        # The "page" event normally tracked it already; tracking is idempotent.
        self._tabs.track(page)
        return page

    # -- dialogs and downloads ---------------------------------------------------------------

    @property
    def dialog_policy(self) -> DialogPolicy:
        """How JavaScript dialogs are answered in this context."""
        return self._dialogs.policy

    def take_dialogs(self) -> list[DialogRecord]:
        """The JavaScript dialogs opened since the previous call, oldest first, with their answers."""
        return self._dialogs.take()

    @property
    def downloads_dir(self) -> Path:
        """The folder downloads are saved into."""
        return self._downloads.folder

    def take_downloads(self) -> list[DownloadRecord]:
        """The downloads finished since the previous call, oldest first."""
        return self._downloads.take()

    async def wait_for_downloads(self, *, timeout_s: float = 30, at_least: int = 0) -> None:
        """Wait until every download in flight is saved in :attr:`downloads_dir`.

        A click that starts a download returns before the browser reports the download; right
        after such a click, pass ``at_least=1`` so the wait covers the download about to start.

        Args:
            timeout_s: How long to wait at most.
            at_least: How many downloads must have finished (or failed) since the previous
                :meth:`take_downloads` before the wait may end.

        Raises:
            BrowserError: If downloads are still running (or fewer than ``at_least`` ended)
                after ``timeout_s``, or if a download failed since the previous wait (the
                message names its URL and the reason).
        """
        await self._downloads.wait(timeout_s=timeout_s, at_least=at_least)

    @property
    def proxy(self) -> DomainProxy | None:
        """The filtering proxy of :attr:`allowlist` this context sends its traffic through, if any."""
        return self._proxy

    # -- stored state and lifecycle ----------------------------------------------------------

    async def save_storage_state(self, path: str | os.PathLike[str]) -> Path:
        """Save cookies and local storage to a JSON file that ``new_context(storage_state=...)`` loads.

        The file holds session cookies, so it is written readable by its owner only.

        Args:
            path: Where to write; parent folders are created.

        Returns:
            The path written.
        """
        self._ensure_open()
        target = Path(path)
        try:
            state = await self.context.storage_state()
        except PlaywrightError as exc:
            raise BrowserError(f"could not read the storage state of run context {self.id}: {exc}") from exc
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle, indent=2)
        except OSError as exc:
            raise BrowserError(f"could not write the storage state to {target}: {exc}") from exc
        self._log.info(
            "storage state saved",
            path=str(target),
            cookies=len(state.get("cookies", [])),
            origins=len(state.get("origins", [])),
        )
        return target

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._closed

    async def close(self) -> None:
        """Close the browser context and its tabs; idempotent, and completes even when cancelled.

        Downloads still in flight are abandoned; call :meth:`wait_for_downloads` first to keep them.
        """
        if self._closing is None:
            self._closed = True
            self._closing = asyncio.ensure_future(self._close())
        await run_to_completion(self._closing)

    async def _close(self) -> None:
        await self._downloads.close()
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await self.context.close()
        except TimeoutError:
            self._log.warning("browser context did not close in time", timeout_s=_CLOSE_TIMEOUT_S)
        except PlaywrightError as exc:
            # Closing after the browser went away is fine: the context is gone either way.
            self._log.debug("browser context already gone", error=_first_line(exc))
        if self._proxy is not None:
            await self._proxy.close()
        if self._owns_downloads_dir:
            self._remove_if_empty(self._downloads.folder)
        if self._on_close is not None:
            self._on_close(self)
        self._log.debug("run context closed")

    def _remove_if_empty(self, folder: Path) -> None:
        try:
            if not any(folder.iterdir()):
                folder.rmdir()
            else:
                self._log.info("downloads kept", folder=str(folder))
        except OSError:
            pass

    def _ensure_open(self) -> None:
        if self._closed:
            raise BrowserError(f"run context {self.id} is closed")
