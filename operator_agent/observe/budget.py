"""Fitting the outline into ``max_tokens``, cutting the least important parts first.

The outline is rendered with the caller's limits; while it is too long it is rendered again with
tighter ones, in this order: long tables and lists keep fewer rows and items, long text runs,
names, values and select options get shorter, descriptions go, the text of a page hidden behind a
modal dialog goes, then plain page text goes (headings and elements stay). If even that is too
long, whole lines are cut from the end (the page before any dialog, the header last) and one line
says what was cut. Every step is summarised in the outline, so nothing disappears silently.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from playwright.async_api import Frame

from operator_agent.logs import redact_text, registered_secret_values
from operator_agent.observe.nodes import El, FrameResult, redact_tree
from operator_agent.observe.observation import ObserveOptions, Truncation
from operator_agent.observe.render import Limits, OutLine, Rendered, render_page

__all__ = ["Fitted", "fit_outline", "ladder"]


@dataclass(frozen=True, slots=True)
class Fitted:
    """The final outline: its text and token count, the elements it lists, what it left out."""

    text: str
    tokens: int
    elements: dict[str, tuple[El, Frame]]
    truncations: tuple[Truncation, ...]
    level: int


def ladder(options: ObserveOptions) -> list[Limits]:
    """The successive limits tried, from the caller's options to the tightest."""
    base = Limits(
        head_rows=options.table_head_rows,
        tail_rows=options.table_tail_rows,
        head_items=options.list_head_items,
        tail_items=options.list_tail_items,
        max_options=options.max_select_options,
        max_text=options.max_text_chars,
        max_name=options.max_name_chars,
        max_value=options.max_value_chars,
    )
    steps: list[dict[str, int | bool]] = [
        {"rows": 15, "tail": 4, "options": 15, "text": 300, "name": 100, "value": 160},
        {"rows": 10, "tail": 3, "options": 10, "text": 200, "name": 80, "value": 120},
        {"rows": 7, "tail": 2, "options": 7, "text": 150, "name": 70, "value": 100},
        {"rows": 5, "tail": 2, "options": 5, "text": 120, "name": 60, "value": 80, "descriptions": False},
        {"rows": 3, "tail": 1, "options": 3, "text": 60, "name": 50, "value": 60, "background": False},
        {"rows": 2, "tail": 1, "options": 0, "text": 0, "name": 40, "value": 40},
    ]
    out = [base]
    current = base
    for step in steps:
        current = replace(
            current,
            head_rows=min(current.head_rows, int(step["rows"])),
            tail_rows=min(current.tail_rows, int(step["tail"])),
            head_items=min(current.head_items, int(step["rows"])),
            tail_items=min(current.tail_items, int(step["tail"])),
            max_options=min(current.max_options, int(step["options"])),
            max_text=min(current.max_text, int(step["text"])),
            max_name=min(current.max_name, int(step["name"])),
            max_value=min(current.max_value, int(step["value"])),
            descriptions=current.descriptions and bool(step.get("descriptions", True)),
            background_text=current.background_text and bool(step.get("background", True)),
        )
        out.append(current)
    return out


def registered_secrets() -> frozenset[str]:
    """The secret values registered for log redaction in this context (they are hidden here too)."""
    return registered_secret_values()


def _join(lines: Iterable[OutLine]) -> str:
    return "\n".join(line.render() for line in lines)


def _cut_line(cut: list[OutLine], max_tokens: int) -> OutLine:
    refs = [ref for line in cut for ref in line.refs]
    what = f"{len(cut):,} more lines not shown"
    if refs:
        what += (
            f" ({len(refs):,} elements, {refs[0]}–{refs[-1]})"
            if len(refs) > 1
            else f" (1 element, {refs[0]})"
        )
    text = f"… outline cut to fit max_tokens={max_tokens:,}: {what}; scroll, search or extract to reach them"
    return OutLine(depth=0, text=text)


def _hard_cut(
    rendered: Rendered, max_tokens: int, measure: Callable[[str], tuple[str, int]]
) -> tuple[str, int, list[OutLine], Truncation]:
    """Keep the longest prefix of lines that fits with a closing line saying what was cut."""
    header = [line for line in rendered.lines if line.section == "header"]
    body = [line for line in rendered.lines if line.section != "header"]

    def attempt(keep: int, head: list[OutLine]) -> tuple[str, int, list[OutLine]]:
        kept = head + body[:keep]
        text, tokens = measure(_join([*kept, _cut_line(body[keep:], max_tokens)]))
        return text, tokens, kept

    head = header
    text, tokens, kept = attempt(0, head)
    if tokens > max_tokens:
        # A huge URL or title: shorten the header lines themselves.
        head = [OutLine(depth=0, text=line.text[:160] + "…", section="header") for line in header]
        text, tokens, kept = attempt(0, head)
    lo, hi = 0, len(body) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if attempt(mid, head)[1] <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    if lo > 0:
        text, tokens, kept = attempt(lo, head)
    omitted = len(body) - lo
    summary = _cut_line(body[lo:], max_tokens).text
    return text, tokens, kept, Truncation(kind="budget", where="outline", omitted=omitted, summary=summary)


def _shrink_to(text: str, max_tokens: int, measure: Callable[[str], tuple[str, int]]) -> tuple[str, int]:
    """Last resort for absurdly small budgets: cut characters until the text fits."""
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(text[:mid])[1] <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    return measure(text[:lo])


def fit_outline(
    main: FrameResult,
    header: list[str],
    options: ObserveOptions,
    count: Callable[[str], int],
) -> Fitted:
    """Render ``main`` under the tightest limits needed to fit ``options.max_tokens``.

    Redaction (``options.redact`` and the secret values registered for logging) is applied to the
    collected tree before anything is shortened, and again to the final text; the count is the
    count of what the model receives.
    """
    secrets = tuple(v for v in options.redact if v)

    def hide(text: str) -> str:
        return redact_text(redact_text(text, secrets))

    def measure(text: str) -> tuple[str, int]:
        text = hide(text)
        return text, count(text)

    if secrets or registered_secrets():
        redact_tree(main, hide)
        header = [hide(line) for line in header]

    rendered: Rendered | None = None
    for level, limits in enumerate(ladder(options)):
        rendered = render_page(main, header, limits)
        text, tokens = measure(_join(rendered.lines))
        if tokens <= options.max_tokens:
            return Fitted(
                text=text,
                tokens=tokens,
                elements=rendered.elements,
                truncations=tuple(rendered.truncations),
                level=level,
            )
    assert rendered is not None
    text, tokens, kept, cut = _hard_cut(rendered, options.max_tokens, measure)
    if tokens > options.max_tokens:
        text, tokens = _shrink_to(text, options.max_tokens, measure)
        kept = []
    kept_refs = {ref for line in kept for ref in line.refs}
    elements = {ref: value for ref, value in rendered.elements.items() if ref in kept_refs}
    return Fitted(
        text=text,
        tokens=tokens,
        elements=elements,
        truncations=(*rendered.truncations, cut),
        level=len(ladder(options)),
    )
