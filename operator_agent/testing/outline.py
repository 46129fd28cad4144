"""Reading observation outlines in tests, the way a model reads them.

A scripted model in a test must point at elements by ref, and refs change with every observation.
These helpers find the ref of an element by its role and accessible name in the outline text the
model received, so a script can say ``click(find_ref(request, "Submit for payment"))``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from operator_agent.models import ModelRequest

__all__ = ["OutlineElement", "elements", "find_ref", "observation_text"]

# `[e12] button "Save draft"`, possibly several per line (table rows).
_ELEMENT = re.compile(r'\[(?P<ref>e\d+)\]\s+(?P<role>[\w-]+)(?:\s+"(?P<name>(?:[^"\\]|\\.)*)")?')


@dataclass(frozen=True)
class OutlineElement:
    """One element listed in an outline."""

    ref: str
    role: str
    name: str


def observation_text(source: ModelRequest | str) -> str:
    """The outline of the newest observation in a model request (or the text itself)."""
    if isinstance(source, str):
        return source
    for message in reversed(source.messages):
        if message.role == "user" and "Current page" in message.content:
            return message.content
    raise AssertionError("the request holds no observation (no 'Current page' user message)")


def elements(source: ModelRequest | str) -> list[OutlineElement]:
    """Every element with a ref in the newest observation, in outline order."""
    return [
        OutlineElement(ref=m["ref"], role=m["role"], name=(m["name"] or "").replace('\\"', '"'))
        for m in _ELEMENT.finditer(observation_text(source))
    ]


def find_ref(source: ModelRequest | str, name: str, *, role: str | None = None, exact: bool = True) -> str:
    """The ref of the element with this accessible name (and role, if given).

    Args:
        source: A model request (its newest observation is searched) or an outline.
        name: The accessible name; compared case-insensitively.
        role: Only elements with this role.
        exact: ``False`` accepts names that contain ``name``.

    Raises:
        AssertionError: If no element, or more than one, matches; the message lists the candidates.
    """
    wanted = name.casefold()
    found = [
        e
        for e in elements(source)
        if (role is None or e.role == role)
        and (e.name.casefold() == wanted if exact else wanted in e.name.casefold())
    ]
    if len(found) == 1:
        return found[0].ref
    listing = "\n".join(f"  [{e.ref}] {e.role} {e.name!r}" for e in elements(source)[:80])
    problem = "no element" if not found else f"{len(found)} elements"
    raise AssertionError(f"{problem} named {name!r} (role {role or 'any'}) in the observation:\n{listing}")
