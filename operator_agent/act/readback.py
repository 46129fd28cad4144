"""Reading back the element an action changed, together with the page, in one call.

After filling, ticking, choosing or attaching, the executor reads two things: what the element
shows now (did the field keep the text?) and the page's state (did anything navigate, open or
re-render?). Both are read after the page has had its turn. Done separately, that is a call
through the element's locator (which Playwright resolves again, shadow roots included) and a
second call for the page. Here it is one evaluation in the main frame.

How the element is found without its locator: the script that reads an element's facts when the
executor finds it (:data:`REMEMBER_JS`) keeps a reference to it on its window, under a fresh
token that it returns with the facts. The read-back asks the main frame's window for the element
under that token. It gets nothing back, and the caller reads through the locator as before, when
the element is in a child frame (its window is another one), another element was found since, or
the element has left the page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from operator_agent.act.watch import SETTLE_THEN_STATE_JS, PageState, Settle, state_from

__all__ = ["REMEMBER_JS", "ReadBack", "read_back"]

_SLOT = "__operatorAgentTarget"

#: Keeps ``t`` (the control an element stands for) under a new token, and evaluates to the token
#: (``null`` if the page made the slot its own). Used inside a script where ``t`` is bound;
#: non-enumerable, so page scripts that list the window's properties do not see it.
REMEMBER_JS = f"""(() => {{
    const memo = Math.random().toString(36).slice(2) + Date.now().toString(36);
    try {{
      Object.defineProperty(window, '{_SLOT}', {{
        value: {{ memo, ref: new WeakRef(t) }}, configurable: true, writable: true, enumerable: false,
      }});
    }} catch (e) {{
      return null;  // the page took the name: read back through the locator
    }}
    return memo;
  }})()"""

Reading = Literal["shown", "checked", "selected", "files"]

# What each reading returns for the control ``t``.
_READINGS: dict[Reading, str] = {
    "shown": "(t.tagName === 'INPUT' || t.tagName === 'TEXTAREA') ? t.value : t.innerText",
    "checked": (
        "(t.type === 'checkbox' || t.type === 'radio') ? t.checked"
        " : t.getAttribute('aria-checked') === 'true'"
    ),
    "selected": (
        "[...t.options].filter((o) => o.selected)"
        ".map((o) => (o.label || o.textContent || '').replace(/\\s+/g, ' ').trim())"
    ),
    "files": "t.files ? [...t.files].map((f) => f.name) : []",
}

_READ_BACK_JS = {
    reading: f"""
async ([frame, memo]) => {{
  const state = await ({SETTLE_THEN_STATE_JS.strip()})(frame);
  const slot = window['{_SLOT}'];
  const t = slot && slot.memo === memo ? slot.ref.deref() : undefined;
  if (!t || !t.isConnected) return {{ state, found: false }};
  return {{ state, found: true, value: {expression} }};
}}
"""
    for reading, expression in _READINGS.items()
}


@dataclass(frozen=True, slots=True)
class ReadBack:
    """The element and the page, read in one call after an action.

    Attributes:
        value: The reading: the text a field shows, whether a box is checked, the labels of the
            selected options, or the names of the attached files.
        state: The page's state at the same moment.
    """

    value: Any
    state: PageState


async def read_back(page: Page, memo: str | None, reading: Reading, *, settle: Settle) -> ReadBack | None:
    """Let the page run as ``settle`` says, then read the remembered element and the page.

    Args:
        page: The tab the action ran in.
        memo: The token the element's facts came with; ``None`` gives ``None`` at once.
        reading: What to read of the element.
        settle: How long the page runs first (see :data:`~operator_agent.act.watch.Settle`).

    Returns:
        The reading and the state, or ``None`` when the element is not the main frame's
        remembered one (the caller then reads through the element's locator).
    """
    if memo is None:
        return None
    try:
        raw: dict[str, Any] = await asyncio.wait_for(
            page.evaluate(_READ_BACK_JS[reading], [settle == "frame", memo]), timeout=2
        )
    except (PlaywrightError, TimeoutError):
        return None
    if not raw["found"]:
        return None
    return ReadBack(value=raw["value"], state=state_from(raw["state"]))
