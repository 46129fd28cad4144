"""Running the page-side collector: one evaluate per frame, iframes matched to where they sit.

The main frame is read first. Its collector returns one placeholder per visible iframe (in document
order) and remembers the iframe elements on the window; each child :class:`~playwright.async_api.Frame`
is matched to its placeholder through ``frame_element()``. Frames of one nesting level are read
concurrently, and numbered breadth-first in document order: refs in the first iframe are ``f1e1``,
``f1e2``..., so adding an element to the page does not renumber the refs inside its frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Locator

from operator_agent.errors import BrowserError
from operator_agent.logs import get_logger
from operator_agent.observe.nodes import (
    Container,
    El,
    FrameResult,
    Heading,
    Item,
    Line,
    Node,
    Row,
    Seq,
    Table,
    parse_frame,
)
from operator_agent.observe.observation import ObserveOptions
from operator_agent.observe.refs import REF_ATTRIBUTE, SECRET_ATTRIBUTE

__all__ = ["CollectSettings", "all_refs", "collect_element", "collect_page", "drop_stamps"]

_log = get_logger("operator_agent.observe")

#: The window property where the collector keeps the elements it stamped and the iframes it saw.
REGISTRY_KEY = "__operatorAgentObserve"


def _compact(source: str) -> str:
    """Drop comment lines and indentation: the source travels to the page on every evaluate."""
    lines = (line.strip() for line in source.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//"))


_SOURCE = _compact(
    "\n".join(
        resources.files("operator_agent.observe").joinpath(name).read_text(encoding="utf-8")
        for name in ("elements.js", "collector.js")
    )
)
# The collector is sent once per document and kept on its window under a key that changes with its
# source; later observations of the same document call it without sending it again. The result
# travels as one JSON string: much cheaper than Playwright's value-by-value serialization.
_FN_KEY = f"{REGISTRY_KEY}Fn{hashlib.sha1(_SOURCE.encode()).hexdigest()[:12]}"
_FAST_FN = """(o) => {
  const f = window[o.fnKey];
  return typeof f === 'function' ? f(document, o) : null;
}"""
_PAGE_FN = (
    "(o) => {\n"
    + _SOURCE
    + "\ntry { Object.defineProperty(window, o.fnKey, { value: collectJson, configurable: true }); }"
    + " catch (e) {}"
    + "\nreturn collectJson(document, o);\n}"
)
_ELEMENT_FN = "(el, o) => {\n" + _SOURCE + "\nreturn collectJson(el, o);\n}"

_MAP_FN = """(el, [key, slot]) => {
  const reg = window[key];
  return reg && Array.isArray(reg[slot]) ? reg[slot].indexOf(el) : -1;
}"""

_DROP_FN = """([key, attr, refs]) => {
  const reg = window[key];
  if (!reg || !(reg.refs instanceof Map)) return;
  for (const ref of refs) {
    const el = reg.refs.get(ref);
    if (el && el.getAttribute(attr) === ref) el.removeAttribute(attr);
    reg.refs.delete(ref);
  }
}"""

_NAVIGATING = ("Execution context was destroyed", "Cannot find context", "navigat", "Target closed")
_MAX_FRAMES = 40
_FRAME_TIMEOUT_S = 5.0
_MAIN_TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class CollectSettings:
    """What the collector needs to know, taken from :class:`ObserveOptions`."""

    mode: Literal["outline", "text"]
    head_rows: int = 20
    tail_rows: int = 5
    head_items: int = 20
    tail_items: int = 5
    max_options: int = 20
    max_name: int = 100
    max_value: int = 200
    include_frames: bool = True

    @classmethod
    def from_options(cls, options: ObserveOptions) -> CollectSettings:
        return cls(
            mode="outline",
            head_rows=options.table_head_rows,
            tail_rows=options.table_tail_rows,
            head_items=options.list_head_items,
            tail_items=options.list_tail_items,
            max_options=options.max_select_options,
            max_name=options.max_name_chars,
            max_value=options.max_value_chars,
            include_frames=options.include_frames,
        )

    def js(self, *, prefix: str, blocked_all: bool) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "prefix": prefix,
            "attr": REF_ATTRIBUTE,
            "secretAttr": SECRET_ATTRIBUTE,
            "key": REGISTRY_KEY,
            "fnKey": _FN_KEY,
            "headRows": self.head_rows,
            "tailRows": self.tail_rows,
            "headItems": self.head_items,
            "tailItems": self.tail_items,
            "maxOptions": self.max_options,
            "maxName": self.max_name,
            "maxValue": self.max_value if self.mode == "outline" else 100_000,
            "repeatMin": 12,
            "blockedAll": blocked_all,
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


async def _read(frame: Frame, args: dict[str, Any]) -> FrameResult:
    """Run the collector in ``frame``: the installed copy if the document has one, else the source."""
    raw = await frame.evaluate(_FAST_FN, args)
    if isinstance(raw, str):
        try:
            return parse_frame(frame, json.loads(raw))
        except (ValueError, KeyError, TypeError):
            # The page replaced or broke the installed copy: send the collector again.
            _log.debug("installed collector gave an unreadable result; sending it again", url=frame.url)
    raw = await frame.evaluate(_PAGE_FN, args)
    try:
        return parse_frame(frame, json.loads(raw))
    except (ValueError, KeyError, TypeError) as exc:
        raise BrowserError(
            f"could not read the page at {frame.url}: the collector returned an unexpected result "
            f"({type(exc).__name__}: {exc})"
        ) from exc


async def _evaluate_main(frame: Frame, settings: CollectSettings) -> FrameResult:
    """Read the main frame, waiting out a navigation that destroys the context mid-read."""
    attempts = 3
    for attempt in range(attempts):
        try:
            return await asyncio.wait_for(
                _read(frame, settings.js(prefix="e", blocked_all=False)), _MAIN_TIMEOUT_S
            )
        except TimeoutError as exc:
            raise BrowserError(
                f"could not read the page at {frame.url}: "
                f"the page did not answer within {_MAIN_TIMEOUT_S:.0f} s"
            ) from exc
        except PlaywrightError as exc:
            message = str(exc)
            if attempt + 1 < attempts and any(marker in message for marker in _NAVIGATING):
                _log.debug("page navigated while being observed; reading it again", url=frame.url)
                try:
                    await frame.wait_for_load_state("domcontentloaded", timeout=10_000)
                except PlaywrightError:
                    await asyncio.sleep(0.1)
                continue
            raise BrowserError(f"could not read the page at {frame.url}: {_first_line(exc)}") from exc
    raise BrowserError(f"could not read the page at {frame.url}: it kept navigating")  # pragma: no cover


async def _placeholder(child: Frame, slot: str) -> int:
    """The index of the iframe element holding ``child`` among its parent's placeholders, or -1."""
    try:
        handle = await child.frame_element()
    except PlaywrightError:
        return -1
    try:
        index = await handle.evaluate(_MAP_FN, [REGISTRY_KEY, slot])
        return int(index) if isinstance(index, int | float) else -1
    except PlaywrightError:
        return -1
    finally:
        with contextlib.suppress(PlaywrightError):
            await handle.dispose()


async def _evaluate_child(frame: Frame, settings: CollectSettings, prefix: str, blocked: bool) -> FrameResult:
    args = settings.js(prefix=prefix, blocked_all=blocked)
    return await asyncio.wait_for(_read(frame, args), _FRAME_TIMEOUT_S)


async def _collect_frames(main: FrameResult, settings: CollectSettings) -> None:
    slot = "frames" if settings.mode == "outline" else "textFrames"
    level = [main]
    numbered = 0
    while level:
        pairs = []
        for parent in level:
            if not parent.frame_nodes:
                continue
            children = [c for c in parent.frame.child_frames if not c.is_detached()]
            indices = await asyncio.gather(*(_placeholder(c, slot) for c in children))
            by_index = {i: c for c, i in zip(children, indices, strict=True) if i >= 0}
            for node in parent.frame_nodes:
                child = by_index.get(node.index)
                if child is None:
                    node.error = "its document is not loaded"
                    continue
                if numbered >= _MAX_FRAMES:
                    node.error = f"not read: the page has more than {_MAX_FRAMES} frames"
                    continue
                numbered += 1
                pairs.append((node, child, f"f{numbered}e"))
        results = await asyncio.gather(
            *(_evaluate_child(child, settings, prefix, node.blocked) for node, child, prefix in pairs),
            return_exceptions=True,
        )
        level = []
        for (node, child, _prefix), result in zip(pairs, results, strict=True):
            if isinstance(result, FrameResult):
                node.result = result
                level.append(result)
            else:
                reason = (
                    "it did not answer in time" if isinstance(result, TimeoutError) else _first_line(result)
                )
                node.error = reason
                _log.debug("iframe could not be read", url=child.url, reason=reason)


async def collect_page(frame: Frame, settings: CollectSettings) -> FrameResult:
    """Read a frame (normally the main frame) and, unless disabled, every iframe in it.

    Raises:
        BrowserError: If the main frame cannot be read (page closed, crashed or hung).
    """
    main = await _evaluate_main(frame, settings)
    if settings.include_frames and main.frame_nodes:
        await _collect_frames(main, settings)
    return main


async def collect_element(frame: Frame, locator: Locator, settings: CollectSettings) -> FrameResult:
    """Read one element of ``frame`` (text mode): everything inside it, iframes included.

    Raises:
        BrowserError: If the element cannot be read.
    """
    try:
        raw = await locator.evaluate(_ELEMENT_FN, settings.js(prefix="e", blocked_all=False), timeout=5_000)
        result = parse_frame(frame, json.loads(raw))
    except PlaywrightError as exc:
        raise BrowserError(f"could not read the element {locator}: {_first_line(exc)}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        message = f"could not read the element {locator}: unexpected collector result ({exc})"
        raise BrowserError(message) from exc
    if settings.include_frames and result.frame_nodes:
        await _collect_frames(result, settings)
    return result


def _walk_refs(nodes: list[Node], out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, Line | Heading):
            out.extend(p.ref for p in node.parts if isinstance(p, El) and p.ref)
        elif isinstance(node, Row):
            if node.el is not None and node.el.ref:
                out.append(node.el.ref)
            for cell in node.cells:
                out.extend(p.ref for p in cell if isinstance(p, El) and p.ref)
        elif isinstance(node, Container | Item):
            _walk_refs(node.kids, out)
        elif isinstance(node, Seq):
            for item in node.head + node.tail:
                _walk_refs(item, out)
        elif isinstance(node, Table):
            _walk_refs([*node.header, node.body], out)


def all_refs(result: FrameResult) -> dict[Frame, list[str]]:
    """Every ref the collector stamped, by frame (including refs the outline did not show)."""
    by_frame: dict[Frame, list[str]] = {}
    pending = [result]
    while pending:
        current = pending.pop()
        refs: list[str] = []
        for dialog in current.dialogs:
            _walk_refs([dialog], refs)
        _walk_refs(current.body, refs)
        by_frame[current.frame] = refs
        pending.extend(n.result for n in current.frame_nodes if n.result is not None)
    return by_frame


async def drop_stamps(dropped: dict[Frame, list[str]]) -> None:
    """Remove the ref stamps of elements the outline ended up not listing (after a budget cut)."""

    async def one(frame: Frame, refs: list[str]) -> None:
        try:
            await frame.evaluate(_DROP_FN, [REGISTRY_KEY, REF_ATTRIBUTE, refs])
        except PlaywrightError as exc:
            _log.debug("could not clear unused ref stamps", url=frame.url, reason=_first_line(exc))

    await asyncio.gather(*(one(frame, refs) for frame, refs in dropped.items() if refs))
