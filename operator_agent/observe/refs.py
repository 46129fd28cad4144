"""Element refs: the short names an observation gives to elements, and how actions find them again.

An observation stamps each element it lists with a ref (``e1``, ``e2``, ...). A ref is valid until
the next observation; :class:`RefMap` resolves it to an :class:`ElementRef`, which knows the frame
and the selector that finds the element again, so an action can act on exactly that element.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from playwright.async_api import Frame, Locator

from operator_agent.errors import UnknownRefError

__all__ = ["REF_ATTRIBUTE", "SECRET_ATTRIBUTE", "ElementRef", "RefMap"]

#: The attribute an observation writes on each element it lists, holding the element's ref.
REF_ATTRIBUTE = "data-oa-ref"

#: The attribute the action executor writes on a field it filled from a secret; an observation never
#: shows the value of such a field (nor of a password field).
SECRET_ATTRIBUTE = "data-oa-secret"


@dataclass(frozen=True, slots=True)
class ElementRef:
    """One element listed by an observation.

    Attributes:
        ref: The short name shown to the model, such as ``e12``.
        frame: The Playwright frame that holds the element (iframes included).
        selector: A selector that finds the element in ``frame``; it pierces open shadow roots.
        role: The element's ARIA role (explicit or implicit), or ``generic`` for clickable elements
            without one.
        name: The accessible name, as shown to the model.
        tag: The lower-case tag name.
        input_type: The ``type`` of an ``input`` element, else ``None``.
        is_secret: True for password fields and fields filled from a secret: never show their value.
    """

    ref: str
    frame: Frame
    selector: str
    role: str
    name: str
    tag: str
    input_type: str | None = None
    is_secret: bool = False

    def locator(self) -> Locator:
        """A Playwright locator for the element."""
        return self.frame.locator(self.selector)

    def describe(self) -> str:
        """A short human-readable description, such as ``button "Save draft" [e12]``."""
        name = f' "{self.name}"' if self.name else ""
        return f"{self.role}{name} [{self.ref}]"


@dataclass(frozen=True)
class RefMap(Mapping[str, ElementRef]):
    """The refs of one observation, in the order they were listed."""

    _refs: dict[str, ElementRef] = field(default_factory=dict)

    def __getitem__(self, ref: str) -> ElementRef:
        return self._refs[ref]

    def __iter__(self) -> Iterator[str]:
        return iter(self._refs)

    def __len__(self) -> int:
        return len(self._refs)

    def resolve(self, ref: str) -> ElementRef:
        """Find a ref of this observation.

        Raises:
            UnknownRefError: If the observation has no such ref; the message says how refs look
                and that refs expire with each new observation.
        """
        try:
            return self._refs[ref]
        except KeyError:
            known = ", ".join(list(self._refs)[:5])
            more = f" (and {len(self._refs) - 5} more)" if len(self._refs) > 5 else ""
            raise UnknownRefError(
                f"unknown element ref {ref!r}: the current observation lists "
                f"{len(self._refs)} refs such as {known or 'none'}{more}; refs are only valid until "
                "the next observation, so use a ref from the latest one"
            ) from None
