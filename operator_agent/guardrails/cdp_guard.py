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
  reaches a popup as soon as its first request is routed, before its page is reported. That
  first request has started already; the guard finds the popup (until its first navigation
  commits, a popup's target reports an empty URL, the context's other pages at least
  ``about:blank``) and helps load it again: :meth:`~CdpRequestGuard.loading_pages`,
  :meth:`~CdpRequestGuard.expect_relaunch`, :meth:`~CdpRequestGuard.navigate` and
  :meth:`~CdpRequestGuard.navigate_from_document`, used by
  :mod:`operator_agent.guardrails.popup_loads`.
- A client that continues a paused request with another method, body or headers changes the
  request for the clients after it too (Playwright routes the changed request), and for the
  network stack, except for ``SameSite`` cookies, which follow the method the navigation
  started with.
- Python cannot use Chromium's "flat" child sessions of a browser-level session (Playwright's
  driver drops the messages of sessions it did not open), so targets are reached through
  ``Target.sendMessageToTarget``. Out-of-process iframes, whose requests their page's
  interception does not see, are auto-attached by the page's session and wait for the guard
  before they run. Requests of dedicated workers pass through their page's interception.
- Not paused by a page's interception, nor by a browser-level one (which sees navigations
  only): requests of service workers and shared workers, and the browser's speculation-rules
  prefetches. The allowlist keeps pages from starting those workers; prefetches stay unguarded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from playwright.async_api import Browser, BrowserContext, CDPSession, Page, Request
from playwright.async_api import Error as PlaywrightError

from operator_agent.errors import BrowserError
from operator_agent.guardrails._cdp_target import CdpTarget
from operator_agent.logs import get_logger

__all__ = ["CdpRequestGuard", "Relaunch", "supports_cdp_guard"]

_log = get_logger("operator_agent.guardrails")

# A relaunched navigation answers when it commits or fails, which a slow page can take a while to do.
_NAVIGATE_TIMEOUT_S: Final = 120.0
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


@dataclass(frozen=True)
class Relaunch:
    """A popup's first request, to be sent again once the guard watches the popup.

    Attributes:
        url: Its URL.
        method: Its method; a ``POST`` is relaunched as a navigation whose method and body the
            guard puts back when it pauses it.
        headers: Headers the first request had that the relaunched one must have too (its
            ``Referer``; for a ``POST`` its ``Content-Type`` and ``Origin``).
        body: The body of a ``POST``.
    """

    url: str
    method: Literal["GET", "POST"]
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None


class CdpRequestGuard:
    """Fails every request of a Chromium browser context that the allowlist refuses, hop by hop.

    Use :meth:`start` once, then call :meth:`cover` for each request Playwright routes (the
    domain allowlist's route handler does), so that pages (popups too) are guarded before their
    requests leave. A popup's first request, which starts before that, is loaded again with
    the methods of the "relaunch" group (see :mod:`operator_agent.guardrails.popup_loads`). The
    guard detaches itself when the context closes.

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
        self._pages: dict[str, CdpTarget] = {}  # by DevTools session id
        self._page_targets: set[str] = set()
        self._guarded: set[Page] = set()
        # (method, URL) of requests the guard let through that Playwright may route next: the
        # guard's interception runs before Playwright's, so a routed request found here was seen.
        self._passed: OrderedDict[tuple[str, str], int] = OrderedDict()
        # Popups whose first load was taken over (by target id), and the loads to put back.
        self._claimed: set[str] = set()
        self._relaunches: dict[tuple[str, str], Relaunch] = {}
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

    async def loading_pages(self) -> list[str]:
        """Target ids of the context's pages that have not shown any document yet, and not claimed.

        A popup is one of these from the moment it opens until its first navigation commits; the
        context's other pages have shown at least ``about:blank``. When a popup's first request
        is routed, its popup is one of these, so a single one is that popup. Whether the guard
        watches it is :meth:`watches`.

        Raises:
            BrowserError: Chromium did not list its targets.
        """
        async with self._lock:
            if self._closed or self._session is None or self._context_id is None:
                return []
            try:
                targets = (await self._session.send("Target.getTargets"))["targetInfos"]
            except PlaywrightError as exc:
                raise BrowserError(f"could not list the browser's targets: {exc}") from exc
        return [
            str(info["targetId"])
            for info in targets
            if info.get("type") == "page"
            and not info.get("subtype")
            and info.get("browserContextId") == self._context_id
            and info.get("url") == ""
            and info["targetId"] not in self._claimed
        ]

    def watches(self, target_id: str) -> bool:
        """Whether the guard intercepts the requests of page target ``target_id``."""
        return target_id in self._page_targets

    def claim(self, target_id: str) -> None:
        """Take a page out of :meth:`loading_pages`: its first load is accounted for."""
        self._claimed.add(target_id)

    def expect_relaunch(self, target_id: str, relaunch: Relaunch) -> None:
        """Claim a popup and prepare the guard to put ``relaunch`` back into its next load of its URL.

        The guard pauses that load like any other; it then sets the method, body and headers of
        ``relaunch`` on it before checking it and letting it go.
        """
        self.claim(target_id)
        self._relaunches[(target_id, _without_fragment(relaunch.url))] = relaunch

    def cancel_relaunch(self, target_id: str) -> None:
        """Forget what :meth:`expect_relaunch` prepared for a popup."""
        for key in [key for key in self._relaunches if key[0] == target_id]:
            del self._relaunches[key]

    async def navigate(self, target_id: str, url: str) -> asyncio.Future[dict[str, Any]]:
        """Start a browser-initiated navigation of a guarded page to ``url``.

        Returns once Chromium has started it (the navigation it replaces, if any, is cancelled
        then); how it ends is logged.

        Returns:
            The future of Chromium's answer, which comes when the navigation commits or fails
            (``errorText``); awaiting it is optional.

        Raises:
            BrowserError: The page is not guarded (or gone), or refused the command.
        """
        target = self._page_target(target_id)
        reply = await target.post("Page.navigate", {"url": url})
        self._spawn(self._log_navigation(reply, url))
        return reply

    async def claim_failed_page(self, url: str, *, among: Iterable[str], timeout_s: float) -> str | None:
        """Wait for one of the pages ``among``, unclaimed, to have failed its first load on ``url``; claim it.

        A page whose navigation failed shows an error page and reports the URL it failed on.

        Returns:
            The page's target id, or ``None`` if no such page showed up within ``timeout_s``.
        """
        wanted = _without_fragment(url)
        candidates = set(among)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._closed and self._session is not None and self._context_id is not None:
            try:
                targets = (await self._session.send("Target.getTargets"))["targetInfos"]
            except PlaywrightError as exc:
                _log.debug("could not list the browser's targets", error=str(exc))
                return None
            for info in targets:
                target_id = str(info["targetId"])
                if (
                    info.get("type") == "page"
                    and info.get("browserContextId") == self._context_id
                    and _without_fragment(str(info.get("url", ""))) == wanted
                    and target_id in candidates
                    and target_id in self._page_targets
                    and target_id not in self._claimed
                ):
                    self.claim(target_id)
                    return target_id
            if loop.time() >= deadline:
                return None
            await asyncio.sleep(0.05)
        return None

    async def navigate_from_document(
        self, target_id: str, url: str, *, method: Literal["GET", "POST"]
    ) -> None:
        """Have the document a guarded page shows navigate it to ``url``.

        A GET is ``location.replace(url)``; a POST submits an empty form to ``url`` (the guard
        puts the body back, see :meth:`expect_relaunch`). The script runs in an isolated world,
        out of reach of the page's own scripts. The navigation is the document's own: the browser
        gives it the document's origin as its initiator, which decides the cookies it carries
        (``SameSite``, for the method it has) and its ``Sec-Fetch-Site``.

        Raises:
            BrowserError: The page is not guarded (or gone), or the script did not run.
        """
        target = self._page_target(target_id)
        # A page target's id is the id of its main frame.
        world = await target.send(
            "Page.createIsolatedWorld", {"frameId": target_id, "worldName": "operator-agent-guard"}
        )
        if method == "GET":
            expression = f"location.replace({json.dumps(url)})"
        else:
            expression = (
                "{ const form = document.createElement('form'); form.method = 'post';"
                f" form.action = {json.dumps(url)}; (document.body || document.documentElement).append(form);"
                " form.submit(); }"
            )
        result = await target.send(
            "Runtime.evaluate", {"expression": expression, "contextId": world["executionContextId"]}
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = (details.get("exception") or {}).get("description") or details.get("text", "")
            raise BrowserError(f"the popup did not navigate to {url}: {text}")

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
        self._relaunches.clear()
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

        target = CdpTarget(
            session_id=attached["sessionId"],
            target_id=target_id,
            kind="page",
            post=post,
            on_request_paused=self._on_request_paused,
            on_attached=self._on_frame_attached,
        )
        self._pages[target.session_id] = target
        self._page_targets.add(target_id)
        await target.send("Fetch.enable", _PAUSE_EVERY_REQUEST)
        await target.send("Target.setAutoAttach", _AUTO_ATTACH_FRAMES)
        _log.debug("page guarded by DevTools request interception", target=target_id)

    async def _adopt_frame(self, parent: CdpTarget, params: dict[str, Any]) -> None:
        """Guard an out-of-process iframe that ``parent`` auto-attached, then let it run."""
        info = params.get("targetInfo") or {}
        child = CdpTarget(
            session_id=params["sessionId"],
            target_id=str(info.get("targetId", "")),
            kind=str(info.get("type", "frame")),
            post=parent.send,
            on_request_paused=self._on_request_paused,
            on_attached=self._on_frame_attached,
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

    async def _decide(self, target: CdpTarget, params: dict[str, Any]) -> None:
        """Let a paused request go on, or fail it if the allowlist refuses its URL."""
        request_id = params["requestId"]
        url = str(params["request"]["url"])
        relaunch: Relaunch | None = None
        if not params.get("redirectedRequestId") and params.get("resourceType") == "Document":
            relaunch = self._relaunches.pop((target.target_id, _without_fragment(url)), None)
        try:
            if relaunch is not None and self._allows(url):
                await self._continue_relaunched(target, params, relaunch)
                return
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

    async def _continue_relaunched(
        self, target: CdpTarget, params: dict[str, Any], relaunch: Relaunch
    ) -> None:
        """Let a relaunched popup load go with the method, body and headers of its first request."""
        headers = {str(name): str(value) for name, value in (params["request"].get("headers") or {}).items()}
        for name, value in relaunch.headers.items():
            for same in [key for key in headers if key.lower() == name.lower()]:
                del headers[same]
            headers[name] = value
        command: dict[str, Any] = {
            "requestId": params["requestId"],
            "method": relaunch.method,
            "headers": [{"name": name, "value": value} for name, value in headers.items()],
        }
        if relaunch.body is not None:
            command["postData"] = base64.b64encode(relaunch.body).decode("ascii")
        self._note_passed(relaunch.method, str(params["request"]["url"]))
        await target.send("Fetch.continueRequest", command)

    def _note_passed(self, method: str, url: str) -> None:
        key = (method, _without_fragment(url))
        self._passed[key] = self._passed.pop(key, 0) + 1
        while len(self._passed) > _PASSED_MEMORY:
            # Requests Playwright never routes (redirect hops, favicons) leave tokens behind.
            self._passed.popitem(last=False)

    def _take_passed(self, method: str, url: str) -> bool:
        key = (method, _without_fragment(url))
        count = self._passed.pop(key, 0)
        if count > 1:
            self._passed[key] = count - 1
        return count > 0

    # -- events ------------------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_request_paused(self, target: CdpTarget, params: dict[str, Any]) -> None:
        self._spawn(self._decide(target, params))

    def _on_frame_attached(self, parent: CdpTarget, params: dict[str, Any]) -> None:
        self._spawn(self._adopt_frame(parent, params))

    def _on_page_message(self, params: dict[str, Any]) -> None:
        target = self._pages.get(params.get("sessionId", ""))
        if target is not None:
            target.dispatch(json.loads(params["message"]))

    def _on_page_detached(self, params: dict[str, Any]) -> None:
        target = self._pages.pop(params.get("sessionId", ""), None)
        if target is not None:
            target.close()
            self._page_targets.discard(target.target_id)
            self._claimed.discard(target.target_id)
            self.cancel_relaunch(target.target_id)

    def _on_new_page(self, page: Page) -> None:
        page.on("close", self._forget)
        self._spawn(self._sweep_quietly())

    def _forget(self, page: Page) -> None:
        self._guarded.discard(page)

    def _page_target(self, target_id: str) -> CdpTarget:
        for target in self._pages.values():
            if target.target_id == target_id and not target.closed:
                return target
        raise BrowserError(f"page target {target_id} is not guarded (it may have closed)")

    async def _log_navigation(self, reply: asyncio.Future[dict[str, Any]], url: str) -> None:
        try:
            result = await asyncio.wait_for(reply, _NAVIGATE_TIMEOUT_S)
        except (BrowserError, TimeoutError) as exc:
            _log.debug("relaunched navigation did not report back", url=url, error=str(exc))
            return
        if result.get("errorText"):
            _log.debug("relaunched navigation failed", url=url, error=result["errorText"])

    async def _sweep_quietly(self) -> None:
        try:
            await self._sweep(strict=False)
        except BrowserError as exc:
            _log.warning("could not guard a new page of the context", error=str(exc))


def _without_fragment(url: str) -> str:
    return url.split("#", 1)[0]
