"""Benchmark: how fast and how small an observation is, against Playwright's own snapshot, same run.

Two pages, each observed many times, interleaved with the baseline so both see the same machine:

* ``invoices-2000``: the mock back office's invoice list showing 2,000 rows on one page
  (``serve_backoffice(invoice_count=2000)``, ``/invoices?per_page=2000``); when the back office is
  not importable, the 2,000-row fixture table in ``fixtures/pages/observe/table.html``.
* ``form-15``: a 15-field supplier form (``fixtures/pages/observe/form.html``); every field must be
  addressable by a ref.

The baseline is ``page.aria_snapshot(mode="ai")`` when this Playwright supports it (else the body's
``aria_snapshot()``): its time, and its size counted with the same tokenizer.

Usage::

    .venv/bin/python bench/observe.py [--runs 15] [--baseline-runs 5] [--check]

``--check`` exits with status 1 when a target is missed (time, tokens or addressability).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import BrowserContext, Page, async_playwright

from operator_agent.browser.discovery import chromium_args, find_chromium
from operator_agent.observe import REF_ATTRIBUTE, count_tokens, observe
from operator_agent.testing.site_server import serve_directory

PAGES = Path(__file__).resolve().parents[1] / "fixtures" / "pages" / "observe"


@dataclass(frozen=True)
class Scenario:
    name: str
    max_ms: float
    max_tokens: int
    check_fields: bool = False


@dataclass(frozen=True)
class Result:
    scenario: Scenario
    source: str
    ours_ms: float
    base_ms: float
    ours_tokens: int
    base_tokens: int
    refs: int
    unaddressable: int

    @property
    def ok(self) -> bool:
        return (
            self.ours_ms <= self.scenario.max_ms
            and self.ours_tokens <= self.scenario.max_tokens
            and (self.unaddressable == 0)
        )


_AI_MODE = "mode" in inspect.signature(Page.aria_snapshot).parameters

# Form fields that carry no ref themselves and whose labels carry none either (a label may stand in
# for a visually hidden checkbox).
_UNADDRESSABLE_FIELDS = """(attr) => Array.from(document.querySelectorAll('form :is(input,select,textarea)'))
  .filter((el) => el.type !== 'hidden' && !el.hasAttribute(attr))
  .filter((el) => !(el.labels && Array.from(el.labels).some((label) => label.hasAttribute(attr))))
  .map((el) => el.name || el.id)"""


async def baseline(page: Page) -> str:
    if _AI_MODE:
        return await page.aria_snapshot(mode="ai")
    return await page.locator("body").aria_snapshot()


async def _timed(work: Callable[[], Awaitable[object]]) -> float:
    started = time.perf_counter()
    await work()
    return (time.perf_counter() - started) * 1000


async def run_scenario(page: Page, scenario: Scenario, source: str, runs: int, baseline_runs: int) -> Result:
    # Warm up both sides (JIT, style and layout caches), then measure each side in its own block:
    # interleaving would charge one side for the garbage the other leaves in the renderer.
    await observe(page)
    await baseline(page)
    ours = [await _timed(lambda: observe(page)) for _ in range(runs)]
    base = [await _timed(lambda: baseline(page)) for _ in range(baseline_runs)]
    observation = await observe(page)
    snapshot = await baseline(page)
    missing: list[str] = []
    if scenario.check_fields:
        missing = await page.evaluate(_UNADDRESSABLE_FIELDS, REF_ATTRIBUTE)
    if missing:
        print(f"  {scenario.name}: fields without a ref: {', '.join(missing)}", file=sys.stderr)
    return Result(
        scenario=scenario,
        source=source,
        ours_ms=statistics.median(ours),
        base_ms=statistics.median(base),
        ours_tokens=observation.token_count,
        base_tokens=count_tokens(snapshot),
        refs=len(observation.refs),
        unaddressable=len(missing),
    )


@asynccontextmanager
async def invoices_page(context: BrowserContext, stack: AsyncExitStack) -> AsyncIterator[tuple[Page, str]]:
    """The 2,000-row invoice list: the mock back office if available, else the fixture table."""
    page = await context.new_page()
    try:
        from operator_agent.testing.backoffice import serve_backoffice
    except ImportError:
        server = stack.enter_context(serve_directory(PAGES))
        await page.goto(f"{server.url}/table.html?rows=2000")
        yield page, "fixture table (back office not importable)"
    else:
        site = stack.enter_context(serve_backoffice(invoice_count=2000))
        await site.sign_in(context)
        await page.goto(f"{site.url}/invoices?per_page=2000")
        yield page, "back office /invoices?per_page=2000"
    await page.close()


def print_table(results: list[Result], runs: int, baseline_runs: int) -> None:
    baseline_name = 'aria_snapshot(mode="ai")' if _AI_MODE else "body.aria_snapshot()"
    print(
        f"observe() vs Playwright {baseline_name}; medians of {runs} runs (baseline: {baseline_runs}); "
        "tokens are o200k_base"
    )
    header = (
        f"{'scenario':<14} {'observe ms':>10} {'baseline ms':>11} {'time ratio':>10} "
        f"{'observe tok':>11} {'baseline tok':>12} {'token ratio':>11} {'refs':>5}  target"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        target = f"≤{r.scenario.max_ms:.0f} ms, ≤{r.scenario.max_tokens:,} tok"
        verdict = "ok" if r.ok else "MISSED"
        print(
            f"{r.scenario.name:<14} {r.ours_ms:>10.1f} {r.base_ms:>11.1f} {r.ours_ms / r.base_ms:>10.2f} "
            f"{r.ours_tokens:>11,} {r.base_tokens:>12,} {r.ours_tokens / r.base_tokens:>11.2f} {r.refs:>5}  "
            f"{target} {verdict}"
        )
    for r in results:
        print(f"  {r.scenario.name}: {r.source}")


async def main(runs: int, baseline_runs: int) -> list[Result]:
    count_tokens("warm up the tokenizer")
    async with async_playwright() as pw, AsyncExitStack() as stack:
        browser = await pw.chromium.launch(
            executable_path=str(find_chromium()), args=chromium_args(headless=True)
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        results = []
        async with invoices_page(context, stack) as (page, source):
            scenario = Scenario("invoices-2000", 150, 6000)
            results.append(await run_scenario(page, scenario, source, runs, baseline_runs))
        server = stack.enter_context(serve_directory(PAGES))
        form = await context.new_page()
        await form.goto(f"{server.url}/form.html")
        scenario = Scenario("form-15", 30, 600, check_fields=True)
        source = "fixtures/pages/observe/form.html"
        results.append(await run_scenario(form, scenario, source, runs, baseline_runs))
        await browser.close()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per scenario (at least 10)")
    parser.add_argument(
        "--baseline-runs", type=int, default=5, help="baseline runs per scenario (it is slow on big pages)"
    )
    parser.add_argument("--check", action="store_true", help="exit with status 1 if a target is missed")
    args = parser.parse_args()
    runs, baseline_runs = max(10, args.runs), max(1, args.baseline_runs)
    measured = asyncio.run(main(runs, baseline_runs))
    print_table(measured, runs, baseline_runs)
    if args.check and not all(r.ok for r in measured):
        sys.exit(1)
