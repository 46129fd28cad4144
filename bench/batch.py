"""Batch throughput: invoices per minute by compiled-skill replay at concurrency 1, 2 and 4.

Runs the month-end task of ``examples/batch_demo.py`` (a compiled skill, no model) against the mock
back office on this machine: the same number of invoices at each concurrency, one browser with N
contexts, a fresh journal each time. It reports items per minute, the scaling ratio against
concurrency 1 measured in the same run, and the browser's memory per context (the peak memory of the
browser's processes, as proportional set size, above the idle browser, divided by the number of
contexts).

Run: .venv/bin/python bench/batch.py [--items 100] [--levels 1,2,4]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from examples.batch_demo import make_task, sample_rows  # noqa: E402
from operator_agent.batch import BatchRunner, load_items  # noqa: E402
from operator_agent.batch.memory import descendant_memory_mb  # noqa: E402
from operator_agent.browser import BrowserSession  # noqa: E402
from operator_agent.guardrails import PolicyApprover  # noqa: E402
from operator_agent.testing.backoffice import serve_backoffice  # noqa: E402


async def _sample_peak(peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        used = descendant_memory_mb()
        if used is not None:
            peak[0] = max(peak[0], used)
        await asyncio.sleep(0.25)


async def main() -> int:
    parser = argparse.ArgumentParser(description="batch throughput by concurrency")
    parser.add_argument("--items", type=int, default=100, help="invoices per concurrency level")
    parser.add_argument("--levels", default="1,2,4", help="concurrency levels, comma-separated")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    results: list[tuple[int, float, float, float | None, int]] = []
    with serve_backoffice(invoice_count=40) as site:
        vendors = [v.name for v in site.data().vendors][:8]
        async with BrowserSession() as session:
            await asyncio.sleep(1.0)
            idle = descendant_memory_mb()
            for level in levels:
                rows = sample_rows(vendors, count=args.items, bad=False, prefix=f"BENCH-C{level}")
                runner = BatchRunner(
                    task=make_task(site.url, pdf_dir=folder / "pdf"),
                    journal=folder / f"c{level}.db",
                    concurrency=level,
                    approver=PolicyApprover(mode="approve"),
                    browser=session,
                    progress=None,
                )
                peak = [0.0]
                stop = asyncio.Event()
                sampler = asyncio.create_task(_sample_peak(peak, stop))
                started = time.perf_counter()
                summary = await runner.run(load_items(rows, key="invoice_number"), batch_id=f"bench-c{level}")
                elapsed = time.perf_counter() - started
                stop.set()
                await sampler
                done = summary.counts["completed"]
                per_context = (peak[0] - idle) / level if idle is not None and peak[0] else None
                results.append((level, elapsed, done / elapsed * 60, per_context, done))
                print(
                    f"concurrency {level}: {done}/{args.items} in {elapsed:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
        submitted = site.state().count("invoice.submitted")
    base = results[0][2]
    heads = ("concurrency", "completed", "seconds", "items/min", "vs c=1", "MB/context")
    widths = (11, 9, 8, 9, 7, 10)
    print(" ".join(f"{head:>{width}}" for head, width in zip(heads, widths, strict=True)))
    for level, elapsed, rate, per_context, done in results:
        memory = f"{per_context:.0f}" if per_context is not None else "n/a"
        print(f"{level:>11} {done:>9} {elapsed:>8.1f} {rate:>9.2f} {rate / base:>6.2f}x {memory:>10}")
    expected = sum(r[4] for r in results)
    print(f"server: {submitted} invoices submitted for {expected} completed items")
    return 0 if submitted == expected == args.items * len(levels) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
