"""Observation: a page as a compact outline a model can act on, with a ref for every usable element.

Example::

    obs = await observe(page, options=ObserveOptions(max_tokens=4000))
    print(obs.text)  # dialogs first, then the page, within the token budget
    await obs.element("e12").locator().click()  # exactly the element listed as [e12]

:func:`page_text` returns the full readable text (for extraction); :func:`count_tokens` counts
o200k_base tokens the way the budget does.
"""

from __future__ import annotations

from operator_agent.observe.core import observe
from operator_agent.observe.observation import Observation, ObserveOptions, ScrollInfo, TabSummary, Truncation
from operator_agent.observe.refs import REF_ATTRIBUTE, SECRET_ATTRIBUTE, ElementRef, RefMap
from operator_agent.observe.text import page_text
from operator_agent.observe.tokens import count_tokens, estimate_tokens

__all__ = [
    "REF_ATTRIBUTE",
    "SECRET_ATTRIBUTE",
    "ElementRef",
    "Observation",
    "ObserveOptions",
    "RefMap",
    "ScrollInfo",
    "TabSummary",
    "Truncation",
    "count_tokens",
    "estimate_tokens",
    "observe",
    "page_text",
]
