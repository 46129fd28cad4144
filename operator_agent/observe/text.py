"""``page_text()``: the full readable text of a page or one element, for the ``extract`` action.

Unlike the outline, nothing is truncated except at ``max_chars``: every table row, every list item,
the text of iframes. It is read by the same collector as the outline, so what is hidden there is
hidden here too, password and secret fields never show their value, and ``redact`` applies.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

from operator_agent.errors import UnknownRefError
from operator_agent.logs import redact_text
from operator_agent.observe.collect import CollectSettings, collect_element, collect_page
from operator_agent.observe.nodes import (
    Container,
    El,
    FrameNode,
    FrameResult,
    Heading,
    Item,
    Line,
    Node,
    Part,
    Row,
    Seq,
    Table,
)
from operator_agent.observe.refs import REF_ATTRIBUTE, ElementRef

__all__ = ["page_text"]

_SPACES = re.compile(r"\s+")
_FIELDS = frozenset({"textbox", "searchbox", "combobox", "spinbutton", "slider", "listbox"})


def _element_text(el: El) -> str:
    if el.role in ("checkbox", "switch", "menuitemcheckbox"):
        mark = "x" if "checked" in el.states else "-" if "mixed" in el.states else " "
        return f"[{mark}] {el.name}"
    if el.role in ("radio", "menuitemradio"):
        return f"({'x' if 'checked' in el.states else ' '}) {el.name}"
    if el.role in _FIELDS or el.tag in ("input", "textarea", "select"):
        if el.secret:
            value = "•••" if el.has_value else ""
        elif el.options is not None:
            value = ", ".join(el.options.selected)
        else:
            value = el.value or ""
        label = el.name or el.placeholder or el.role
        return f"[{label}: {value}]"
    return el.name


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("  " * depth + text)

    def inline(self, parts: list[Part]) -> str:
        out = []
        for part in parts:
            out.append(part if isinstance(part, str) else f" {_element_text(part)} ")
        return _SPACES.sub(" ", "".join(out)).strip()

    def nodes(self, nodes: list[Node], depth: int) -> None:
        for node in nodes:
            self.node(node, depth)

    def node(self, node: Node, depth: int) -> None:
        if isinstance(node, Line):
            text = self.inline(node.parts)
            if text:
                self.emit(depth, text)
        elif isinstance(node, Heading):
            self.emit(depth, "#" * node.level + " " + self.inline(node.parts))
        elif isinstance(node, Container):
            if node.name or node.role in ("dialog", "alertdialog"):
                self.emit(depth, f'{node.role} "{node.name}":' if node.name else f"{node.role}:")
                self.nodes(node.kids, depth + 1)
            else:
                self.nodes(node.kids, depth + (1 if not node.role else 0))
        elif isinstance(node, Item):
            start = len(self.lines)
            self.nodes(node.kids, depth + 1)
            if len(self.lines) > start:
                self.lines[start] = "  " * depth + "- " + self.lines[start].lstrip()
        elif isinstance(node, Seq):
            for item in node.head + node.tail:
                self.nodes(item, depth)
        elif isinstance(node, Table):
            if node.name:
                self.emit(depth, f'table "{node.name}":')
            for row in node.header:
                self.node(row, depth)
            self.node(node.body, depth)
        elif isinstance(node, Row):
            cells = [self.inline(cell) for cell in node.cells]
            if any(cells):
                self.emit(depth, " | ".join(cells))
        elif isinstance(node, FrameNode):
            label = f'iframe "{node.name}"' if node.name else "iframe"
            if node.result is None:
                self.emit(depth, f"{label}: ({node.error or 'not read'})")
            else:
                self.emit(depth, f"{label}:")
                self.frame(node.result, depth + 1)

    def frame(self, result: FrameResult, depth: int) -> None:
        for dialog in result.dialogs:
            self.node(dialog, depth)
        self.nodes(result.body, depth)


async def _find(page: Page, ref: str) -> tuple[Frame, str]:
    selector = f'[{REF_ATTRIBUTE}="{ref}"]'

    async def count(frame: Frame) -> int:
        try:
            return await frame.locator(selector).count()
        except PlaywrightError:
            return 0

    frames = list(page.frames)
    counts = await asyncio.gather(*(count(f) for f in frames))
    for frame, found in zip(frames, counts, strict=True):
        if found == 1:
            return frame, selector
    raise UnknownRefError(
        f"no element on {page.url} carries the ref {ref!r}; refs are only valid until the next "
        "observation, so use a ref from the latest one"
    )


async def page_text(
    page: Page,
    *,
    ref: ElementRef | str | None = None,
    max_chars: int = 50_000,
    redact: Iterable[str] = (),
    include_frames: bool = True,
) -> str:
    """The full readable text of the page, or of one element, with tables as ``a | b | c`` rows.

    Fields read as ``[Label: value]``, checkboxes as ``[x] Label``; password and secret fields never
    show their value.

    Args:
        page: The page to read.
        ref: Read only this element (an ``ElementRef`` or a ref of the latest observation).
        max_chars: The longest text returned; a final line says how much was left out.
        redact: Values replaced with ``[REDACTED]`` (secret values registered for logging are too).
        include_frames: Also read the iframes inside the page or element.

    Raises:
        UnknownRefError: If ``ref`` is a string no element of the page carries.
        BrowserError: If the page or element cannot be read.
    """
    settings = CollectSettings(mode="text", include_frames=include_frames)
    if ref is None:
        result = await collect_page(page.main_frame, settings)
    else:
        if isinstance(ref, ElementRef):
            frame, selector = ref.frame, ref.selector
        else:
            frame, selector = await _find(page, ref)
        result = await collect_element(frame, frame.locator(selector), settings)
    writer = _Writer()
    writer.frame(result, 0)
    secrets = tuple(v for v in redact if v)
    text = redact_text(redact_text("\n".join(writer.lines), secrets))
    if len(text) > max_chars:
        rest = len(text) - max_chars
        text = (
            text[:max_chars].rstrip() + f"\n… ({rest:,} more characters not shown; max_chars={max_chars:,})"
        )
    return text
