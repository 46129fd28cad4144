"""Helpers the web skills share: letting a page settle, and closing what gets in the way.

These are plain functions (not skills) so other skills can use them as small steps; the skills
``wait_until_idle`` and ``dismiss_interruptions`` wrap them for scripts and the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, Request

from operator_agent.errors import ActionError
from operator_agent.skills import SkillContext

__all__ = ["Interruption", "dismiss", "script", "settle"]

_JS = Path(__file__).with_name("_js")
INTERRUPT_ATTR = "data-oa-interrupt"


@cache
def script(name: str) -> str:
    """The source of one of the pack's JavaScript helpers (``_js/<name>.js``)."""
    return (_JS / f"{name}.js").read_text(encoding="utf-8")


@dataclass(frozen=True)
class IdleState:
    """What :func:`settle` saw.

    Attributes:
        idle: Whether the page went quiet in time.
        waited_s: How long it waited.
        busy: What still looked busy when it gave up (loading indicators, requests).
    """

    idle: bool
    waited_s: float
    busy: list[str]


class _Requests:
    """Requests of the page seen since the wait began (earlier ones are the executor's concern)."""

    def __init__(self, page: Page) -> None:
        self.pending: set[Request] = set()
        self.last_change = 0.0
        self._page = page
        page.on("request", self._start)
        page.on("requestfinished", self._end)
        page.on("requestfailed", self._end)

    def _start(self, request: Request) -> None:
        if request.resource_type in {"document", "xhr", "fetch", "script", "stylesheet"}:
            self.pending.add(request)
            self.last_change = time.monotonic()

    def _end(self, request: Request) -> None:
        if request in self.pending:
            self.pending.discard(request)
            self.last_change = time.monotonic()

    def close(self) -> None:
        self._page.remove_listener("request", self._start)
        self._page.remove_listener("requestfinished", self._end)
        self._page.remove_listener("requestfailed", self._end)


async def settle(ctx: SkillContext, *, timeout_s: float = 10.0, quiet_ms: int = 200) -> IdleState:
    """Wait until the page has loaded, shows no loading indicator, and its DOM and network are quiet.

    Never raises for a page that stays busy: the result says so.
    """
    page = ctx.page
    started = time.monotonic()
    deadline = started + timeout_s
    requests = _Requests(page)
    busy: list[str] = []
    try:
        while True:
            now = time.monotonic()
            try:
                state: dict[str, Any] = await page.evaluate(script("busy"))
            except PlaywrightError:
                # Between two documents: wait for the next one.
                state = {"ready": "loading", "quietMs": 0, "busy": []}
                with contextlib.suppress(PlaywrightError):
                    await page.wait_for_load_state(
                        "domcontentloaded", timeout=max(deadline - now, 0.1) * 1000
                    )
            busy = list(state["busy"])
            if state["ready"] == "loading":
                busy.append("the document is loading")
            if requests.pending:
                busy.append(f"{len(requests.pending)} request(s) in flight")
            network_quiet_ms = (now - requests.last_change) * 1000
            still_ms = min(float(state["quietMs"]), network_quiet_ms)
            if not busy and still_ms >= quiet_ms:
                return IdleState(idle=True, waited_s=round(now - started, 3), busy=[])
            if now >= deadline:
                return IdleState(
                    idle=False, waited_s=round(now - started, 3), busy=busy or ["the DOM kept changing"]
                )
            # Only the quiet window is missing: look again when it would be complete.
            pause_s = 0.05 if busy else max(quiet_ms - still_ms, 5) / 1000
            await asyncio.sleep(min(pause_s, max(deadline - time.monotonic(), 0)))
    finally:
        requests.close()


InterruptionKind = Literal["cookie_banner", "session_warning", "announcement"]

_SESSION = r"session|signed out|sign you out|log you out|inactiv|expir|time ?out|still there"
_COOKIES = r"cookie|consent|gdpr|tracking|your privacy|we value your privacy"
_NEWS = (
    r"what'?s new|new feature|announcement|release notes|product tour|welcome to|newsletter|subscribe|"
    r"tip of the day|did you know|introducing"
)
_KINDS: tuple[tuple[InterruptionKind, re.Pattern[str]], ...] = (
    ("session_warning", re.compile(_SESSION, re.I)),
    ("cookie_banner", re.compile(_COOKIES, re.I)),
    ("announcement", re.compile(_NEWS, re.I)),
)
_CHOICES: dict[InterruptionKind, tuple[re.Pattern[str], ...]] = {
    "session_warning": (
        re.compile(
            r"^(stay|keep me) (signed|logged) in|^continue (my )?session|^keep (working|session)|"
            r"^i'?m still here|^extend|^stay$|^continue$",
            re.I,
        ),
    ),
    "cookie_banner": (
        re.compile(
            r"^(reject|decline|refuse)( all)?( cookies)?$|^(only )?(strictly )?necessary( only)?|"
            r"^essential( only)?|^use necessary",
            re.I,
        ),
        re.compile(r"^(accept|allow|agree)( all)?( cookies)?$|^i agree$|^ok(ay)?$|^got it$", re.I),
    ),
    "announcement": (
        re.compile(
            r"^(close|dismiss|got it|ok(ay)?|no,? thanks|not now|maybe later|skip|later|continue)$|^[×✕x]$",
            re.I,
        ),
    ),
}
# Never clicked while dismissing, whatever the dialog says.
_DANGER = re.compile(
    r"delete|remove|submit|send|pay|purchase|buy|order|confirm|approve|sign out|log ?out|unsubscribe|"
    r"subscribe|upgrade|install|yes|transfer|publish",
    re.I,
)


@dataclass(frozen=True)
class Interruption:
    """Something that was in the way, and how it was closed."""

    kind: InterruptionKind
    title: str
    closed_with: str

    def describe(self) -> str:
        """A sentence such as ``closed cookie banner "We value your privacy" with "Reject"``."""
        what = self.kind.replace("_", " ")
        title = f' "{self.title}"' if self.title else ""
        return f"closed {what}{title} with {self.closed_with}"


def _classify(title: str, text: str) -> InterruptionKind | None:
    for kind, pattern in _KINDS:
        if pattern.search(title):
            return kind
    for kind, pattern in _KINDS:
        if pattern.search(text):
            return kind
    return None


def _choose(kind: InterruptionKind, buttons: list[dict[str, str]]) -> dict[str, str] | None:
    for pattern in _CHOICES[kind]:
        for button in buttons:
            label = button["label"]
            if not pattern.search(label):
                continue
            allowed_cookie_choice = kind == "cookie_banner" and re.match(
                r"^(reject|decline|refuse)", label, re.I
            )
            if _DANGER.search(label) and not allowed_cookie_choice:
                continue
            return button
    return None


async def _gone(ctx: SkillContext, stamp: str, timeout_s: float) -> bool:
    locator = ctx.page.locator(f'[{INTERRUPT_ATTR}="{stamp}"]')
    try:
        await locator.wait_for(state="hidden", timeout=timeout_s * 1000)
    except PlaywrightError:
        return False
    return True


async def dismiss(ctx: SkillContext, *, max_rounds: int = 5) -> list[Interruption]:
    """Close cookie banners, session-expiry warnings and announcements, never anything irreversible.

    Dialogs that are not recognised as interruptions (a confirmation the task opened, say) are
    left alone. Each round closes what is visible; a new one that appears is closed in the next.
    """
    closed: list[Interruption] = []
    for _ in range(max_rounds):
        try:
            found: list[dict[str, Any]] = await ctx.page.evaluate(script("interruptions"), INTERRUPT_ATTR)
        except PlaywrightError:
            await settle(ctx, timeout_s=3)
            continue
        acted = False
        for item in found:
            kind = _classify(item["title"], item["text"])
            if kind is None:
                continue
            button = _choose(kind, item["buttons"])
            try:
                if button is not None:
                    await ctx.click(ctx.page.locator(f'[{INTERRUPT_ATTR}="{button["stamp"]}"]'))
                    how = f'"{button["label"]}"'
                elif kind == "announcement":
                    await ctx.press("Escape")
                    how = "the Escape key"
                else:
                    ctx.log.warning(
                        "interruption without a safe button left open", kind=kind, title=item["title"]
                    )
                    continue
            except ActionError as exc:
                ctx.log.info("interruption could not be closed", kind=kind, error=str(exc))
                continue
            if await _gone(ctx, item["stamp"], 3.0):
                closed.append(Interruption(kind=kind, title=item["title"][:80], closed_with=how))
                acted = True
        if not acted:
            break
    return closed
