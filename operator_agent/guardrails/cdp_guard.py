"""Chromium's own request interception as a second layer of the domain allowlist.

Playwright routes the first request of each load but follows redirects itself, without asking a
route handler; a redirect answered to a form POST, an image, a script or a ``fetch()`` would leave
the allowlist unseen. Chromium's DevTools ``Fetch`` domain pauses every request *including each
redirect hop* for each client that enabled it, and several clients coexist: each one continues or
fails its own pause, and a request is sent only when every client let it through.
:class:`CdpRequestGuard` is such a client beside Playwright's own: it checks every paused request
of every page and out-of-process frame of one browser context against the allowlist and fails the
others with ``BlockedByClient``, recording them like the route layer does.

Found by experiment (Chromium 156, Playwright 1.65), and what this design follows from:

- The guard's pause comes before Playwright's routing of the same request, so when the route
  handler sees a request the guard let through, the guard will see its redirects too
  (:meth:`CdpRequestGuard.cover` tells the route handler so).
- A client enabled after a request started does not see that request's later redirect hops, so
  the guard must be attached to a page before its requests start. Playwright reports a popup
  (``context.on("page")``) only once its first navigation has committed; the guard therefore
  attaches to the page *targets* of the context through a browser-level DevTools session, which
  reaches a popup as soon as its first request is routed, before its page is reported.
- Python cannot use Chromium's "flat" child sessions of a browser-level session (Playwright's
  driver drops the messages of sessions it did not open), so targets are reached through
  ``Target.sendMessageToTarget``. Out-of-process iframes, whose requests their page's
  interception does not see, are auto-attached by the page's session and wait for the guard
  before they run. Requests of dedicated workers pass through their page's interception.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, Final

from playwright.async_api import Browser, BrowserContext, CDPSession, Page, Request
from playwright.async_api import Error as PlaywrightError

from operator_agent.errors import BrowserError
from operator_agent.logs import get_logger

__all__ = ["CdpRequestGuard", "supports_cdp_guard"]

_log = get_logger("operator_agent.guardrails")

_SEND_TIMEOUT_S: Final = 10.0
_PASSED_MEMORY: Final = 512
_PAUSE_EVERY_REQUEST: Final = {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]}
# Out-of-process iframes start paused until the guard has enabled interception in them.
_AUTO_ATTACH_FRAMES: Final = {
    "autoAttach": True,
    "waitForDebuggerOnStart": True,
    "flatten": False,
    "filter": [{"type": "iframe", "exclude": False}, {"exclude": True}],
}


def supports_cdp_guard(context: BrowserContext) -> bool:
    """Whether ``context`` runs in a Chromium browser that :class:`CdpRequestGuard` can guard."""
    browser = context.browser
    return browser is not None and browser.browser_type.name == "chromium"


class _Target:
    """A DevTools session with one target (a page or an iframe), reached through its parent.

    Commands go out wrapped in ``Target.sendMessageToTarget`` of the parent; replies and events
    come back wrapped in the parent's ``Target.receivedMessageFromTarget`` and are handed to
    :meth:`dispatch`.
    """

    def __init__(
        self,
        *,
        guard: CdpRequestGuard,
        session_id: str,
        target_id: str,
        kind: str,
        post: Callable[[str, dict[str, Any]], Coroutine[Any, Any, Any]],
    ) -> None:
        self.guard = guard
        self.session_id = session_id
        self.target_id = target_id
        self.kind = kind
        self._post = post
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.children: dict[str, _Target] = {}
        self.closed = False

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.closed:
            raise BrowserError(f"the DevTools session with a {self.kind} target is closed ({method})")
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        message = json.dumps({"id": message_id, "method": method, "params": params or {}})
        try:
            await self._post("Target.sendMessageToTarget", {"sessionId": self.session_id, "message": message})
            return await asyncio.wait_for(future, _SEND_TIMEOUT_S)
        except (PlaywrightError, TimeoutError) as exc:
            raise BrowserError(f"DevTools {method} on a {self.kind} target failed: {exc}") from exc
        finally:
            self._pending.pop(message_id, None)

    def dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message:
            future = self._pending.get(message["id"])
            if future is None or future.done():
                return
            if "error" in message:
                error = message["error"].get("message", "unknown error")
                future.set_exception(BrowserError(f"DevTools error on a {self.kind} target: {error}"))
            else:
                future.set_result(message.get("result") or {})
            return
        method = message.get("method")
        params = message.get("params") or {}
        if method == "Fetch.requestPaused":
            self.guard._spawn(self.guard._decide(self, params))
        elif method == "Target.receivedMessageFromTarget":
            child = self.children.get(params.get("sessionId", ""))
            if child is not None:
                child.dispatch(json.loads(params["message"]))
        elif method == "Target.attachedToTarget":
            self.guard._spawn(self.guard._adopt_frame(self, params))
        elif method == "Target.detachedFromTarget":
            child = self.children.pop(params.get("sessionId", ""), None)
            if child is not None:
                child.close()

    def close(self) -> None:
        self.closed = True
        for child in self.children.values():
            child.close()
        self.children.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError(f"the {self.kind} target went away"))
        self._pending.clear()


class CdpRequestGuard:
    """Fails every request of a Chromium browser context that the allowlist refuses, hop by hop.

    Use :meth:`start` once, then call :meth:`cover` for each request Playwright routes (the
    domain allowlist's route handler does), so that pages (popups too) are guarded before their
    requests leave. The guard detaches itself when the context closes.

    Args:
        context: A Chromium browser context (see :func:`supports_cdp_guard`).
        allows: Whether a request to a URL may go out.
        on_block: Called with the URL and the reason for each request the guard fails.
    """

    def __init__(
        self,
        *,
        context: BrowserContext,
        allows: Callable[[str], bool],
        on_block: Callable[[str, str], None],
    ) -> None:
        browser = context.browser
        if browser is None or browser.browser_type.name != "chromium":
            raise BrowserError("the DevTools request guard needs a context of a launched Chromium browser")
        self._browser: Browser = browser
        self._context = context
        self._allows = allows
        self._on_block = on_block
        self._session: CDPSession | None = None
        self._context_id: str | None = None
        self._pages: dict[str, _Target] = {}  # by DevTools session id
        self._page_targets: set[str] = set()
        self._guarded: set[Page] = set()
        # (method, URL) of requests the guard let through that Playwright may route next: the
        # guard's interception runs before Playwright's, so a routed request found here was seen.
        self._passed: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def start(self) -> None:
        """Open the browser-level session and guard every page the context has now.

        Raises:
            BrowserError: Chromium refused the DevTools session or the interception.
        """
        try:
            self._session = await self._browser.new_browser_cdp_session()
        except PlaywrightError as exc:
            raise BrowserError(f"could not open a DevTools session to guard requests: {exc}") from exc
        self._session.on("Target.receivedMessageFromTarget", self._on_page_message)
        self._session.on("Target.detachedFromTarget", self._on_page_detached)
        self._context.on("page", self._on_new_page)
        for page in self._context.pages:
            page.on("close", self._forget)
        self._context.on("close", lambda _: self._spawn(self.close()))
        await self._sweep(strict=True)

    async def cover(self, request: Request) -> bool:
        """Make sure the page ``request`` comes from is guarded; say whether the request is.

        A popup's first navigation comes before Playwright knows its page: any page target of the
        context not guarded yet is attached then, so the rest of the popup's requests are
        guarded. A request that started before its page was guarded is not seen by the guard,
        nor are its redirects: the caller must check those itself.

        Returns:
            Whether the guard already let this very request through, and so will check each of
            its redirect hops.
        """
        if self._closed or request.service_worker is not None:
            return False
        covered = self._take_passed(request.method, request.url)
        try:
            page: Page | None = request.frame.page
        except PlaywrightError:
            page = None
        if page is None or page not in self._guarded:
            try:
                await self._sweep(strict=False)
            except BrowserError as exc:
                _log.warning("could not guard a new page of the context", error=str(exc))
        return covered

    async def close(self) -> None:
        """Stop guarding and let go of the DevTools session (safe to call more than once)."""
        if self._closed:
            return
        self._closed = True
        for target in self._pages.values():
            target.close()
        self._pages.clear()
        self._page_targets.clear()
        self._guarded.clear()
        if self._session is not None:
            with contextlib.suppress(PlaywrightError):
                await self._session.detach()

    # -- attaching ---------------------------------------------------------------------------

    async def _sweep(self, *, strict: bool) -> None:
        """Attach to every page target of the context not guarded yet."""
        async with self._lock:
            if self._closed or self._session is None:
                return
            known = [page for page in self._context.pages if not page.is_closed()]
            if self._context_id is None:
                if not known:
                    return
                self._context_id = await self._read_context_id(known[0])
            try:
                targets = (await self._session.send("Target.getTargets"))["targetInfos"]
            except PlaywrightError as exc:
                raise BrowserError(f"could not list the browser's targets: {exc}") from exc
            for info in targets:
                if (
                    info.get("type") != "page"
                    or info.get("browserContextId") != self._context_id
                    or info["targetId"] in self._page_targets
                ):
                    continue
                try:
                    await self._attach_page(info["targetId"])
                except BrowserError as exc:
                    if strict:
                        raise
                    # A page that closed while being attached needs no guard.
                    _log.debug("could not attach to a page target", error=str(exc))
            self._guarded.update(known)

    async def _read_context_id(self, page: Page) -> str:
        try:
            session = await self._context.new_cdp_session(page)
            try:
                info = await session.send("Target.getTargetInfo")
            finally:
                await session.detach()
        except PlaywrightError as exc:
            raise BrowserError(f"could not identify the browser context to guard: {exc}") from exc
        return str(info["targetInfo"]["browserContextId"])

    async def _attach_page(self, target_id: str) -> None:
        assert self._session is not None
        session = self._session
        try:
            attached = await session.send("Target.attachToTarget", {"targetId": target_id, "flatten": False})
        except PlaywrightError as exc:
            raise BrowserError(f"could not attach to page target {target_id}: {exc}") from exc

        async def post(method: str, params: dict[str, Any]) -> Any:
            return await session.send(method, params)

        target = _Target(
            guard=self, session_id=attached["sessionId"], target_id=target_id, kind="page", post=post
        )
        self._pages[target.session_id] = target
        self._page_targets.add(target_id)
        await target.send("Fetch.enable", _PAUSE_EVERY_REQUEST)
        await target.send("Target.setAutoAttach", _AUTO_ATTACH_FRAMES)
        _log.debug("page guarded by DevTools request interception", target=target_id)

    async def _adopt_frame(self, parent: _Target, params: dict[str, Any]) -> None:
        """Guard an out-of-process iframe that ``parent`` auto-attached, then let it run."""
        info = params.get("targetInfo") or {}
        child = _Target(
            guard=self,
            session_id=params["sessionId"],
            target_id=str(info.get("targetId", "")),
            kind=str(info.get("type", "frame")),
            post=parent.send,
        )
        parent.children[child.session_id] = child
        try:
            await child.send("Fetch.enable", _PAUSE_EVERY_REQUEST)
            await child.send("Target.setAutoAttach", _AUTO_ATTACH_FRAMES)
        except BrowserError as exc:
            # Its first requests are still routed (and checked) by Playwright.
            _log.warning("could not guard an out-of-process frame", url=info.get("url"), error=str(exc))
        finally:
            if params.get("waitingForDebugger"):
                with contextlib.suppress(BrowserError):
                    await child.send("Runtime.runIfWaitingForDebugger")

    # -- deciding ----------------------------------------------------------------------------

    async def _decide(self, target: _Target, params: dict[str, Any]) -> None:
        """Let a paused request go on, or fail it if the allowlist refuses its URL."""
        request_id = params["requestId"]
        url = str(params["request"]["url"])
        try:
            if self._allows(url):
                self._note_passed(str(params["request"]["method"]), url)
                await target.send("Fetch.continueRequest", {"requestId": request_id})
                return
            why = "redirect" if params.get("redirectedRequestId") else "host not allowed"
            self._on_block(url, f"{why} ({params.get('resourceType', 'request')}, DevTools interception)")
            await target.send(
                "Fetch.failRequest", {"requestId": request_id, "errorReason": "BlockedByClient"}
            )
        except BrowserError as exc:
            # The page navigated away or closed: the request is gone.
            _log.debug("paused request could not be answered", url=url, error=str(exc))

    def _note_passed(self, method: str, url: str) -> None:
        key = (method, url.split("#", 1)[0])
        self._passed[key] = self._passed.pop(key, 0) + 1
        while len(self._passed) > _PASSED_MEMORY:
            # Requests Playwright never routes (redirect hops, favicons) leave tokens behind.
            self._passed.popitem(last=False)

    def _take_passed(self, method: str, url: str) -> bool:
        key = (method, url.split("#", 1)[0])
        count = self._passed.pop(key, 0)
        if count > 1:
            self._passed[key] = count - 1
        return count > 0

    # -- events ------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_page_message(self, params: dict[str, Any]) -> None:
        target = self._pages.get(params.get("sessionId", ""))
        if target is not None:
            target.dispatch(json.loads(params["message"]))

    def _on_page_detached(self, params: dict[str, Any]) -> None:
        target = self._pages.pop(params.get("sessionId", ""), None)
        if target is not None:
            target.close()
            self._page_targets.discard(target.target_id)

    def _on_new_page(self, page: Page) -> None:
        page.on("close", self._forget)
        self._spawn(self._sweep_quietly())

    def _forget(self, page: Page) -> None:
        self._guarded.discard(page)

    async def _sweep_quietly(self) -> None:
        try:
            await self._sweep(strict=False)
        except BrowserError as exc:
            _log.warning("could not guard a new page of the context", error=str(exc))
