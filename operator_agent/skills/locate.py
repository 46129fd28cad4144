"""Locator chains: find one element by the ways a person would describe it.

A skill names an element by what it is called, not by a selector that breaks with the next
release of the app. :func:`locate` tries an ordered chain of strategies (ARIA role and accessible
name, label, placeholder, test id, id, visible text, CSS), in the page and in each of its iframes,
through open shadow roots, and returns the first strategy's locator that matches exactly one
visible element. When a strategy matches several elements it is skipped as ambiguous. When
nothing matches before the timeout, :class:`~operator_agent.errors.ElementNotFoundError` lists
every strategy tried and what it found, so the failure explains itself.

Without ``exact``, each text strategy first tries the whole text (ignoring case) and then a
substring, so ``name="Reject"`` prefers the button "Reject" over "Confirm rejection".
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast, get_args, get_type_hints

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Locator, Page

from operator_agent.act.targets import count_or_zero, handle_of
from operator_agent.errors import ConfigurationError, ElementNotFoundError

__all__ = ["ARIA_ROLES", "LocateQuery", "Located", "locate"]

#: Every role Playwright's ``get_by_role`` accepts.
ARIA_ROLES: frozenset[str] = frozenset(get_args(get_type_hints(Frame.get_by_role)["role"]))

_Scope = Page | Frame | Locator
_Build = Callable[[Any], Locator]


@dataclass(frozen=True, slots=True)
class LocateQuery:
    """What to look for; every given criterion becomes one or more strategies of the chain.

    Attributes:
        role: An ARIA role (``button``, ``textbox``, ``link``...), matched with ``name`` if given.
        name: The accessible name. Without ``role`` it is tried as a button, link, label,
            placeholder, title and text, in that order.
        label: The text of the field's label (``<label>``, ``aria-label``, ``aria-labelledby``).
        placeholder: The field's placeholder text.
        test_id: The ``data-testid`` attribute.
        id: The element id.
        text: Visible text.
        css: A CSS selector (it pierces open shadow roots).
        exact: Match texts whole and case-sensitively only.
    """

    role: str | None = None
    name: str | None = None
    label: str | None = None
    placeholder: str | None = None
    test_id: str | None = None
    id: str | None = None
    text: str | None = None
    css: str | None = None
    exact: bool = False

    def __post_init__(self) -> None:
        if self.role is not None and self.role not in ARIA_ROLES:
            raise ConfigurationError(
                f"locate: unknown ARIA role {self.role!r}; use one such as button, link, textbox, checkbox, "
                "radio, combobox, option, row, cell, dialog, heading"
            )
        given = [
            self.role,
            self.name,
            self.label,
            self.placeholder,
            self.test_id,
            self.id,
            self.text,
            self.css,
        ]
        if all(value is None or (isinstance(value, str) and not value.strip()) for value in given):
            raise ConfigurationError(
                "locate needs at least one of role, name, label, placeholder, test_id, id, text or css"
            )

    def describe(self) -> str:
        """The query in a few words, such as ``button "Save draft"`` or ``label "Notes"``."""
        parts: list[str] = []
        if self.role is not None:
            parts.append(self.role + (f' "{self.name}"' if self.name else ""))
        elif self.name is not None:
            parts.append(f'"{self.name}"')
        for key in ("label", "placeholder", "test_id", "id", "text", "css"):
            value = getattr(self, key)
            if value is not None:
                parts.append(f'{key.replace("_", " ")} "{value}"')
        return " or ".join(parts)


@dataclass(frozen=True, slots=True)
class _Strategy:
    description: str
    build: _Build


@dataclass(frozen=True, slots=True)
class Located:
    """The element found.

    Attributes:
        locator: A locator matching exactly that element (re-resolved on each use, so it follows
            a re-rendered element with the same description).
        strategy: Which strategy found it, such as ``role=button name="Save" (whole text)``.
        frame: The frame that holds it.
    """

    locator: Locator
    strategy: str
    frame: Frame


def _whole(text: str) -> re.Pattern[str]:
    return re.compile(r"^\s*" + re.escape(text.strip()) + r"\s*$", re.IGNORECASE)


_Make = Callable[[Any, str | re.Pattern[str], bool], Locator]


def _text_variants(what: str, text: str, exact: bool, make: _Make) -> list[_Strategy]:
    if exact:
        return [_Strategy(f'{what} "{text}" (exact)', lambda scope: make(scope, text, True))]
    pattern = _whole(text)
    return [
        _Strategy(f'{what} "{text}" (whole text)', lambda scope: make(scope, pattern, False)),
        _Strategy(f'{what} "{text}" (contains)', lambda scope: make(scope, text, False)),
    ]


def _by_role(role: str) -> _Make:
    def make(scope: Any, name: str | re.Pattern[str], exact: bool) -> Locator:
        return cast(Locator, scope.get_by_role(cast(Any, role), name=name, exact=exact))

    return make


def _by_label(scope: Any, text: str | re.Pattern[str], exact: bool) -> Locator:
    return cast(Locator, scope.get_by_label(text, exact=exact))


def _by_placeholder(scope: Any, text: str | re.Pattern[str], exact: bool) -> Locator:
    return cast(Locator, scope.get_by_placeholder(text, exact=exact))


def _by_title(scope: Any, text: str | re.Pattern[str], exact: bool) -> Locator:
    return cast(Locator, scope.get_by_title(text, exact=exact))


def _by_text(scope: Any, text: str | re.Pattern[str], exact: bool) -> Locator:
    return cast(Locator, scope.get_by_text(text, exact=exact))


def _css_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def strategies(query: LocateQuery) -> list[_Strategy]:
    """The chain for a query, in the order it is tried."""
    chain: list[_Strategy] = []
    exact = query.exact
    if query.role is not None:
        if query.name:
            chain += _text_variants(f"role={query.role} name", query.name, exact, _by_role(query.role))
        else:
            role = query.role
            chain.append(_Strategy(f"role={role}", lambda scope: scope.get_by_role(cast(Any, role))))
    elif query.name:
        chain += _text_variants("button", query.name, exact, _by_role("button"))
        chain += _text_variants("link", query.name, exact, _by_role("link"))
        chain += _text_variants("label", query.name, exact, _by_label)
        chain += _text_variants("placeholder", query.name, exact, _by_placeholder)
        chain += _text_variants("title", query.name, exact, _by_title)
        chain += _text_variants("text", query.name, exact, _by_text)
    if query.label:
        chain += _text_variants("label", query.label, exact, _by_label)
    if query.placeholder:
        chain += _text_variants("placeholder", query.placeholder, exact, _by_placeholder)
    if query.test_id:
        test_id = query.test_id
        chain.append(_Strategy(f'test id "{test_id}"', lambda scope: scope.get_by_test_id(test_id)))
    if query.id:
        selector = f"[id={_css_string(query.id)}]"
        chain.append(_Strategy(f'id "{query.id}"', lambda scope: scope.locator(selector)))
    if query.text:
        chain += _text_variants("text", query.text, exact, _by_text)
    if query.css:
        css = query.css
        chain.append(_Strategy(f"css {css}", lambda scope: scope.locator(css)))
    return chain


def _scopes(page: Page, within: Locator | None) -> list[tuple[Frame, _Scope]]:
    if within is not None:
        return [(page.main_frame, within)]
    frames = [page.main_frame, *(f for f in page.frames if f is not page.main_frame and not f.is_detached())]
    return [(frame, frame) for frame in frames]


async def _frame_of(locator: Locator, fallback: Frame) -> Frame:
    try:
        handle = await handle_of(locator, timeout_ms=1000)
    except PlaywrightError:
        return fallback
    try:
        frame = await handle.owner_frame()
    finally:
        await handle.dispose()
    return frame or fallback


async def _try_once(
    page: Page, chain: list[_Strategy], within: Locator | None
) -> tuple[Located | None, list[tuple[_Strategy, int]]]:
    scopes = _scopes(page, within)
    candidates = [(strategy, frame, strategy.build(scope).filter(visible=True)) for strategy in chain
                  for frame, scope in scopes]  # fmt: skip
    # One round trip for the whole chain: the counts run concurrently, the chain order decides.
    counts = await asyncio.gather(*(count_or_zero(locator) for _, _, locator in candidates))
    seen: list[tuple[_Strategy, int]] = []
    per_strategy = len(scopes)
    for index, strategy in enumerate(chain):
        group = list(zip(candidates[index * per_strategy : (index + 1) * per_strategy],
                         counts[index * per_strategy : (index + 1) * per_strategy], strict=True))  # fmt: skip
        total = sum(count for _, count in group)
        seen.append((strategy, total))
        if total == 1:
            (_, frame, locator), _ = next(item for item in group if item[1] == 1)
            if within is not None:
                frame = await _frame_of(locator, frame)
            return Located(locator=locator, strategy=strategy.description, frame=frame), seen
    return None, seen


async def _explain(page: Page, seen: list[tuple[_Strategy, int]], within: Locator | None) -> list[str]:
    lines: list[str] = []
    for strategy, visible in seen:
        if visible > 1:
            lines.append(f"{strategy.description}: {visible} visible elements (ambiguous)")
            continue
        hidden = 0
        for _, scope in _scopes(page, within):
            hidden += await count_or_zero(strategy.build(scope))
        if hidden:
            lines.append(f"{strategy.description}: no visible element ({hidden} hidden)")
        else:
            lines.append(f"{strategy.description}: no element")
    return lines


async def locate(
    page: Page,
    query: LocateQuery,
    *,
    within: Locator | None = None,
    timeout_s: float = 5.0,
) -> Located:
    """Find exactly one visible element, waiting up to ``timeout_s`` for it to appear.

    Args:
        page: The page to search (its iframes are searched too, unless ``within`` is given).
        query: What to look for.
        within: Search only inside this element.
        timeout_s: How long to keep trying (pages that load, spinners, re-renders).

    Raises:
        ElementNotFoundError: If no strategy matched exactly one visible element in time; the
            message and ``tried`` list every strategy and what it found.
    """
    chain = strategies(query)
    deadline = time.monotonic() + max(timeout_s, 0.0)
    delay = 0.05
    while True:
        located, seen = await _try_once(page, chain, within)
        if located is not None:
            return located
        if time.monotonic() >= deadline or page.is_closed():
            break
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 0.25)
    tried = await _explain(page, seen, within)
    where = " inside the given element" if within is not None else ""
    url = "" if page.is_closed() else f" on {page.url}"
    raise ElementNotFoundError(
        f"no single visible element matches {query.describe()}{where}{url} within {timeout_s:g} s; tried: "
        + "; ".join(tried),
        tried=tried,
    )
