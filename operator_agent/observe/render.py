"""Turning the collected tree into the outline text, under given limits.

The renderer is pure: the same tree and :class:`Limits` always give the same lines, so the token
budget can re-render with tighter limits, and two observations of an unchanged page are identical.
Each output line remembers the refs it lists, so a budget cut knows which refs went with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from playwright.async_api import Frame

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
from operator_agent.observe.observation import Truncation

__all__ = ["Limits", "OutLine", "Rendered", "format_element", "render_page"]

_SPACES = re.compile(r"\s+")
_SECRET_VALUE = "••• (hidden)"
_REACH = "scroll, search or extract to reach them"
# Input types worth telling the model (they change how a value must be typed or chosen).
_SHOWN_TYPES = frozenset(
    {
        "date",
        "time",
        "datetime-local",
        "month",
        "week",
        "color",
        "file",
        "range",
        "email",
        "number",
        "tel",
        "url",
    }
)


@dataclass(frozen=True, slots=True)
class Limits:
    """How much of each kind of content one rendering shows.

    ``max_text == 0`` drops plain text lines (headings and elements stay).
    """

    head_rows: int
    tail_rows: int
    head_items: int
    tail_items: int
    max_options: int
    max_text: int
    max_name: int
    max_value: int
    descriptions: bool = True
    background_text: bool = True


@dataclass(slots=True)
class OutLine:
    """One line of the outline."""

    depth: int
    text: str
    refs: list[str] = field(default_factory=list)
    section: Literal["header", "dialog", "page"] = "page"

    def render(self) -> str:
        return "  " * self.depth + self.text


@dataclass(slots=True)
class Rendered:
    """An outline before the final budget cut: lines, the elements they list, what was left out."""

    lines: list[OutLine]
    elements: dict[str, tuple[El, Frame]]
    truncations: list[Truncation]


def _q(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)].rstrip() + "…"


def format_element(el: El, limits: Limits, *, with_ref: bool = True) -> str:
    """One element as the model reads it, such as ``[e3] textbox "Email" value="a@b.c" required``."""
    parts: list[str] = []
    if el.ref and with_ref:
        parts.append(f"[{el.ref}]")
    parts.append("clickable" if el.role == "generic" else el.role)
    if el.name:
        parts.append(_q(_clip(el.name, limits.max_name)))
    elif el.hint:
        parts.append(f"({_clip(el.hint, 60)})")
    if el.input_type in _SHOWN_TYPES:
        parts.append(f"type={el.input_type}")
    if el.secret:
        if el.has_value:
            parts.append(f"value={_SECRET_VALUE}")
    elif el.options is not None:
        opts = el.options
        if len(opts.selected) > 1 or el.role == "listbox":
            parts.append("selected=[" + ", ".join(_q(_clip(s, 60)) for s in opts.selected) + "]")
        elif opts.selected:
            parts.append("value=" + _q(_clip(opts.selected[0], limits.max_value)))
        shown = opts.shown[: limits.max_options]
        rest = opts.total - len(shown)
        if shown:
            listed = " | ".join(_clip(s, 40) for s in shown)
            parts.append(f"options: {listed}" + (f" … +{rest} more" if rest > 0 else ""))
        elif opts.total:
            parts.append(f"({opts.total} options)")
    elif el.value is not None and el.value != el.name:
        parts.append("value=" + _q(_clip(el.value, limits.max_value)))
    if el.placeholder:
        parts.append("placeholder=" + _q(_clip(el.placeholder, limits.max_name)))
    parts.extend(el.states)
    if el.invalid is not None:
        parts.append("invalid" + (": " + _q(_clip(el.invalid, 200)) if el.invalid else ""))
    if el.description and limits.descriptions:
        parts.append("description=" + _q(_clip(el.description, 160)))
    if el.ref is None and el.blocked and with_ref:
        parts.append("(blocked)")
    return " ".join(parts)


class _Renderer:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.lines: list[OutLine] = []
        self.elements: dict[str, tuple[El, Frame]] = {}
        self.truncations: list[Truncation] = []
        self.frame: Frame | None = None
        self.section: Literal["header", "dialog", "page"] = "page"
        self.max_text = limits.max_text
        self.text_cut_chars = 0
        self.text_cut_lines = 0
        self.text_dropped_lines = 0
        self.options_cut = 0

    # -- inline content -------------------------------------------------------------------------

    def _element(self, el: El, refs: list[str]) -> str:
        if el.ref is not None and self.frame is not None:
            self.elements[el.ref] = (el, self.frame)
            refs.append(el.ref)
        if el.options is not None:
            self.options_cut += max(0, el.options.total - min(len(el.options.shown), self.limits.max_options))
        return format_element(el, self.limits)

    def inline(self, parts: list[Part], refs: list[str], limit: int) -> tuple[str, bool]:
        """Join parts into one line; returns (text, whether any text was shown)."""
        out: list[str] = []
        used = 0
        cut = 0
        had_text = False
        for part in parts:
            if isinstance(part, str):
                text = _SPACES.sub(" ", part)
                if not text.strip():
                    out.append(" ")
                    continue
                if limit <= 0:
                    cut += len(text.strip())
                    continue
                room = limit - used
                if room <= 0:
                    cut += len(text.strip())
                    continue
                if len(text) > room:
                    cut += len(text) - room
                    text = text[:room]
                used += len(text)
                had_text = True
                out.append(text)
            else:
                out.append(" " + self._element(part, refs) + " ")
        line = _SPACES.sub(" ", "".join(out)).strip()
        if cut and limit > 0:
            line += f"… (+{cut:,} chars)"
            self.text_cut_chars += cut
            self.text_cut_lines += 1
        elif cut:
            self.text_dropped_lines += 1
        return line, had_text

    def emit(self, depth: int, text: str, refs: list[str] | None = None) -> None:
        self.lines.append(OutLine(depth=depth, text=text, refs=refs or [], section=self.section))

    # -- blocks ---------------------------------------------------------------------------------

    def nodes(self, nodes: list[Node], depth: int) -> None:
        for node in nodes:
            self.node(node, depth)

    def node(self, node: Node, depth: int) -> None:
        if isinstance(node, Line):
            refs: list[str] = []
            text, _ = self.inline(node.parts, refs, self.max_text)
            if text:
                self.emit(depth, text, refs)
        elif isinstance(node, Heading):
            refs = []
            text, _ = self.inline(node.parts, refs, max(self.max_text, 120))
            if text:
                self.emit(depth, "#" * node.level + " " + text, refs)
        elif isinstance(node, Container):
            self.container(node, depth)
        elif isinstance(node, Item):
            start = len(self.lines)
            self.nodes(node.kids, depth + 1)
            if len(self.lines) > start:
                first = self.lines[start]
                first.depth = depth
                first.text = "- " + first.text
        elif isinstance(node, Seq):
            self.seq(node, depth, "list")
        elif isinstance(node, Table):
            self.table(node, depth)
        elif isinstance(node, FrameNode):
            self.frame_node(node, depth)
        elif isinstance(node, Row):
            self.row(node, depth)

    def container(self, node: Container, depth: int) -> None:
        if not node.role:
            self.nodes(node.kids, depth + 1)
            return
        start = len(self.lines)
        self.emit(depth, "")  # the header, written once we know the container is not empty
        if node.kids and all(isinstance(k, Seq) for k in node.kids):
            for kid in node.kids:
                assert isinstance(kid, Seq)
                self.seq(kid, depth + 1, _label(node.role, node.name))
        else:
            self.nodes(node.kids, depth + 1)
        if len(self.lines) == start + 1:
            self.lines.pop()
            return
        header = _label(node.role, node.name)
        extras = list(node.states)
        if node.modal:
            extras.append("modal")
        if extras:
            header += " (" + ", ".join(extras) + ")"
        self.lines[start].text = header + ":"

    def seq(self, seq: Seq, depth: int, where: str, render_row: bool = False) -> None:
        head_n, tail_n = (
            (self.limits.head_rows, self.limits.tail_rows)
            if seq.kind == "rows"
            else (self.limits.head_items, self.limits.tail_items)
        )
        available = list(enumerate(seq.head)) + [
            (seq.tail_start + i, item) for i, item in enumerate(seq.tail)
        ]
        if seq.total > head_n + tail_n + 2:
            shown = [(i, item) for i, item in available if i < head_n or i >= seq.total - tail_n]
        else:
            shown = available
        shown_idx = {i for i, _ in shown}
        omitted = seq.total - len(shown)
        gap_written = False
        first_missing = next((i for i in range(seq.total) if i not in shown_idx), None)
        for i, item in shown:
            if first_missing is not None and i > first_missing and not gap_written:
                self._gap(seq, depth, where, omitted, shown_idx)
                gap_written = True
            self.nodes(item, depth)
        if omitted > 0 and not gap_written:
            self._gap(seq, depth, where, omitted, shown_idx)

    def _gap(self, seq: Seq, depth: int, where: str, omitted: int, shown: set[int]) -> None:
        missing = [i for i in range(seq.total) if i not in shown]
        first, last = missing[0] + 1, missing[-1] + 1
        noun = "rows" if seq.kind == "rows" else "items"
        span = f"{noun[:-1]} {first:,}" if first == last else f"{noun} {first:,}–{last:,}"
        summary = f"… {omitted:,} {noun if omitted != 1 else noun[:-1]} omitted ({span}); {_REACH}"
        self.emit(depth, summary)
        self.truncations.append(Truncation(kind=seq.kind, where=where, omitted=omitted, summary=summary))

    def table(self, table: Table, depth: int) -> None:
        label = _label("table", table.name)
        size = f"{table.body.total:,} row" + ("" if table.body.total == 1 else "s")
        if table.columns:
            size += f" × {table.columns} column" + ("" if table.columns == 1 else "s")
        if table.body.below:
            size += f"; {table.body.below:,} below the viewport"
        self.emit(depth, f"{label} ({size}):")
        for row in table.header:
            self.row(row, depth + 1)
        self.seq(table.body, depth + 1, label)

    def row(self, row: Row, depth: int) -> None:
        refs: list[str] = []
        cell_limit = max(24, self.max_text // 3) if self.max_text > 0 else 60
        cells = [self.inline(cell, refs, cell_limit)[0] for cell in row.cells]
        if not any(cells) and row.el is None:
            return
        text = " | ".join(cells).rstrip()
        if row.el is not None and row.el.ref is not None and self.frame is not None:
            self.elements[row.el.ref] = (row.el, self.frame)
            refs.insert(0, row.el.ref)
            text = f"[{row.el.ref}] row: {text}"
        self.emit(depth, text, refs)

    def frame_node(self, node: FrameNode, depth: int) -> None:
        label = _label("iframe", node.name)
        if not node.name and node.src:
            label += f" ({_clip(node.src.split('?')[0], 80)})"
        if node.result is None:
            reason = node.error or "not read"
            self.emit(depth, f"{label}: ({reason})")
            if node.error:
                summary = f"{label} could not be read: {node.error}"
                self.truncations.append(Truncation(kind="frame", where=label, omitted=1, summary=summary))
            return
        extra = " (behind the dialog)" if node.blocked else ""
        start = len(self.lines)
        self.emit(depth, f"{label}{extra}:")
        outer = self.frame
        self.frame = node.result.frame
        for dialog in node.result.dialogs:
            self.container(dialog, depth + 1)
        self.nodes(node.result.body, depth + 1)
        self.frame = outer
        if len(self.lines) == start + 1:
            self.lines[start].text = f"{label}{extra}: (empty)"

    # -- the page -------------------------------------------------------------------------------

    def page(self, main: FrameResult) -> None:
        self.frame = main.frame
        self.section = "dialog"
        for dialog in main.dialogs:
            self.container(dialog, 0)
        self.section = "page"
        if main.dialogs or main.blocked:
            if main.blocked:
                what = "modal dialog" if main.blocked == "modal" else "overlay"
                self.emit(0, f"page (behind the {what}; only what is listed with a ref can be used now):")
                if not self.limits.background_text:
                    self.max_text = 0
            else:
                self.emit(0, "page:")
            self.nodes(main.body, 1)
        else:
            self.nodes(main.body, 0)
        self.max_text = self.limits.max_text
        self._summaries()

    def _summaries(self) -> None:
        if self.text_cut_lines:
            self.truncations.append(
                Truncation(
                    kind="text",
                    where="page text",
                    omitted=self.text_cut_chars,
                    summary=f"{self.text_cut_lines:,} long text runs shortened ({self.text_cut_chars:,} "
                    "characters left out); extract to read them in full",
                )
            )
        if self.text_dropped_lines:
            summary = (
                f"(to fit the token budget, {self.text_dropped_lines:,} lines of plain text are left out; "
                "headings and elements are kept; extract to read the text)"
            )
            self.emit(0, summary)
            self.truncations.append(
                Truncation(kind="text", where="page text", omitted=self.text_dropped_lines, summary=summary)
            )
        if self.options_cut:
            self.truncations.append(
                Truncation(
                    kind="options",
                    where="select options",
                    omitted=self.options_cut,
                    summary=f"{self.options_cut:,} select options not listed; "
                    "select_option accepts any option",
                )
            )


def _label(role: str, name: str) -> str:
    return f"{role} {_q(_clip(name, 80))}" if name else role


def render_page(main: FrameResult, header: list[str], limits: Limits) -> Rendered:
    """Render the header lines and the page (dialogs first) under ``limits``."""
    renderer = _Renderer(limits)
    renderer.section = "header"
    for text in header:
        renderer.emit(0, text)
    renderer.page(main)
    return Rendered(lines=renderer.lines, elements=renderer.elements, truncations=renderer.truncations)
