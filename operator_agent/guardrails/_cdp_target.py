"""One DevTools session with a target (a page or an iframe), reached through its parent session.

Python cannot use Chromium's "flat" child sessions of a browser-level session (Playwright's
driver drops the messages of sessions it did not open), so the domain allowlist's DevTools guard
(:mod:`operator_agent.guardrails.cdp_guard`) reaches targets through
``Target.sendMessageToTarget``: commands go out wrapped in the parent's messages, replies and
events come back wrapped in the parent's ``Target.receivedMessageFromTarget``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable, Coroutine
from typing import Any, Final

from playwright.async_api import Error as PlaywrightError

from operator_agent.errors import BrowserError

__all__ = ["CdpTarget", "TargetEvent"]

_SEND_TIMEOUT_S: Final = 10.0

TargetEvent = Callable[["CdpTarget", dict[str, Any]], None]
"""Called with the target and the parameters of one of its events."""


class CdpTarget:
    """A DevTools session with one target (a page or an iframe), reached through its parent.

    Commands go out wrapped in ``Target.sendMessageToTarget`` of the parent; replies and events
    come back wrapped in the parent's ``Target.receivedMessageFromTarget`` and are handed to
    :meth:`dispatch`. Child targets (auto-attached iframes) are registered in :attr:`children`
    by the owner, and their messages are handed on to them.

    Args:
        session_id: The DevTools session id of this target, in its parent.
        target_id: The target's id.
        kind: What the target is (``page``, ``iframe``), for messages.
        post: Sends a command of the parent (``Target.sendMessageToTarget``).
        on_request_paused: Called for each ``Fetch.requestPaused`` event of this target.
        on_attached: Called for each ``Target.attachedToTarget`` event (an auto-attached child).
    """

    def __init__(
        self,
        *,
        session_id: str,
        target_id: str,
        kind: str,
        post: Callable[[str, dict[str, Any]], Coroutine[Any, Any, Any]],
        on_request_paused: TargetEvent,
        on_attached: TargetEvent,
    ) -> None:
        self.session_id = session_id
        self.target_id = target_id
        self.kind = kind
        self._post = post
        self._on_request_paused = on_request_paused
        self._on_attached = on_attached
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.children: dict[str, CdpTarget] = {}
        self.closed = False

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a command and wait for its reply.

        Raises:
            BrowserError: The target is gone, refused the command, or did not answer in time.
        """
        reply = await self.post(method, params)
        try:
            return await asyncio.wait_for(reply, _SEND_TIMEOUT_S)
        except TimeoutError as exc:
            raise BrowserError(f"DevTools {method} on a {self.kind} target failed: {exc}") from exc

    async def post(self, method: str, params: dict[str, Any] | None = None) -> asyncio.Future[dict[str, Any]]:
        """Hand a command to the target; return the future of its reply without waiting for it."""
        if self.closed:
            raise BrowserError(f"the DevTools session with a {self.kind} target is closed ({method})")
        message_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        future.add_done_callback(lambda _: self._pending.pop(message_id, None))
        message = json.dumps({"id": message_id, "method": method, "params": params or {}})
        try:
            await self._post("Target.sendMessageToTarget", {"sessionId": self.session_id, "message": message})
        except PlaywrightError as exc:
            future.cancel()
            raise BrowserError(f"DevTools {method} on a {self.kind} target failed: {exc}") from exc
        return future

    def dispatch(self, message: dict[str, Any]) -> None:
        """Handle one message of this target: a reply, an event, or a message for a child."""
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
            self._on_request_paused(self, params)
        elif method == "Target.receivedMessageFromTarget":
            child = self.children.get(params.get("sessionId", ""))
            if child is not None:
                child.dispatch(json.loads(params["message"]))
        elif method == "Target.attachedToTarget":
            self._on_attached(self, params)
        elif method == "Target.detachedFromTarget":
            child = self.children.pop(params.get("sessionId", ""), None)
            if child is not None:
                child.close()

    def close(self) -> None:
        """Mark the session closed (with its children) and fail the commands awaiting a reply."""
        self.closed = True
        for child in self.children.values():
            child.close()
        self.children.clear()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError(f"the {self.kind} target went away"))
        self._pending.clear()
