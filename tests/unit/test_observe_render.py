"""Rendering the collected tree and fitting it into the token budget (no browser)."""

from __future__ import annotations

from typing import Any, cast

import pytest
from playwright.async_api import Frame

from operator_agent.observe import ObserveOptions, ScrollInfo, count_tokens
from operator_agent.observe.budget import fit_outline, ladder
from operator_agent.observe.nodes import FrameResult, parse_frame
from operator_agent.observe.render import format_element, render_page

FRAME = cast(Frame, object())
HEADER = ["url: http://127.0.0.1/invoices", "title: Invoices", "tabs: only this one", "scroll: whole page"]


def el(ref: str | None, role: str, name: str, **extra: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"t": "el", "role": role, "name": name, "tag": "button", **extra}
    if ref is not None:
        node["ref"] = ref
    return node


def page(
    body: list[dict[str, Any]], dialogs: list[dict[str, Any]] | None = None, blocked: str = ""
) -> FrameResult:
    raw = {
        "url": "http://127.0.0.1/invoices",
        "title": "Invoices",
        "dialogs": dialogs or [],
        "body": body,
        "blocked": blocked,
        "scroll": {
            "x": 0,
            "y": 0,
            "w": 1280,
            "h": 800,
            "vw": 1280,
            "vh": 800,
            "below": 0,
            "right": 0,
            "rows": 0,
        },
    }
    return parse_frame(FRAME, raw)


def table(rows: int, head: int = 20, tail: int = 5) -> dict[str, Any]:
    def row(i: int) -> list[dict[str, Any]]:
        cells = [[f"INV-{i:05d}"], ["Acme Corp"], [f"€{i}.00"], [el(f"e{i}", "button", "Approve")]]
        return [{"t": "row", "cells": cells}]

    tail_start = rows - tail if rows > head + tail + 2 else rows
    shown_head = range(1, min(head, rows) + 1) if rows > head + tail + 2 else range(1, rows + 1)
    return {
        "t": "table",
        "name": "Invoices",
        "cols": 4,
        "header": [{"t": "row", "cells": [["Number"], ["Customer"], ["Amount"], ["Actions"]]}],
        "body": {
            "t": "seq",
            "kind": "rows",
            "total": rows,
            "head": [row(i) for i in shown_head],
            "tail": [row(i) for i in range(tail_start + 1, rows + 1)],
            "tailStart": tail_start,
            "below": rows - 10,
        },
    }


def test_elements_show_role_name_value_and_states() -> None:
    limits = ladder(ObserveOptions())[0]
    parsed = page(
        [
            {
                "t": "line",
                "p": [el("e1", "textbox", "Email", v="a@b.c", st=["required"], inv="Enter a valid email")],
            },
            {"t": "line", "p": [el("e2", "textbox", "Password", secret=1, hv=1)]},
            {"t": "line", "p": [el("e3", "generic", "", hint=".icon-close")]},
            {
                "t": "line",
                "p": [
                    el(
                        "e4",
                        "combobox",
                        "Country",
                        opts={"n": 40, "list": ["France", "Germany"], "sel": ["Germany"]},
                    )
                ],
            },
        ]
    )
    lines = [line.text for line in render_page(parsed, [], limits).lines]
    assert lines == [
        '[e1] textbox "Email" value="a@b.c" required invalid: "Enter a valid email"',
        '[e2] textbox "Password" value=••• (hidden)',
        "[e3] clickable (.icon-close)",
        '[e4] combobox "Country" value="Germany" options: France | Germany … +38 more',
    ]


def test_quotes_in_names_are_escaped() -> None:
    limits = ladder(ObserveOptions())[0]
    parsed = parse_frame(FRAME, {**_raw(), "body": [{"t": "line", "p": [el("e1", "link", 'Say "hi"')]}]})
    element = parsed.body[0].parts[0]  # type: ignore[union-attr]
    assert format_element(element, limits) == '[e1] link "Say \\"hi\\""'


def _raw() -> dict[str, Any]:
    return {
        "url": "u",
        "title": "t",
        "dialogs": [],
        "body": [],
        "blocked": "",
        "scroll": {"x": 0, "y": 0, "w": 1, "h": 1, "vw": 1, "vh": 1, "below": 0, "right": 0, "rows": 0},
    }


def test_a_long_table_keeps_head_and_tail_with_a_summary() -> None:
    rendered = render_page(page([table(2000)]), HEADER, ladder(ObserveOptions())[0])
    texts = [line.text for line in rendered.lines]
    assert texts[4] == 'table "Invoices" (2,000 rows × 4 columns; 1,990 below the viewport):'
    assert texts[5] == "Number | Customer | Amount | Actions"
    assert texts[6] == 'INV-00001 | Acme Corp | €1.00 | [e1] button "Approve"'
    gap = texts.index("… 1,975 rows omitted (rows 21–1,995); scroll, search or extract to reach them")
    assert texts[gap - 1].startswith("INV-00020")
    assert texts[gap + 1].startswith("INV-01996")
    assert list(rendered.elements) == [f"e{i}" for i in [*range(1, 21), *range(1996, 2001)]]


def test_tighter_limits_shrink_the_table_and_renumber_nothing() -> None:
    limits = ladder(ObserveOptions())[4]  # 5 head rows, 2 tail rows
    rendered = render_page(page([table(2000)]), HEADER, limits)
    assert "… 1,993 rows omitted (rows 6–1,998); scroll, search or extract to reach them" in [
        line.text for line in rendered.lines
    ]
    assert list(rendered.elements) == ["e1", "e2", "e3", "e4", "e5", "e1999", "e2000"]


def test_a_short_table_is_not_truncated() -> None:
    rendered = render_page(page([table(27)]), HEADER, ladder(ObserveOptions())[0])
    assert not rendered.truncations
    assert len(rendered.elements) == 27


def test_dialogs_come_first_and_the_blocked_page_is_labelled() -> None:
    dialog = {
        "t": "c",
        "role": "dialog",
        "name": "Confirm",
        "modal": 1,
        "kids": [{"t": "line", "p": ["Sure?"]}],
    }
    body = [{"t": "line", "p": [el(None, "button", "Delete", blocked=1)]}]
    text = [
        line.render()
        for line in render_page(page(body, [dialog], "modal"), [], ladder(ObserveOptions())[0]).lines
    ]
    assert text == [
        'dialog "Confirm" (modal):',
        "  Sure?",
        "page (behind the modal dialog; only what is listed with a ref can be used now):",
        '  button "Delete" (blocked)',
    ]


@pytest.mark.parametrize("max_tokens", [200, 350, 700, 1500, 6000])
def test_fit_outline_always_respects_the_budget(max_tokens: int) -> None:
    paragraphs = [
        {"t": "line", "p": [f"Paragraph {i}: " + "lorem ipsum dolor sit amet " * 30]} for i in range(40)
    ]
    dialog = {
        "t": "c",
        "role": "dialog",
        "name": "Heads up",
        "kids": [{"t": "line", "p": [el("e9000", "button", "OK")]}],
    }
    parsed = page([table(2000), *paragraphs], [dialog])
    fitted = fit_outline(parsed, HEADER, ObserveOptions(max_tokens=max_tokens), count_tokens)
    assert fitted.tokens == count_tokens(fitted.text) <= max_tokens
    assert fitted.text.startswith(HEADER[0])
    assert '[e9000] button "OK"' in fitted.text  # the dialog survives every cut
    assert all(f"[{ref}]" in fitted.text for ref in fitted.elements)
    for cut in fitted.truncations:
        if cut.kind == "budget":
            assert cut.summary in fitted.text


def test_budget_steps_are_summarised() -> None:
    paragraphs = [{"t": "line", "p": ["word " * 200]} for _ in range(30)]
    fitted = fit_outline(page(paragraphs), HEADER, ObserveOptions(max_tokens=1500), count_tokens)
    kinds = {t.kind for t in fitted.truncations}
    assert "text" in kinds
    summary = next(t.summary for t in fitted.truncations if t.kind == "text")
    assert "extract to read" in summary


def test_redaction_happens_before_counting() -> None:
    secret = "sk-live-" + "x" * 400
    parsed = page(
        [{"t": "line", "p": [f"key {secret}"]}, {"t": "line", "p": [el("e1", "button", f"Rotate {secret}")]}]
    )
    fitted = fit_outline(parsed, HEADER, ObserveOptions(max_tokens=300, redact=(secret,)), count_tokens)
    assert secret not in fitted.text
    assert fitted.text.count("[REDACTED]") == 2
    assert fitted.tokens == count_tokens(fitted.text)


def test_unchanged_input_renders_identically() -> None:
    first = fit_outline(page([table(500)]), HEADER, ObserveOptions(max_tokens=900), count_tokens)
    second = fit_outline(page([table(500)]), HEADER, ObserveOptions(max_tokens=900), count_tokens)
    assert first.text == second.text


def test_scroll_info_describes_what_lies_beyond() -> None:
    info = ScrollInfo(
        x=0,
        y=1200,
        page_width=1280,
        page_height=9800,
        viewport_width=1280,
        viewport_height=800,
        rows_below=412,
    )
    assert info.pixels_below == 7800
    assert info.describe() == "y=1,200 of 9,800 px (viewport 1280×800); below: 7,800 px, 412 table rows"
    whole = ScrollInfo(x=0, y=0, page_width=1280, page_height=800, viewport_width=1280, viewport_height=800)
    assert whole.describe() == "the whole page is in view (viewport 1280×800)"
