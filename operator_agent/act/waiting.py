"""The ``wait_for`` action: until a text or element shows or goes away, or the network is quiet."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page, Request, Response
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from operator_agent.act.outcome import StepResult
from operator_agent.act.targets import resolve_target
from operator_agent.actions import WaitFor
from operator_agent.errors import InvalidActionError, StaleRefError
from operator_agent.observe.refs import RefMap

__all__ = ["NetworkTracker", "wait_for"]

#: How long the network must stay quiet to count as idle, like Playwright's ``networkidle``.
QUIET_S = 0.5


class NetworkTracker:
    """Counts a tab's requests in flight, from the moment it is attached.

    A request counts as settled once its response arrived: a page that never reads a response
    body (``fetch(url).then(r => r.ok)``) would otherwise keep the network busy forever.
    """

    def __init__(self, page: Page) -> None:
        self._pending: set[Request] = set()
        self._last_change = time.monotonic()
        page.on("request", self._started)
        page.on("response", self._answered)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._ended)

    def _started(self, request: Request) -> None:
        self._pending.add(request)
        self._last_change = time.monotonic()

    def _answered(self, response: Response) -> None:
        self._ended(response.request)

    def _ended(self, request: Request) -> None:
        self._pending.discard(request)
        self._last_change = time.monotonic()

    @property
    def pending(self) -> list[str]:
        """The URLs of the requests still in flight."""
        return [request.url for request in self._pending]

    async def wait_idle(self, *, timeout_s: float, quiet_s: float = QUIET_S) -> float:
        """Wait until no request has been in flight for ``quiet_s``; returns the seconds waited.

        Raises:
            TimeoutError: If the network did not go quiet within ``timeout_s``.
        """
        start = time.monotonic()
        while True:
            now = time.monotonic()
            if not self._pending and now - self._last_change >= quiet_s:
                return now - start
            if now - start >= timeout_s:
                raise TimeoutError
            await asyncio.sleep(0.05)


async def _until_hidden(locator: Locator, *, deadline: float) -> bool:
    while True:
        try:
            if await locator.filter(visible=True).count() == 0:
                return True
        except PlaywrightError:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)


async def wait_for(action: WaitFor, *, page: Page, refs: RefMap, tracker: NetworkTracker) -> StepResult:
    """Carry out a ``wait_for`` action within its own timeout.

    Raises:
        UnknownRefError: If ``ref`` is not in the observation.
        StaleRefError: If ``ref`` has left the page and the wait is for it to show.
    """
    start = time.monotonic()
    timeout_s = action.timeout_s
    if action.state == "network_idle":
        try:
            waited = await tracker.wait_idle(timeout_s=timeout_s)
        except TimeoutError:
            pending = tracker.pending
            listed = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
            return StepResult(
                ok=False,
                error="ActionFailedError",
                message=(
                    f"the network did not go idle within {timeout_s:g} s; still loading: {listed or 'none'}"
                ),
            )
        return StepResult(message=f"the network is idle (after {waited:.1f} s)")

    scope: Page | Locator = page
    subject = ""
    if action.ref is not None:
        try:
            target = await resolve_target(refs, action.ref, wait_s=0.2)
        except StaleRefError:
            if action.state == "hidden" and action.text is None:
                return StepResult(message=f"ref {action.ref} is gone from the page")
            raise
        scope = target.locator
        subject = target.describe()
    if action.text is not None:
        locator = scope.get_by_text(action.text)
        subject = f'"{action.text}"' + (f" in {subject}" if subject else "")
    elif isinstance(scope, Locator):
        locator = scope
    else:
        raise InvalidActionError(f"wait_for with state '{action.state}' needs a text or a ref to wait for")
    deadline = start + timeout_s
    if action.state == "visible":
        try:
            await locator.filter(visible=True).first.wait_for(state="attached", timeout=timeout_s * 1000)
            ok = True
        except PlaywrightTimeoutError:
            ok = False
    else:
        ok = await _until_hidden(locator, deadline=deadline)
    waited = time.monotonic() - start
    shown = "visible" if action.state == "visible" else "hidden"
    if not ok:
        return StepResult(
            ok=False,
            error="ActionFailedError",
            message=f"waited {timeout_s:g} s, but {subject} did not become {shown}",
        )
    return StepResult(message=f"{subject} is {shown} (after {waited:.1f} s)")
