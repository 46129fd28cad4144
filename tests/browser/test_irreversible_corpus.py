"""The irreversible-action heuristics against the labelled corpus in fixtures/corpus/irreversible/.

Every labelled element is assessed with ``Policy()`` (heuristics only, the model declares nothing) in
real Chromium. The corpus must be caught completely (recall 100% on irreversible elements) and with
few false alarms (precision of 90% or better); the confusion matrix and every misclassified element are
printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.async_api import Page

from operator_agent.actions import Click, Fill, PageAction, Press
from operator_agent.guardrails.context import gather_context
from operator_agent.guardrails.heuristics import judge
from operator_agent.guardrails.policy import Policy
from operator_agent.guardrails.vocabulary import read_label, read_statement
from operator_agent.observe.refs import ElementRef
from operator_agent.testing.site_server import LocalServer, serve_directory

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus" / "irreversible"

Label = Literal["irreversible", "safe"]


@dataclass(frozen=True)
class Case:
    page: str
    selector: str
    action: str
    label: Label
    note: str


def _cases() -> list[Case]:
    document: dict[str, Any] = json.loads((CORPUS / "labels.json").read_text(encoding="utf-8"))
    return [
        Case(page, row["selector"], row["action"], row["label"], row.get("note", ""))
        for page, rows in document["pages"].items()
        for row in rows
    ]


CASES = _cases()


def _action(case: Case) -> PageAction:
    if case.action == "click":
        return Click(ref="e1")
    if case.action == "press_enter":
        return Press(ref="e1", keys="Enter")
    if case.action == "fill_submit":
        return Fill(ref="e1", text="42", submit=True)
    raise AssertionError(f"unknown action {case.action!r} in labels.json")


@pytest.fixture(scope="module")
def corpus_site() -> Iterator[LocalServer]:
    with serve_directory(CORPUS) as server:
        yield server


def test_labels_file_is_complete() -> None:
    assert len(CASES) >= 150
    pages = {case.page for case in CASES}
    assert {"de.html", "fr.html", "es.html", "pt.html", "modals.html", "icons.html", "links.html"} <= pages
    assert all((CORPUS / page).is_file() for page in pages)
    kinds = {case.action for case in CASES}
    assert kinds == {"click", "press_enter", "fill_submit"}
    counts = {label: sum(case.label == label for case in CASES) for label in ("irreversible", "safe")}
    assert counts["irreversible"] >= 60
    assert counts["safe"] >= 60
    keys = [(case.page, case.selector, case.action) for case in CASES]
    assert len(keys) == len(set(keys)), "a labelled element is listed twice with the same action"


@dataclass
class Outcome:
    case: Case
    flagged: bool
    reasons: tuple[str, ...]
    seconds: float
    baseline: float


async def _assess_page(page: Page, base: str, name: str, cases: list[Case]) -> list[Outcome]:
    await page.goto(f"{base}/{name}")
    selectors = [case.selector for case in cases]
    counts = await page.evaluate("(all) => all.map((s) => document.querySelectorAll(s).length)", selectors)
    ambiguous = {s: n for s, n in zip(selectors, counts, strict=True) if n != 1}
    assert not ambiguous, f"{name}: each selector must find exactly one element: {ambiguous}"
    policy = Policy()
    outcomes = []
    baseline = 0.0
    for index, case in enumerate(cases):
        element = ElementRef(
            ref="e1", frame=page.main_frame, selector=case.selector, role="", name="", tag=""
        )
        if index % 4 == 0:
            # A bare round trip to an element, measured among the decisions, is the time baseline.
            started = time.perf_counter()
            await page.locator(case.selector).evaluate("(e) => e.tagName")
            baseline = time.perf_counter() - started
        started = time.perf_counter()
        verdict = await policy.assess(_action(case), element, page=page)
        elapsed = time.perf_counter() - started
        assert verdict.decision != "block", "Policy() has no blocked selectors; nothing may be blocked"
        assert verdict.reasons, f"{name} {case.selector}: a verdict must say why"
        outcomes.append(
            Outcome(case, verdict.decision == "require_approval", verdict.reasons, elapsed, baseline)
        )
    return outcomes


async def test_corpus_recall_and_precision(page: Page, corpus_site: LocalServer) -> None:
    by_page: dict[str, list[Case]] = {}
    for case in CASES:
        by_page.setdefault(case.page, []).append(case)
    outcomes: list[Outcome] = []
    for name, cases in by_page.items():
        outcomes += await _assess_page(page, corpus_site.url, name, cases)

    tp = sum(o.flagged and o.case.label == "irreversible" for o in outcomes)
    fn = sum(not o.flagged and o.case.label == "irreversible" for o in outcomes)
    fp = sum(o.flagged and o.case.label == "safe" for o in outcomes)
    tn = sum(not o.flagged and o.case.label == "safe" for o in outcomes)
    recall = tp / (tp + fn)
    precision = tp / (tp + fp)
    times = sorted(o.seconds * 1000 for o in outcomes)
    baseline = statistics.median(o.baseline * 1000 for o in outcomes)
    print(f"\nirreversible corpus: {len(outcomes)} elements on {len(by_page)} pages")
    print("                      flagged   allowed")
    print(f"  irreversible      {tp:9d} {fn:9d}")
    print(f"  safe              {fp:9d} {tn:9d}")
    print(f"  recall {recall:.1%}  precision {precision:.1%}")
    print(
        f"  assess time: median {statistics.median(times):.1f} ms, "
        f"p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, max {times[-1]:.1f} ms "
        f"(a bare evaluate round trip: median {baseline:.1f} ms)"
    )
    for o in outcomes:
        if o.flagged != (o.case.label == "irreversible"):
            kind = "MISSED" if o.case.label == "irreversible" else "FALSE ALARM"
            print(f"  {kind}: {o.case.page} {o.case.selector} ({o.case.action}) {o.case.note}")
            print(f"      {' | '.join(o.reasons)}")
    missed = [
        f"{o.case.page} {o.case.selector}"
        for o in outcomes
        if o.case.label == "irreversible" and not o.flagged
    ]
    assert recall == 1.0, f"irreversible elements allowed without approval: {missed}"
    assert precision >= 0.9, f"precision {precision:.1%} is below 90%"
    # A decision is one script evaluation plus pure Python: close to one bare round trip, whatever the
    # machine's load (on an idle machine, a few milliseconds).
    median = statistics.median(times)
    assert median < 2 * baseline + 5, (
        f"median decision {median:.1f} ms vs a bare round trip {baseline:.1f} ms"
    )


async def test_rules_alone_are_fast(page: Page, corpus_site: LocalServer) -> None:
    """After the one evaluate, a decision is pure Python: well under a millisecond for a typical element."""
    timings = []
    for name in ("buttons-en.html", "modals.html", "de.html"):
        await page.goto(f"{corpus_site.url}/{name}")
        for case in (case for case in CASES if case.page == name):
            context = await gather_context(page.locator(case.selector))
            action = _action(case)
            read_label.cache_clear()
            read_statement.cache_clear()
            started = time.perf_counter()
            judge(action, context, page_url=page.url)
            timings.append((time.perf_counter() - started) * 1000)
    median = statistics.median(timings)
    print(f"\nrules alone: median {median:.3f} ms, max {max(timings):.3f} ms over {len(timings)} elements")
    assert median < 3, f"the rules took {median:.2f} ms for a typical element"
