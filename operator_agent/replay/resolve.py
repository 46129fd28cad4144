"""Finding a step's element through its locator chain, with a grace period before any fallback.

:class:`Finder` tries the chain's strategies in order (whole texts first, then the text strategies
again as substrings), in the page and its iframes, and takes the first one that finds exactly one
visible element. On an unchanged page the first strategy answers in one round trip. A later
strategy is only taken once the first has had ``heal_grace_s`` to appear, so a page still rendering
is not mistaken for a changed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Locator, Page

from operator_agent.act.targets import Seen, count_or_zero, evaluate_if_one, evaluate_on, seen_from
from operator_agent.observe.refs import REF_ATTRIBUTE, SECRET_ATTRIBUTE, ElementRef
from operator_agent.replay.locators import build_locator, describe_strategy
from operator_agent.skills._elements import DESCRIBE_JS, DESCRIBE_SEEING_JS, described_element

__all__ = ["Chain", "Finder", "Found", "Variant", "variants"]

Chain = Sequence[Mapping[str, str]]
_TEXT_KEYS = ("role", "label", "placeholder", "text")


@dataclass
class Found:
    """An element found through a chain.

    Attributes:
        element: The element, stamped with a ref.
        index: The chain position of the strategy that found it (-1 for a model's choice).
        entry: That strategy.
        loose: Whether its text matched as a substring only.
    """

    element: ElementRef
    index: int
    entry: dict[str, str]
    loose: bool
    seen: Seen | None = None


@dataclass(frozen=True)
class Variant:
    """One way to try a strategy: its text matched whole, or as a substring."""

    index: int
    entry: Mapping[str, str]
    loose: bool

    def describe(self) -> str:
        """The strategy in a few words, marked ``(contains)`` for a substring match."""
        return describe_strategy(self.entry) + (" (contains)" if self.loose else "")


def variants(chain: Chain) -> list[Variant]:
    """Every strategy with its text matched whole, then the text strategies again as substrings."""
    whole = [Variant(i, entry, False) for i, entry in enumerate(chain)]
    loose = [
        Variant(i, entry, True)
        for i, entry in enumerate(chain)
        if any(key in entry for key in _TEXT_KEYS) and ("role" not in entry or "name" in entry)
    ]
    return whole + loose


def frames(page: Page) -> list[Frame]:
    """The page's main frame, then its attached iframes."""
    return [page.main_frame, *(f for f in page.frames if f is not page.main_frame and not f.is_detached())]


class Finder:
    """Finds elements of one page through locator chains.

    Args:
        page: Returns the tab to search (the current one, which may change between steps).
        locate_timeout_s: How long to wait for an element.
        heal_grace_s: How long the first strategy may take to appear before a fallback is used.
    """

    def __init__(self, *, page: Callable[[], Page], locate_timeout_s: float, heal_grace_s: float) -> None:
        self._page = page
        self.locate_timeout_s = locate_timeout_s
        self.heal_grace_s = heal_grace_s
        self._prefix = "r" + uuid.uuid4().hex[:6] + "-"
        self._refs = 0

    async def unique(self, variant: Variant, *, attached_ok: bool = False) -> tuple[Frame, Locator] | None:
        """The frame and locator of the one element a strategy finds, or ``None`` (none, or several).

        Only visible elements count; with ``attached_ok`` (file inputs, styled checkboxes) one hidden
        element counts too when nothing visible matches.
        """
        scopes = frames(self._page())
        built = [(f, build_locator(f, variant.entry, loose=variant.loose)) for f in scopes]
        counts = await asyncio.gather(*(count_or_zero(loc.filter(visible=True)) for _, loc in built))
        if sum(counts) == 1:
            frame, locator = next(item for item, n in zip(built, counts, strict=True) if n == 1)
            return frame, locator.filter(visible=True)
        if attached_ok and sum(counts) == 0:
            counts = await asyncio.gather(*(count_or_zero(loc) for _, loc in built))
            if sum(counts) == 1:
                return next(item for item, n in zip(built, counts, strict=True) if n == 1)
        return None

    async def resolve(
        self, chain: Chain, *, attached_ok: bool, avoid: Sequence[ElementRef], excluded: set[int],
        tried: list[str],
    ) -> Found | None:  # fmt: skip
        """The element of a chain, waiting up to the locate timeout; ``None`` if no strategy finds one.

        Args:
            chain: The step's locator chain.
            attached_ok: Accept one hidden element when no visible one matches.
            avoid: Elements already tried that failed; a strategy finding one of them is passed over.
            excluded: Chain positions not to try.
            tried: Receives one line per strategy and what it found, when the first one did not work.
        """
        started = time.monotonic()
        candidates = [v for v in variants(chain) if v.index not in excluded]
        if not candidates:
            return None
        deadline = started + self.locate_timeout_s
        grace = started + self.heal_grace_s
        primary, rest = candidates[0], candidates[1:]
        delay = 0.05
        while True:
            if not avoid:
                found = await self._found_at_once(primary)
                if found is not None:
                    return found
            # The first strategy alone first: on an unchanged page this is the only round trip.
            hit = await self.unique(primary, attached_ok=attached_ok)
            if hit is not None and not await self._avoided(hit[1], avoid):
                found = await self._found(primary, *hit)
                if found is not None:
                    return found
            hits = await asyncio.gather(*(self.unique(v, attached_ok=attached_ok) for v in rest))
            now = time.monotonic()
            if now >= grace:
                for variant, other in zip(rest, hits, strict=True):
                    if other is None or await self._avoided(other[1], avoid):
                        continue
                    found = await self._found(variant, *other)
                    if found is not None:
                        tried.extend(await self.explain(candidates, attached_ok=attached_ok))
                        return found
            if now >= deadline or self._page().is_closed():
                tried.extend(await self.explain(candidates, attached_ok=attached_ok))
                return None
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    async def _avoided(self, locator: Locator, avoid: Sequence[ElementRef]) -> bool:
        for bad in avoid:
            with contextlib.suppress(PlaywrightError):
                if await locator.and_(bad.frame.locator(bad.selector)).count() > 0:
                    return True
        return False

    async def _found_at_once(self, variant: Variant) -> Found | None:
        """On a page with one frame: count, stamp and describe in a single call when one visible
        element matches; ``None`` (and the slower path decides) otherwise."""
        page = self._page()
        if len(page.frames) != 1:
            return None
        frame = page.main_frame
        self._refs += 1
        ref = f"{self._prefix}{self._refs}"
        locator = build_locator(frame, variant.entry, loose=variant.loose).filter(visible=True)
        try:
            count, both = await evaluate_if_one(
                locator, DESCRIBE_SEEING_JS, [[REF_ATTRIBUTE, SECRET_ATTRIBUTE, ref, True], True]
            )
        except PlaywrightError:
            return None
        if count != 1:
            return None
        element = described_element(frame, both["value"])
        seen = seen_from(both["seen"])
        return Found(element=element, index=variant.index, entry=dict(variant.entry), loose=variant.loose,
                     seen=seen)  # fmt: skip

    async def _found(self, variant: Variant, frame: Frame, locator: Locator) -> Found | None:
        # Stamp and describe the element in one round trip; the stamp is unique to this finder, so a
        # stamp left by an earlier replay on another element never makes the selector ambiguous.
        self._refs += 1
        ref = f"{self._prefix}{self._refs}"
        try:
            info: dict[str, Any] = await evaluate_on(
                locator, DESCRIBE_JS, [REF_ATTRIBUTE, SECRET_ATTRIBUTE, ref, True], timeout_ms=2000
            )
        except PlaywrightError:
            return None  # it left the page between the count and now
        element = described_element(frame, info)
        return Found(element=element, index=variant.index, entry=dict(variant.entry), loose=variant.loose)

    async def explain(self, candidates: Sequence[Variant], *, attached_ok: bool) -> list[str]:
        """One line per strategy: what it finds on the page now."""
        lines = []
        for variant in candidates:
            visible = attached = 0
            for frame in frames(self._page()):
                locator = build_locator(frame, variant.entry, loose=variant.loose)
                visible += await count_or_zero(locator.filter(visible=True))
                attached += await count_or_zero(locator)
            if visible == 1 or (attached_ok and attached == 1 and visible == 0):
                found = "1 element"
            elif visible > 1:
                found = f"{visible} visible elements (ambiguous)"
            elif attached:
                found = f"no visible element ({attached} hidden)"
            else:
                found = "no element"
            lines.append(f"{variant.describe()}: {found}")
        return lines
