"""The tree the page-side collector returns, as plain dataclasses.

``collector.js`` walks one frame and returns nested JSON; :func:`parse_frame` turns it into these
nodes, which the renderer turns into the outline. Keeping the tree (rather than text) lets the token
budget re-render it with tighter limits without asking the page again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from playwright.async_api import Frame

__all__ = [
    "Container",
    "El",
    "FrameNode",
    "FrameResult",
    "Heading",
    "Item",
    "Line",
    "Node",
    "Part",
    "Row",
    "ScrollData",
    "SelectOptions",
    "Seq",
    "Table",
    "parse_frame",
    "redact_tree",
]


@dataclass(slots=True)
class SelectOptions:
    """The options of a ``<select>``: how many, the first few, and the selected ones."""

    total: int
    shown: list[str]
    selected: list[str]


@dataclass(slots=True)
class El:
    """One element a person can use (or could, but a modal dialog is in the way: ``blocked``)."""

    ref: str | None
    role: str
    name: str
    tag: str
    input_type: str | None = None
    hint: str = ""
    states: tuple[str, ...] = ()
    value: str | None = None
    placeholder: str = ""
    secret: bool = False
    has_value: bool = False
    options: SelectOptions | None = None
    invalid: str | None = None
    description: str = ""
    blocked: bool = False


Part = str | El


@dataclass(slots=True)
class Line:
    """Inline content: text runs and elements that flow together."""

    parts: list[Part]


@dataclass(slots=True)
class Heading:
    level: int
    parts: list[Part]


@dataclass(slots=True)
class Container:
    """A landmark, form, dialog, named group...; ``role == ""`` only indents (a nested list)."""

    role: str
    name: str
    kids: list[Node]
    modal: bool = False
    states: tuple[str, ...] = ()


@dataclass(slots=True)
class Item:
    """A list item: rendered with a ``- `` bullet."""

    kids: list[Node]


@dataclass(slots=True)
class Row:
    """A table row: its cells as inline content; ``el`` when the whole row acts on click."""

    cells: list[list[Part]]
    el: El | None = None


@dataclass(slots=True)
class Seq:
    """A long run of items or rows, of which only the head and the tail were read."""

    kind: Literal["items", "rows"]
    total: int
    head: list[list[Node]]
    tail: list[list[Node]]
    tail_start: int
    below: int


@dataclass(slots=True)
class Table:
    name: str
    columns: int
    header: list[Row]
    body: Seq


@dataclass(slots=True)
class FrameNode:
    """Where an iframe sits in its parent; ``result`` is filled once the frame itself is read."""

    index: int
    name: str
    src: str
    blocked: bool = False
    result: FrameResult | None = None
    error: str = ""


Node = Line | Heading | Container | Item | Seq | Table | FrameNode | Row


@dataclass(slots=True)
class ScrollData:
    x: int
    y: int
    width: int
    height: int
    viewport_width: int
    viewport_height: int
    elements_below: int
    elements_right: int
    rows_below: int


@dataclass(slots=True)
class FrameResult:
    """What one frame holds, with the Playwright frame its refs belong to."""

    frame: Frame
    url: str
    title: str
    dialogs: list[Container]
    body: list[Node]
    blocked: Literal["", "modal", "overlay"]
    scroll: ScrollData
    frame_nodes: list[FrameNode] = field(default_factory=list)
    collector_ms: float = 0.0


def _el(d: dict[str, Any]) -> El:
    opts = d.get("opts")
    return El(
        ref=d.get("ref"),
        role=str(d.get("role") or "generic"),
        name=str(d.get("name") or ""),
        tag=str(d.get("tag") or ""),
        input_type=d.get("type"),
        hint=str(d.get("hint") or ""),
        states=tuple(str(s) for s in d.get("st") or ()),
        value=None if d.get("v") is None else str(d["v"]),
        placeholder=str(d.get("ph") or ""),
        secret=bool(d.get("secret")),
        has_value=bool(d.get("hv")),
        options=None
        if opts is None
        else SelectOptions(
            total=int(opts["n"]), shown=[str(x) for x in opts["list"]], selected=[str(x) for x in opts["sel"]]
        ),
        invalid=None if d.get("inv") is None else str(d["inv"]),
        description=str(d.get("desc") or ""),
        blocked=bool(d.get("blocked")),
    )


def _parts(raw: list[Any]) -> list[Part]:
    return [p if isinstance(p, str) else _el(p) for p in raw]


class _Parser:
    def __init__(self) -> None:
        self.frame_nodes: list[FrameNode] = []

    def nodes(self, raw: list[dict[str, Any]]) -> list[Node]:
        return [self.node(d) for d in raw]

    def seq(self, d: dict[str, Any]) -> Seq:
        return Seq(
            kind="rows" if d["kind"] == "rows" else "items",
            total=int(d["total"]),
            head=[self.nodes(item) for item in d["head"]],
            tail=[self.nodes(item) for item in d["tail"]],
            tail_start=int(d["tailStart"]),
            below=int(d.get("below") or 0),
        )

    def row(self, d: dict[str, Any]) -> Row:
        el = d.get("el")
        return Row(cells=[_parts(c) for c in d["cells"]], el=None if el is None else _el(el))

    def node(self, d: dict[str, Any]) -> Node:
        kind = d["t"]
        if kind == "line":
            return Line(parts=_parts(d["p"]))
        if kind == "h":
            return Heading(level=int(d["lvl"]), parts=_parts(d["p"]))
        if kind == "c":
            return self.container(d)
        if kind == "item":
            return Item(kids=self.nodes(d["kids"]))
        if kind == "seq":
            return self.seq(d)
        if kind == "table":
            body = d["body"]
            # A table body is a run of rows, one row per item.
            return Table(
                name=str(d.get("name") or ""),
                columns=int(d.get("cols") or 0),
                header=[self.row(r) for r in d["header"]],
                body=Seq(
                    kind="rows",
                    total=int(body["total"]),
                    head=[[self.row(r[0])] for r in body["head"]],
                    tail=[[self.row(r[0])] for r in body["tail"]],
                    tail_start=int(body["tailStart"]),
                    below=int(body.get("below") or 0),
                ),
            )
        if kind == "frame":
            fn = FrameNode(
                index=int(d["fi"]),
                name=str(d.get("name") or ""),
                src=str(d.get("src") or ""),
                blocked=bool(d.get("blocked")),
            )
            self.frame_nodes.append(fn)
            return fn
        raise ValueError(f"unknown outline node type {kind!r}")

    def container(self, d: dict[str, Any]) -> Container:
        return Container(
            role=str(d.get("role") or ""),
            name=str(d.get("name") or ""),
            kids=self.nodes(d["kids"]),
            modal=bool(d.get("modal")),
            states=tuple(str(s) for s in d.get("st") or ()),
        )


def parse_frame(frame: Frame, raw: dict[str, Any]) -> FrameResult:
    """Turn the collector's JSON for one frame into a :class:`FrameResult`."""
    parser = _Parser()
    dialogs = [parser.container(d) for d in raw["dialogs"]]
    body = parser.nodes(raw["body"])
    s = raw["scroll"]
    blocked = raw.get("blocked") or ""
    return FrameResult(
        frame=frame,
        url=str(raw.get("url") or ""),
        title=str(raw.get("title") or ""),
        dialogs=dialogs,
        body=body,
        blocked="modal" if blocked == "modal" else "overlay" if blocked == "overlay" else "",
        scroll=ScrollData(
            x=int(s["x"]),
            y=int(s["y"]),
            width=int(s["w"]),
            height=int(s["h"]),
            viewport_width=int(s["vw"]),
            viewport_height=int(s["vh"]),
            elements_below=int(s["below"]),
            elements_right=int(s["right"]),
            rows_below=int(s["rows"]),
        ),
        frame_nodes=parser.frame_nodes,
        collector_ms=round(sum(float(v) for v in (raw.get("ms") or {}).values()), 1),
    )


def redact_tree(result: FrameResult, hide: Callable[[str], str]) -> None:
    """Replace secret values in every string of the tree, in place (frames included).

    Runs before rendering: once the renderer shortens a long text, a secret cut in half would no
    longer match, so redaction cannot wait for the final text.
    """

    def el(e: El) -> None:
        e.name, e.hint, e.placeholder, e.description = (
            hide(e.name),
            hide(e.hint),
            hide(e.placeholder),
            hide(e.description),
        )
        if e.value is not None:
            e.value = hide(e.value)
        if e.invalid is not None:
            e.invalid = hide(e.invalid)
        if e.options is not None:
            e.options.shown = [hide(s) for s in e.options.shown]
            e.options.selected = [hide(s) for s in e.options.selected]

    def parts(items: list[Part]) -> None:
        for i, part in enumerate(items):
            if isinstance(part, str):
                items[i] = hide(part)
            else:
                el(part)

    def nodes(items: list[Node]) -> None:
        for node in items:
            if isinstance(node, Line | Heading):
                parts(node.parts)
            elif isinstance(node, Container):
                node.name = hide(node.name)
                nodes(node.kids)
            elif isinstance(node, Item):
                nodes(node.kids)
            elif isinstance(node, Seq):
                for item in node.head + node.tail:
                    nodes(item)
            elif isinstance(node, Table):
                node.name = hide(node.name)
                nodes([*node.header, node.body])
            elif isinstance(node, Row):
                if node.el is not None:
                    el(node.el)
                for cell in node.cells:
                    parts(cell)
            elif isinstance(node, FrameNode):
                node.name, node.src = hide(node.name), hide(node.src)
                if node.result is not None:
                    redact_tree(node.result, hide)

    result.title = hide(result.title)
    for dialog in result.dialogs:
        nodes([dialog])
    nodes(result.body)
