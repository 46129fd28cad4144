"""Finding the element a ref names, even after the page re-rendered it, and reading what it is.

A ref names an element of the latest observation. If that element has left the page (a list
re-rendered, a framework replaced the node), the executor looks for its successor: exactly one
element in the same frame with the same role and accessible name. It acts on that one and says
so; with none or several candidates the ref is stale and the model must observe again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import time
from dataclasses import dataclass
from typing import Any, cast, get_args, get_type_hints

from playwright.async_api import ElementHandle, Frame, Locator, Page
from playwright.async_api import Error as PlaywrightError

from operator_agent.act.readback import REMEMBER_JS
from operator_agent.act.watch import STATE_JS, PageState, state_from
from operator_agent.errors import StaleRefError
from operator_agent.observe.refs import REF_ATTRIBUTE, ElementRef, RefMap

__all__ = [
    "ElementFacts",
    "Seen",
    "Target",
    "count_or_zero",
    "element_facts",
    "evaluate_element",
    "evaluate_if_one",
    "evaluate_on",
    "find_now",
    "find_now_with_state",
    "handle_of",
    "in_main_frame",
    "resolve_target",
    "seeing",
    "seen_from",
]

_ARIA_ROLES: frozenset[str] = frozenset(get_args(get_type_hints(Frame.get_by_role)["role"]))


@dataclass(frozen=True, slots=True)
class Target:
    """An element ready to act on.

    Attributes:
        element: The ref as the observation listed it.
        locator: A locator that finds exactly the element.
        note: Empty, or a sentence telling the model that the ref's element was replaced and which
            element took its place.
        facts: What the element was when it was found (read in the same call), if known.
    """

    element: ElementRef
    locator: Locator
    note: str = ""
    facts: ElementFacts | None = None

    def describe(self) -> str:
        """The element as the model knows it, such as ``button "Save" [e3]``."""
        return self.element.describe()


def _successor(element: ElementRef) -> Locator | None:
    """A locator for elements with the same role and name, or None if there is nothing to match on."""
    if not element.name:
        return None
    if element.role in _ARIA_ROLES and element.role not in ("generic", "none", "presentation"):
        role = cast(Any, element.role)
        return element.frame.get_by_role(role, name=element.name, exact=True)
    # Elements without a usable role (clickable divs...) are matched on tag and whole text.
    text = re.compile(r"^\s*" + re.escape(element.name) + r"\s*$")
    return element.frame.locator(element.tag).filter(has_text=text)


async def count_or_zero(locator: Locator) -> int:
    """How many elements ``locator`` matches now; 0 when the page cannot be read (between documents)."""
    try:
        return await locator.count()
    except PlaywrightError:
        return 0


async def _count_and_facts(locator: Locator) -> tuple[int, ElementFacts | None]:
    """How many elements the locator finds and, when it is one, its facts: one round trip."""
    try:
        count, facts = await evaluate_if_one(locator, _FACTS_JS, FILLABLE_CSS)
    except PlaywrightError:
        return 0, None
    return count, ElementFacts(**facts) if count == 1 else None


async def find_now(refs: RefMap, ref: str) -> Target | None:
    """The element of ``ref`` if it is on the page, unchanged, right now; ``None`` otherwise.

    Reads only (nothing is stamped or waited for), so it can run beside other reads; anything
    short of exactly one element carrying the ref is left to :func:`resolve_target`.
    """
    element = refs.get(ref)
    if element is None or element.frame.is_detached():
        return None
    own = element.locator()
    found, facts = await _count_and_facts(own)
    return Target(element=element, locator=own, facts=facts) if found == 1 else None


def in_main_frame(refs: RefMap, ref: str, page: Page) -> bool:
    """Whether the element of ``ref`` is in ``page``'s main frame (so it shares its window)."""
    element = refs.get(ref)
    return element is not None and element.frame == page.main_frame


async def find_now_with_state(refs: RefMap, ref: str) -> tuple[Target | None, PageState | None]:
    """:func:`find_now` and the page's state (:func:`~operator_agent.act.watch.page_state`) in one call.

    Only for an element of the main frame (see :func:`in_main_frame`): the state is read in the
    element's window. The state is ``None`` when the page could not be read (between documents).
    """
    element = refs.get(ref)
    if element is None or element.frame.is_detached():
        return None, None
    try:
        raw = await _if_one_on(element, _IF_ONE_WITH_STATE_JS, FILLABLE_CSS)
    except PlaywrightError:
        return None, None
    state = state_from(raw["state"])
    if int(raw["count"]) != 1:
        return None, state
    return Target(element=element, locator=element.locator(), facts=ElementFacts(**raw["value"])), state


async def resolve_target(refs: RefMap, ref: str, *, wait_s: float = 1.0) -> Target:
    """Find the element of ``ref`` on the page now.

    Args:
        refs: The refs of the latest observation.
        ref: The ref the action names.
        wait_s: How long to wait for a re-rendered element to settle before calling the ref stale.

    Raises:
        UnknownRefError: If the observation has no such ref.
        StaleRefError: If the element has left the page and no single element took its place.
    """
    element = refs.resolve(ref)
    deadline = time.monotonic() + wait_s
    own = element.locator()
    successor = _successor(element)
    candidates = 0
    while True:
        if element.frame.is_detached():
            raise StaleRefError(
                f"{element.describe()} was inside a frame that has left the page; observe the page again"
            )
        found, facts = await _count_and_facts(own)
        if found == 1:
            return Target(element=element, locator=own, facts=facts)
        if found > 1 and successor is not None:
            # The page cloned the element, ref attribute included: keep the clone that matches.
            narrowed = own.and_(successor)
            if await count_or_zero(narrowed) == 1:
                return Target(element=element, locator=narrowed)
        if found == 0 and successor is not None:
            candidates = await count_or_zero(successor)
            if candidates == 1:
                return await _adopt(element, successor)
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.1)
    if found > 1:
        raise StaleRefError(
            f"{element.describe()} is ambiguous now: {found} elements carry that ref; observe the page again"
        )
    if successor is None:
        raise StaleRefError(
            f"{element.describe()} is no longer on the page (it was re-rendered or removed) and has no "
            "name to find it again by; observe the page again"
        )
    found_text = "no element" if candidates == 0 else f"{candidates} elements"
    raise StaleRefError(
        f"{element.describe()} is no longer on the page (it was re-rendered or removed), and "
        f"{found_text} with that role and name took its place; observe the page again"
    )


async def _adopt(element: ElementRef, successor: Locator) -> Target:
    # Give the successor the ref, so later actions of the same batch find it directly.
    try:
        await evaluate_on(
            successor,
            "(el, [attr, ref]) => el.setAttribute(attr, ref)",
            [REF_ATTRIBUTE, element.ref],
            timeout_ms=1000,
        )
        locator = element.locator()
    except PlaywrightError:
        locator = successor
    note = (
        f"{element.ref} had been re-rendered; acted on the {element.role} "
        f'"{element.name}" that took its place'
    )
    return Target(element=element, locator=locator, note=note)


@dataclass(frozen=True, slots=True)
class ElementFacts:
    """What an element is, read from the live page (labels are followed to their control).

    Attributes:
        tag: The lower-case tag name.
        input_type: The ``type`` of an input, else None.
        role: The explicit ``role`` attribute, else None.
        editable: Whether ``fill`` can type into it (text-like input, textarea, contenteditable).
        read_only: Whether it is read-only.
        disabled: Whether it is disabled.
        multiple: Whether a select or file input takes several values.
        checkable: Whether it is a checkbox, radio button or switch.
        combobox: Whether typing into it offers suggestions (role combobox, datalist, autocomplete).
        placeholder: Its placeholder, or "".
        fillable_descendants: How many fillable elements it holds (for a wrapper around an input).
        scrollable: Whether it scrolls its own content.
        checked: For a checkable element, whether it is checked (the ``checked`` property, else
            ``aria-checked``); None otherwise.
        memo: The token under which its window keeps the element for a read-back after the
            action (see :mod:`operator_agent.act.readback`), if it could.
    """

    tag: str
    input_type: str | None
    role: str | None
    editable: bool
    read_only: bool
    disabled: bool
    multiple: bool
    checkable: bool
    combobox: bool
    placeholder: str
    fillable_descendants: int
    scrollable: bool
    checked: bool | None = None
    memo: str | None = None

    def kind(self) -> str:
        """A short name of what the element is, such as ``checkbox`` or ``<select>``."""
        if self.role:
            return self.role
        if self.tag == "input":
            return f'<input type="{self.input_type}">'
        return f"<{self.tag}>"


_FACTS_JS = """
(el, fillable) => {
  const t = (el instanceof HTMLLabelElement && el.control) ? el.control : el;
  const tag = t.tagName.toLowerCase();
  const type = tag === 'input' ? (t.getAttribute('type') || 'text').toLowerCase() : null;
  const role = ((t.getAttribute('role') || '').trim().split(/\\s+/)[0]) || null;
  const notText = ['button', 'submit', 'reset', 'checkbox', 'radio', 'file', 'image', 'hidden'];
  const isField = (n) => n.isContentEditable || n.tagName === 'TEXTAREA' ||
    (n.tagName === 'INPUT' && !notText.includes((n.getAttribute('type') || 'text').toLowerCase()));
  const style = getComputedStyle(t);
  const checkable = type === 'checkbox' || type === 'radio' ||
    ['checkbox', 'radio', 'switch', 'menuitemcheckbox', 'menuitemradio'].includes(role);
  const overflows = (v) => v === 'auto' || v === 'scroll' || v === 'overlay';
  return {
    tag, input_type: type, role,
    editable: isField(t),
    read_only: !!t.readOnly || t.getAttribute('aria-readonly') === 'true',
    disabled: !!t.disabled || t.getAttribute('aria-disabled') === 'true' || !!t.closest('fieldset:disabled'),
    multiple: !!t.multiple,
    checkable,
    checked: !checkable ? null
      : ((type === 'checkbox' || type === 'radio') ? t.checked : t.getAttribute('aria-checked') === 'true'),
    combobox: role === 'combobox' || (tag === 'input' && t.hasAttribute('list')) ||
      t.hasAttribute('aria-autocomplete') || t.getAttribute('aria-haspopup') === 'listbox',
    placeholder: t.getAttribute('placeholder') || t.getAttribute('aria-placeholder') || '',
    fillable_descendants: isField(t) ? 0 : t.querySelectorAll(fillable).length,
    scrollable: (overflows(style.overflowY) && t.scrollHeight > t.clientHeight) ||
      (overflows(style.overflowX) && t.scrollWidth > t.clientWidth),
    memo: REMEMBER,
  };
}
""".replace("REMEMBER", REMEMBER_JS)

#: The CSS that finds a fillable element inside a wrapper (see ``ElementFacts.fillable_descendants``).
FILLABLE_CSS = (
    "input:not([type=hidden]):not([type=button]):not([type=submit]):not([type=reset]):not([type=checkbox])"
    ":not([type=radio]):not([type=file]):not([type=image]), textarea, [contenteditable=''], "
    "[contenteditable=true]"
)


@functools.cache
def _if_one(script: str, *, with_state: bool = False) -> str:
    """``(elements, arg) => {count, value?, state?}``: runs ``script`` on the element if there is one."""
    state = f", state: ({STATE_JS.strip()})()" if with_state else ""
    return (
        "async (elements, arg) => elements.length === 1"
        f" ? {{ count: 1, value: await ({script.strip()})(elements[0], arg){state} }}"
        f" : {{ count: elements.length{state} }}"
    )


async def evaluate_if_one(locator: Locator, script: str, arg: Any = None) -> tuple[int, Any]:
    """Count what ``locator`` matches and, when it is exactly one element, run ``script`` on it.

    One call, without Playwright's wait for the element (``Locator.evaluate`` polls for it first,
    about an animation frame per call even when it is there).

    Args:
        locator: What to look for.
        script: ``(element, arg) => ...``; may be async.
        arg: Passed to the script.

    Returns:
        The number of matching elements, and the script's value (``None`` unless one matched).
    """
    result: dict[str, Any] = await locator.evaluate_all(_if_one(script), arg)
    return int(result["count"]), result.get("value")


async def evaluate_on(locator: Locator, script: str, arg: Any = None, *, timeout_ms: float) -> Any:
    """Run ``script`` (``(element, arg) => ...``, may be async) on the one element ``locator`` matches.

    The executor has just found the element, so this evaluates at once when exactly one element
    matches (:func:`evaluate_if_one`), and falls back to ``Locator.evaluate`` (its wait, its
    strictness error) otherwise.
    """
    count, value = await evaluate_if_one(locator, script, arg)
    if count == 1:
        return value
    return await locator.evaluate(script, arg, timeout=timeout_ms)


_IF_ONE_WITH_STATE_JS = _if_one(_FACTS_JS, with_state=True)

# An attribute selector such as the refs' ``[data-oa-ref="e3"]``, which the page can query itself.
_PLAIN_ATTRIBUTE = re.compile(r'\[[\w-]+="[^"\\]*"\]')


@functools.cache
def _deep(if_one: str) -> str:
    """``if_one`` (``(elements, arg) => ...``) on what a CSS selector matches in the document and
    every open shadow root inside it (as Playwright's CSS engine does): ``([selector, arg]) => ...``."""
    return f"""
([selector, arg]) => {{
  const elements = [];
  const visit = (root) => {{
    elements.push(...root.querySelectorAll(selector));
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {{
      if (node.shadowRoot) visit(node.shadowRoot);
    }}
  }};
  visit(document);
  return ({if_one})(elements, arg);
}}
"""


async def _if_one_on(element: ElementRef, if_one: str, arg: Any) -> dict[str, Any]:
    """Run an :func:`_if_one` script on what the ref's selector matches in its frame.

    A stamp (the usual ref, an attribute selector) is looked up by the page's own query, in the
    same evaluation, which is quicker than Playwright's selector engine; any other selector goes
    through the engine.
    """
    if _PLAIN_ATTRIBUTE.fullmatch(element.selector):
        raw: dict[str, Any] = await element.frame.evaluate(_deep(if_one), [element.selector, arg])
    else:
        raw = await element.locator().evaluate_all(if_one, arg)
    return raw


async def evaluate_element(element: ElementRef, script: str, arg: Any = None, *, timeout_ms: float) -> Any:
    """:func:`evaluate_on` for an element ref: run ``script`` (``(element, arg) => ...``) on it.

    One evaluation when exactly one element matches (a stamp is found by the page's own query);
    otherwise ``Locator.evaluate`` (its wait, its strictness error).
    """
    raw = await _if_one_on(element, _if_one(script), arg)
    if int(raw["count"]) == 1:
        return raw.get("value")
    return await element.locator().evaluate(script, arg, timeout=timeout_ms)


@dataclass(frozen=True, slots=True)
class Seen:
    """What a finder read along with an element of the main frame, for the step about to act on it.

    The executor then neither finds the element again nor snapshots the page before acting (see
    :meth:`~operator_agent.act.ActionExecutor.execute`). Valid only right away: a step that waited
    (for an approval, say) must read afresh.

    Attributes:
        facts: What the element is (and the token the read-back finds it by).
        state: The page's state at the same moment; ``None`` if it could not be read.
    """

    facts: ElementFacts
    state: PageState | None


def seeing(script: str) -> str:
    """``script`` (``(el, arg) => value``) that also reads what :class:`Seen` holds, in the same call.

    The wrapped script takes ``[arg, seeing]`` and returns ``{value, seen}`` (``seen`` only when
    ``seeing`` is true: for an element of the main frame, whose window is the page's).
    """
    facts = f"({_FACTS_JS.strip()})(el, {json.dumps(FILLABLE_CSS)})"
    return (
        f"async (el, [arg, seeing]) => ({{ value: await ({script.strip()})(el, arg), seen: seeing"
        f" ? {{ facts: {facts}, state: ({STATE_JS.strip()})() }} : null }})"
    )


def seen_from(raw: dict[str, Any] | None) -> Seen | None:
    """The :class:`Seen` of what a :func:`seeing` script returned under ``seen``."""
    if raw is None:
        return None
    state = raw.get("state")
    return Seen(facts=ElementFacts(**raw["facts"]), state=state_from(state) if state else None)


async def handle_of(locator: Locator, *, timeout_ms: float) -> ElementHandle:
    """A handle to the one element ``locator`` matches, at once when it is there.

    Like :func:`evaluate_on`, this skips Playwright's wait when exactly one element matches and
    falls back to ``Locator.element_handle`` (its wait, its strictness error) otherwise. The
    caller disposes of the handle.
    """
    handles = await locator.element_handles()
    if len(handles) == 1:
        return handles[0]
    for extra in handles:
        with contextlib.suppress(PlaywrightError):
            await extra.dispose()
    return await locator.element_handle(timeout=timeout_ms)


async def element_facts(locator: Locator | Target, *, timeout_ms: float) -> ElementFacts:
    """Read what the element is, following a label to its control.

    Args:
        locator: The element; for a :class:`Target` found a moment ago, the facts read when it
            was found are used.
        timeout_ms: How long the element may take to be found.
    """
    if isinstance(locator, Target):
        if locator.facts is not None:
            return locator.facts
        locator = locator.locator
    raw: dict[str, Any] = await evaluate_on(locator, _FACTS_JS, FILLABLE_CSS, timeout_ms=timeout_ms)
    return ElementFacts(**raw)
