"""``observe()``: read a page into an :class:`Observation` the model can act on."""

from __future__ import annotations

import asyncio
import hashlib
import time

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from operator_agent.errors import BrowserError
from operator_agent.logs import get_logger, redact_text
from operator_agent.observe.budget import fit_outline
from operator_agent.observe.collect import CollectSettings, all_refs, collect_page, drop_stamps
from operator_agent.observe.nodes import FrameResult
from operator_agent.observe.observation import Observation, ObserveOptions, ScrollInfo, TabSummary
from operator_agent.observe.refs import REF_ATTRIBUTE, ElementRef, RefMap
from operator_agent.observe.tokens import count_tokens, token_counter_kind, tokenizer_loaded

__all__ = ["observe"]

_log = get_logger("operator_agent.observe")
_TITLE_TIMEOUT_S = 1.0


async def _title(page: Page) -> str:
    try:
        return await asyncio.wait_for(page.title(), _TITLE_TIMEOUT_S)
    except (PlaywrightError, TimeoutError):
        return ""


async def _tabs(page: Page, title: str) -> tuple[TabSummary, ...]:
    pages = [p for p in page.context.pages if not p.is_closed()]
    titles = await asyncio.gather(*(_title(p) for p in pages if p is not page))
    others = iter(titles)
    return tuple(
        TabSummary(index=i, title=title if p is page else next(others), url=p.url, active=p is page)
        for i, p in enumerate(pages)
    )


def _scroll(main: FrameResult) -> ScrollInfo:
    s = main.scroll
    return ScrollInfo(
        x=s.x,
        y=s.y,
        page_width=s.width,
        page_height=s.height,
        viewport_width=s.viewport_width,
        viewport_height=s.viewport_height,
        elements_below=s.elements_below,
        elements_right=s.elements_right,
        rows_below=s.rows_below,
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header(url: str, title: str, tabs: tuple[TabSummary, ...], scroll: ScrollInfo) -> list[str]:
    lines = [f"url: {url}", f"title: {title}" if title else "title: (none)"]
    if len(tabs) <= 1:
        lines.append("tabs: only this one")
    else:
        described = []
        for tab in tabs:
            name = f'{tab.index} "{_clip(tab.title, 60)}"' if tab.title else f"{tab.index} (untitled)"
            described.append(name + (" (this tab)" if tab.active else f" {_clip(tab.url, 80)}"))
        lines.append("tabs: " + " | ".join(described))
    lines.append("scroll: " + scroll.describe())
    return lines


async def observe(page: Page, *, options: ObserveOptions | None = None) -> Observation:
    """Read ``page`` into an outline with refs, within the token budget.

    One collector call per frame walks the rendered DOM (open shadow roots and iframes included),
    stamps each usable element with its ref (``data-oa-ref``) and clears the stamps of the previous
    observation. Open dialogs come first, then the page.

    Args:
        page: The page (tab) to observe; the other tabs of its context are listed.
        options: Token budget, redaction, truncation limits, screenshot.

    Returns:
        The observation; ``observation.refs`` resolves every ref shown in ``observation.text``.

    Raises:
        BrowserError: If the page is closed or cannot be read.
    """
    options = options or ObserveOptions()
    if page.is_closed():
        raise BrowserError("cannot observe a closed page")
    started = time.perf_counter()
    # The first count loads the encoding (a few hundred ms): do it in a thread, while the page is read.
    loading = None if tokenizer_loaded() else asyncio.ensure_future(asyncio.to_thread(token_counter_kind))
    shot: asyncio.Task[bytes] | None = None
    if options.include_screenshot:
        shot = asyncio.ensure_future(page.screenshot(type="png", timeout=10_000))
    try:
        main = await collect_page(page.main_frame, CollectSettings.from_options(options))
        tabs = await _tabs(page, main.title)
    except BaseException:
        for task in (shot, loading):
            if task is not None:
                task.cancel()
        raise
    if loading is not None:
        await loading
    secrets = tuple(v for v in options.redact if v)

    def hide(text: str) -> str:
        return redact_text(redact_text(text, secrets))

    scroll = _scroll(main)
    title = hide(main.title)
    tabs = tuple(TabSummary(index=t.index, title=hide(t.title), url=t.url, active=t.active) for t in tabs)
    fitted = fit_outline(main, _header(main.url or page.url, main.title, tabs, scroll), options, count_tokens)

    refs = RefMap(
        {
            ref: ElementRef(
                ref=ref,
                frame=frame,
                selector=f'[{REF_ATTRIBUTE}="{ref}"]',
                role=el.role,
                name=hide(el.name),
                tag=el.tag,
                input_type=el.input_type,
                is_secret=el.secret,
            )
            for ref, (el, frame) in fitted.elements.items()
        }
    )
    dropped = {frame: [r for r in stamped if r not in refs] for frame, stamped in all_refs(main).items()}
    if any(dropped.values()):
        await drop_stamps(dropped)

    screenshot: bytes | None = None
    if shot is not None:
        try:
            screenshot = await shot
        except PlaywrightError as exc:
            raise BrowserError(f"could not take a screenshot of {page.url}: {exc}") from exc

    digest = hashlib.sha256(fitted.text.encode("utf-8")).hexdigest()
    _log.debug(
        "observed page",
        url=main.url,
        tokens=fitted.tokens,
        refs=len(refs),
        truncations=len(fitted.truncations),
        budget_level=fitted.level,
        collector_ms=main.collector_ms,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return Observation(
        url=main.url or page.url,
        title=title,
        tabs=tabs,
        text=fitted.text,
        refs=refs,
        token_count=fitted.tokens,
        digest=digest,
        screenshot_png=screenshot,
        scroll=scroll,
        truncations=fitted.truncations,
    )
