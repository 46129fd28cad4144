"""Observation: a page as a compact outline a model can act on, with a ref for every usable element.

>>> obs = await observe(page, options=ObserveOptions(max_tokens=4000))
>>> print(obs.text)            # the outline: dialogs first, then the page, within the token budget
>>> obs.element("e12").locator()  # a Playwright locator for exactly that element

``page_text()`` returns the full readable text (for extraction); ``count_tokens()`` counts o200k_base
tokens as the budget does.
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
