"""What an observation is: the options that shape it and the result the model and the executor use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from operator_agent.observe.refs import ElementRef, RefMap

__all__ = ["Observation", "ObserveOptions", "ScrollInfo", "TabSummary", "Truncation"]


class ObserveOptions(BaseModel, frozen=True, extra="forbid"):
    """How a page is outlined for the model.

    The outline always fits ``max_tokens``: when it would not, the least important parts are cut
    progressively (long tables and lists first, then long text, then text far from the controls),
    and every cut is summarised in the outline itself and in ``Observation.truncations``.

    Attributes:
        max_tokens: The most tokens the outline may take (o200k_base, see ``count_tokens``).
        include_screenshot: Also take a PNG of the viewport, for vision models.
        redact: Values that must never appear in the outline (secrets the page echoes back);
            each occurrence is replaced with ``[REDACTED]``.
        table_head_rows: Rows shown from the top of a long table.
        table_tail_rows: Rows shown from the bottom of a long table.
        list_head_items: Items shown from the top of a long list (or a long run of repeated blocks).
        list_tail_items: Items shown from the bottom of a long list.
        max_select_options: Options listed for a ``<select>``; the rest are counted.
        max_text_chars: The longest run of page text shown in one line; the rest is counted.
        max_name_chars: The longest accessible name shown for an element.
        max_value_chars: The longest field value shown.
        include_frames: Read iframes (same- and cross-origin) and nest them in the outline.
    """

    max_tokens: int = Field(default=6000, ge=200)
    include_screenshot: bool = False
    redact: tuple[str, ...] = ()
    table_head_rows: int = Field(default=20, ge=1)
    table_tail_rows: int = Field(default=5, ge=0)
    list_head_items: int = Field(default=20, ge=1)
    list_tail_items: int = Field(default=5, ge=0)
    max_select_options: int = Field(default=20, ge=0)
    max_text_chars: int = Field(default=400, ge=40)
    max_name_chars: int = Field(default=100, ge=20)
    max_value_chars: int = Field(default=200, ge=20)
    include_frames: bool = True


@dataclass(frozen=True, slots=True)
class TabSummary:
    """One open tab of the browser context.

    Attributes:
        index: The tab's number (from 0, in the order the tabs were opened), as ``switch_tab`` takes it.
        title: The page title.
        url: The page URL.
        active: True for the observed tab.
    """

    index: int
    title: str
    url: str
    active: bool


@dataclass(frozen=True, slots=True)
class ScrollInfo:
    """Where the viewport is on the page and what lies beyond it.

    Attributes:
        x: Horizontal scroll offset in CSS pixels.
        y: Vertical scroll offset in CSS pixels.
        page_width: The scrollable width of the page.
        page_height: The scrollable height of the page.
        viewport_width: The viewport width.
        viewport_height: The viewport height.
        elements_below: Listed elements that start below the viewport.
        elements_right: Listed elements that start right of the viewport.
        rows_below: Table rows (listed or omitted) that start below the viewport.
    """

    x: int
    y: int
    page_width: int
    page_height: int
    viewport_width: int
    viewport_height: int
    elements_below: int = 0
    elements_right: int = 0
    rows_below: int = 0

    @property
    def pixels_below(self) -> int:
        """How far the page continues below the viewport."""
        return max(0, self.page_height - self.y - self.viewport_height)

    @property
    def pixels_right(self) -> int:
        """How far the page continues right of the viewport."""
        return max(0, self.page_width - self.x - self.viewport_width)

    def describe(self) -> str:
        """One line for the outline, such as ``y=0 of 9,800 px (viewport 1280×800); below: ...``."""
        if self.pixels_below == 0 and self.pixels_right == 0 and self.y == 0 and self.x == 0:
            text = f"the whole page is in view (viewport {self.viewport_width}×{self.viewport_height})"
            inner = []
            if self.rows_below:
                inner.append(f"{self.rows_below:,} table rows")
            if self.elements_below:
                inner.append(f"{self.elements_below:,} listed elements")
            if inner:
                text += "; scrollable areas hold more below the viewport: " + ", ".join(inner)
            return text
        text = f"y={self.y:,} of {self.page_height:,} px"
        if self.x or self.pixels_right:
            text = f"x={self.x:,} of {self.page_width:,} px, " + text
        text += f" (viewport {self.viewport_width}×{self.viewport_height})"
        beyond = []
        if self.pixels_below:
            below = [f"{self.pixels_below:,} px"]
            if self.rows_below:
                below.append(f"{self.rows_below:,} table rows")
            if self.elements_below:
                below.append(f"{self.elements_below:,} listed elements")
            beyond.append("below: " + ", ".join(below))
        else:
            beyond.append("at the bottom")
        if self.pixels_right:
            right = f"right: {self.pixels_right:,} px"
            if self.elements_right:
                right += f", {self.elements_right:,} listed elements"
            beyond.append(right)
        return text + "; " + "; ".join(beyond)


@dataclass(frozen=True, slots=True)
class Truncation:
    """One part of the page the outline does not show in full.

    Attributes:
        kind: What was cut: table ``rows``, list ``items``, long ``text``, select ``options``,
            an unreadable ``frame``, or a ``budget`` cut of whole lines to fit ``max_tokens``.
        where: Which part of the page, such as ``table "Invoices"``.
        omitted: How many rows, items, characters, options or lines were left out.
        summary: The sentence the outline shows in their place.
    """

    kind: Literal["rows", "items", "text", "options", "frame", "budget"]
    where: str
    omitted: int
    summary: str


@dataclass(frozen=True)
class Observation:
    """One observation of a page: the outline the model reads and the refs actions use.

    Attributes:
        url: The page URL.
        title: The page title (with ``redact`` values replaced).
        tabs: Every open tab of the browser context.
        text: The outline the model sees.
        refs: Every element listed in ``text``, by ref.
        token_count: Tokens in ``text`` (see ``count_tokens``); never more than ``max_tokens``.
        digest: SHA-256 of ``text``: equal digests mean the model saw the same page.
        screenshot_png: A PNG of the viewport when ``include_screenshot`` was set.
        scroll: Scroll position and what lies beyond the viewport.
        truncations: What the outline left out, in outline order.
    """

    url: str
    title: str
    tabs: tuple[TabSummary, ...]
    text: str
    refs: RefMap
    token_count: int
    digest: str
    screenshot_png: bytes | None
    scroll: ScrollInfo
    truncations: tuple[Truncation, ...] = ()

    def element(self, ref: str) -> ElementRef:
        """The element listed as ``ref``.

        Raises:
            UnknownRefError: If this observation lists no such ref.
        """
        return self.refs.resolve(ref)
