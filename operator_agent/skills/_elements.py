"""Turning a located element into an element ref, so a skill's step runs through the action executor.

The executor acts on refs (the short names an observation gives elements). A skill finds its
elements with locators instead; :func:`element_ref` stamps the element with a ref (keeping the one
an observation already gave it) and describes it the way an observation would, so the step gets
the same targeting, stale-element recovery, retries and reporting as a model's action.
"""

from __future__ import annotations

import contextlib
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Locator

from operator_agent.act.targets import Seen, evaluate_on, handle_of, seeing, seen_from
from operator_agent.errors import ActionFailedError, ElementNotFoundError
from operator_agent.observe.refs import REF_ATTRIBUTE, SECRET_ATTRIBUTE, ElementRef

__all__ = ["DESCRIBE_JS", "DESCRIBE_SEEING_JS", "described_element", "element_ref"]

#: Stamps an element with a ref (``(el, [refAttr, secretAttr, ref, force])``) and describes it
#: the way an observation would: ``{ref, tag, type, role, name, secret}``.
DESCRIBE_JS = """
(el, [attr, secretAttr, ref, force]) => {
  let current = force ? '' : el.getAttribute(attr);
  if (!current) { el.setAttribute(attr, ref); current = ref; }
  const tag = el.tagName.toLowerCase();
  const type = tag === 'input' ? (el.getAttribute('type') || 'text').toLowerCase() : null;
  const explicit = ((el.getAttribute('role') || '').trim().split(/\\s+/)[0]) || '';
  const implicit = () => {
    if (tag === 'a' && el.hasAttribute('href')) return 'link';
    if (tag === 'button' || tag === 'summary') return 'button';
    if (tag === 'select') return (el.multiple || el.size > 1) ? 'listbox' : 'combobox';
    if (tag === 'textarea') return 'textbox';
    if (tag === 'option') return 'option';
    if (/^h[1-6]$/.test(tag)) return 'heading';
    if (tag === 'img') return 'img';
    if (tag === 'tr') return 'row';
    if (tag === 'td') return 'cell';
    if (tag === 'th') return 'columnheader';
    if (tag === 'dialog') return 'dialog';
    if (tag === 'li') return 'listitem';
    if (tag === 'input') {
      if (['button', 'submit', 'reset', 'image'].includes(type)) return 'button';
      if (type === 'checkbox') return 'checkbox';
      if (type === 'radio') return 'radio';
      if (type === 'number') return 'spinbutton';
      if (type === 'range') return 'slider';
      if (type === 'search') return el.hasAttribute('list') ? 'combobox' : 'searchbox';
      if (type === 'file') return 'button';
      if (el.hasAttribute('list')) return 'combobox';
      return 'textbox';
    }
    if (el.isContentEditable) return 'textbox';
    return 'generic';
  };
  const clean = (s) => (s || '').replace(/\\s+/g, ' ').trim();
  const byIds = (ids) => ids.split(/\\s+/).map((id) => {
    const n = (el.getRootNode && el.getRootNode().getElementById) ? el.getRootNode().getElementById(id)
      : document.getElementById(id);
    return n ? n.textContent : '';
  }).join(' ');
  let name = '';
  if (el.getAttribute('aria-labelledby')) name = clean(byIds(el.getAttribute('aria-labelledby')));
  if (!name) name = clean(el.getAttribute('aria-label'));
  if (!name && el.labels && el.labels.length) {
    name = clean(Array.from(el.labels).map((l) => l.innerText).join(' '));
  }
  if (!name && (tag === 'button' || tag === 'a' || tag === 'summary' || explicit)) name = clean(el.innerText);
  if (!name && tag === 'input' && ['button', 'submit', 'reset'].includes(type)) name = clean(el.value);
  if (!name) name = clean(el.getAttribute('placeholder'));
  if (!name) name = clean(el.getAttribute('title'));
  if (!name) name = clean(el.getAttribute('alt'));
  if (!name && !['input', 'textarea', 'select'].includes(tag)) name = clean(el.innerText).slice(0, 80);
  return {
    ref: current, tag, type, role: explicit || implicit(), name: name.slice(0, 100),
    secret: type === 'password' || el.hasAttribute(secretAttr),
  };
}
"""


def _selector(ref: str) -> str:
    return f'[{REF_ATTRIBUTE}="{ref}"]'


async def element_ref(locator: Locator, *, ref: str, timeout_ms: float) -> tuple[ElementRef, Seen | None]:
    """Stamp the element ``locator`` matches with a ref and describe it.

    Args:
        locator: A locator that matches exactly one element.
        ref: The ref to give the element unless an observation already gave it one.
        timeout_ms: How long to wait for the element to be attached.

    Returns:
        The element ref and, on a page with one frame, what the executor reads before acting
        (read in the same call; for the step about to run, see :class:`Seen`).

    Raises:
        ElementNotFoundError: If the element is not on the page (any more).
        ActionFailedError: If the page did not let the element be read.
    """
    frames = locator.page.frames
    if len(frames) == 1:
        # One frame (most pages): the element is in it, so no handle is needed to learn where.
        return await _stamp(locator, frames[0], ref=ref, timeout_ms=timeout_ms, with_seen=True)
    try:
        handle = await handle_of(locator, timeout_ms=timeout_ms)
    except PlaywrightError as exc:
        raise _gone(exc) from None
    try:
        frame = await handle.owner_frame()
    except PlaywrightError as exc:
        raise ActionFailedError(f"could not read the element to act on: {str(exc).splitlines()[0]}") from None
    finally:
        with contextlib.suppress(PlaywrightError):
            await handle.dispose()
    if frame is None:
        raise ElementNotFoundError("the element is not inside a frame any more", tried=[])
    return await _stamp(
        locator, frame, ref=ref, timeout_ms=timeout_ms, with_seen=frame == frame.page.main_frame
    )


def _gone(exc: PlaywrightError) -> ElementNotFoundError:
    return ElementNotFoundError(
        f"the element left the page before it could be used: {str(exc).splitlines()[0]}", tried=[]
    )


#: :data:`DESCRIBE_JS` that also reads :class:`Seen` (see :func:`~operator_agent.act.targets.seeing`).
DESCRIBE_SEEING_JS = seeing(DESCRIBE_JS)


async def _stamp(
    locator: Locator, frame: Frame, *, ref: str, timeout_ms: float, with_seen: bool
) -> tuple[ElementRef, Seen | None]:
    async def describe(force: bool) -> tuple[dict[str, Any], Seen | None]:
        arg = [REF_ATTRIBUTE, SECRET_ATTRIBUTE, ref, force]
        both = await evaluate_on(locator, DESCRIBE_SEEING_JS, [arg, with_seen], timeout_ms=timeout_ms)
        return both["value"], seen_from(both["seen"])

    try:
        info, seen = await describe(False)
    except PlaywrightError as exc:
        raise _gone(exc) from None
    try:
        # An observation's ref is kept unless another element carries it too.
        if info["ref"] != ref and await frame.locator(_selector(str(info["ref"]))).count() != 1:
            info, seen = await describe(True)
    except PlaywrightError as exc:
        raise ActionFailedError(f"could not read the element to act on: {str(exc).splitlines()[0]}") from None
    return described_element(frame, info), seen


def described_element(frame: Frame, info: dict[str, Any]) -> ElementRef:
    """The element ref for what :data:`DESCRIBE_JS` returned about an element of ``frame``."""
    stamped = str(info["ref"])
    return ElementRef(
        ref=stamped,
        frame=frame,
        selector=_selector(stamped),
        role=str(info["role"]),
        name=str(info["name"]),
        tag=str(info["tag"]),
        input_type=info["type"],
        is_secret=bool(info["secret"]),
    )
