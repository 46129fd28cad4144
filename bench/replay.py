"""Record once, replay without a model: speed against a hand-written script, and healing on a redesign.

One run of the real agent loop (a scripted model standing in for a real one) enters an invoice in
the mock back office on layout v1; the loop captures the locator chain of every element it acts on,
and the run compiles into the skill ``enter_invoice``. Then, on the same site, in the same process:

1. speed: the compiled skill against a hand-written Playwright script doing the same steps (login,
   vendor picker, every field, upload, confirmation), alternating, each from opening a fresh
   browser context to closing it, with a new invoice number; medians of ``--runs`` each. Target:
   ≤ 1.25× the script's wall time, with 0 model calls. A third column runs the same steps as a
   hand-written skill (through ``SkillContext``: executor, read-back, policy) to show what the
   replay machinery itself adds;
2. fallbacks: the skill compiled on v1, replayed on v2 (reworded labels, new ids and nesting). Of the
   steps whose first strategy no longer finds their element, the share healed by a later strategy
   of their chain alone. Target: ≥ 80 %;
3. model-assisted healing: the same replay on v2 of a skill that kept only each step's first
   strategy, so every reworded step needs the model; a scripted model that knows the v1→v2
   rewordings re-targets them. Target: 100 % of replays complete.

Every replay is checked on the server: exactly one submitted invoice with its number.

Run: .venv/bin/python bench/replay.py [--runs 5] [--check]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from operator_agent import Agent, FunctionModel, Message, ToolSpec, tool_call
from operator_agent.browser import BrowserSession
from operator_agent.guardrails.approval import PolicyApprover
from operator_agent.guardrails.policy import Policy
from operator_agent.models import ReplyLike, ScriptedModel
from operator_agent.replay import ReplayResult, compile_trace, replay_skill
from operator_agent.skills import SkillContext
from operator_agent.testing.backoffice import BackofficeSite, rewordings, serve_backoffice
from operator_agent.testing.invoice_task import (
    PASSWORD,
    PASSWORD_SECRET,
    USERNAME,
    InvoiceValues,
    enter_by_hand,
    invoice_script,
    times_submitted,
    write_invoice_pdf,
)
from operator_agent.testing.outline import elements


def _replayed(number: str) -> InvoiceValues:
    """What every timed run and every replay enters: the recording's values, another due date and notes."""
    return InvoiceValues(number=number, due_date=date(2026, 12, 15), notes="Toner for Q1")


async def hand_written_skill(ctx: SkillContext, url: str, values: InvoiceValues) -> None:
    """The same invoice through a skill context written by hand: the executor and the policy, no replay."""
    page = ctx.page
    await ctx.goto(url + "/invoices/new")
    await ctx.fill(page.get_by_label("Username"), USERNAME)
    await ctx.fill(page.get_by_label("Password"), secret=PASSWORD_SECRET)
    await ctx.click(page.get_by_role("button", name="Sign in"))
    await ctx.fill(page.get_by_role("combobox", name="Vendor"), values.vendor)
    await ctx.click(page.get_by_role("option", name=values.vendor))
    await ctx.fill(page.get_by_label("Invoice number"), values.number)
    await ctx.fill(page.get_by_label("Invoice date"), values.invoice_date.strftime("%d/%m/%Y"))
    await ctx.fill(page.get_by_label("Due date"), values.due_date.strftime("%d/%m/%Y"))
    await ctx.select(page.get_by_label("Currency"), values.currency)
    await ctx.fill(page.get_by_label("Description, line 1"), values.description)
    await ctx.fill(page.get_by_label("Quantity, line 1"), values.quantity)
    await ctx.fill(page.get_by_label("Unit price, line 1"), values.unit_price)
    await ctx.check(page.get_by_role("radio", name="Net 60 days"))
    await ctx.check(page.get_by_role("checkbox", name="Mark as urgent"))
    await ctx.upload(page.get_by_label("Invoice PDF"), "invoice.pdf")
    await ctx.fill(page.get_by_label("Notes"), values.notes)
    await ctx.click(page.get_by_role("button", name="Submit for payment"), irreversible=True)
    await ctx.click(page.get_by_role("button", name="Confirm submission"), irreversible=True)
    await page.wait_for_url(re.compile(r".*/invoices/\d+$"))


def _rewording_model() -> FunctionModel:
    """Re-targets a step by the v2 wording of the name in its intent, like a model that read the page."""
    table = sorted(rewordings().items(), key=lambda item: len(item[0]), reverse=True)

    def v2(name: str) -> str:
        for old, new in table:
            if old in name:
                name = name.replace(old, new)
        return re.sub(r", line (\d+)$", r", item \1", name)

    def choose(messages: tuple[Message, ...], tools: tuple[ToolSpec, ...]) -> ReplyLike:
        match = re.search(r'Step \d+: \w+(?: \w+)? (?P<role>[\w-]+) "(?P<name>[^"]+)"', messages[1].content)
        if match is None:
            return tool_call("no_match", reason="no element named in the intent")
        wanted, role = v2(match["name"]).casefold(), match["role"]
        page = messages[-1].content
        found = [e for e in elements(page) if e.name.casefold() == wanted and e.role == role]
        if len(found) != 1:
            return tool_call("no_match", reason=f"{len(found)} elements named {wanted!r}")
        return tool_call("choose_element", ref=found[0].ref, reason="same control, new wording")

    return FunctionModel(choose, name="scripted-retarget")


async def _replay(
    skill: Path, site: BackofficeSite, session: BrowserSession, root: Path, number: str, **options: Any
) -> ReplayResult:
    return await replay_skill(
        skill,
        params=_replayed(number).params(),
        start_url=site.url + "/invoices/new",
        approver=PolicyApprover(mode="approve"),
        secrets={PASSWORD_SECRET: PASSWORD},
        upload_dirs=[root],
        trace_dir=root / "replays",
        browser=session,
        **options,
    )


def _first_strategy_only(trace: Path, into: Path) -> Path:
    shutil.copytree(trace, into)
    lines = []
    for line in (into / "trace.jsonl").read_text().splitlines():
        record = json.loads(line)
        for action in record.get("actions", []):
            action["locators"] = action["locators"][:1]
        lines.append(json.dumps(record))
    (into / "trace.jsonl").write_text("\n".join(lines) + "\n")
    return into


async def main(runs: int, check: bool) -> int:
    root = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    pdf = write_invoice_pdf(root)
    recorded = InvoiceValues(number="INV-B-0000")
    problems: list[str] = []
    with serve_backoffice() as site:
        async with BrowserSession() as session:
            agent = Agent(
                model=ScriptedModel(invoice_script(values=recorded, pdf=pdf)),
                browser=session,
                approver=PolicyApprover(mode="approve"),
                secrets={PASSWORD_SECRET: PASSWORD},
                trace_dir=root / "runs",
                upload_dirs=[root],
                screenshots=False,
                playwright_trace=False,
            )
            run = await agent.run(
                "Enter invoice INV-B-0000 from Acme and submit it for payment",
                start_url=site.url + "/invoices/new",
                inputs=recorded.params(),
            )
            if run.status != "completed" or run.trace_dir is None:
                print(f"recording failed: {run.status} {run.reason}", file=sys.stderr)
                return 1
            skill = compile_trace(run.trace_dir, name="enter_invoice", out=root / "skill")

            # 1. speed, v1: alternate the script, a hand-written skill and the replay; each timed from a
            # fresh browser context to its closing; one warm-up round first.
            script_s: list[float] = []
            skill_s: list[float] = []
            replay_s: list[float] = []
            model_calls = 0
            for i in range(runs + 1):
                number = f"INV-H-{i:04d}"
                t0 = time.perf_counter()
                async with await session.new_context() as ctx:
                    await enter_by_hand(ctx.page, url=site.url, values=_replayed(number), pdf=pdf)
                elapsed = time.perf_counter() - t0
                if times_submitted(site, number) != 1:
                    problems.append(f"the script did not submit {number}")
                if i:
                    script_s.append(elapsed)
                number = f"INV-S-{i:04d}"
                t0 = time.perf_counter()
                async with await session.new_context() as ctx:
                    context = SkillContext(tabs=ctx, secrets={PASSWORD_SECRET: PASSWORD}, run_dir=root,
                                           policy=Policy())  # fmt: skip
                    await hand_written_skill(context, site.url, _replayed(number))
                elapsed = time.perf_counter() - t0
                if times_submitted(site, number) != 1:
                    problems.append(f"the hand-written skill did not submit {number}")
                if i:
                    skill_s.append(elapsed)
                number = f"INV-R-{i:04d}"
                t0 = time.perf_counter()
                result = await _replay(skill.folder, site, session, root, number)
                elapsed = time.perf_counter() - t0
                if result.status != "completed" or times_submitted(site, number) != 1:
                    problems.append(f"replay {i} did not submit {number}: {result.status} {result.reason}")
                model_calls += result.model_calls
                if i:
                    replay_s.append(elapsed)
            script_median, replay_median = statistics.median(script_s), statistics.median(replay_s)
            skill_median = statistics.median(skill_s)
            ratio = replay_median / script_median

            # 2. fallbacks on v2.
            site.set_variant("v2")
            result = await _replay(skill.folder, site, session, root, "INV-V2-0001")
            healed = result.healed_by_fallback
            needing = healed + result.healed_by_model + (0 if result.status == "completed" else 1)
            share = healed / needing if needing else 1.0
            v2_ok = result.status == "completed" and times_submitted(site, "INV-V2-0001") == 1

            # 3. model-assisted healing on v2, first strategies only.
            degraded = compile_trace(
                _first_strategy_only(run.trace_dir, root / "degraded-trace"), name="enter_invoice",
                out=root / "degraded",
            )  # fmt: skip
            assisted: list[ReplayResult] = []
            for i in range(runs):
                number = f"INV-M-{i:04d}"
                outcome = await _replay(
                    degraded.folder,
                    site,
                    session,
                    root,
                    number,
                    model=_rewording_model(),
                    locate_timeout_s=2.0,
                )
                if outcome.status == "completed" and times_submitted(site, number) != 1:
                    problems.append(f"model-assisted replay {i} completed without submitting {number}")
                assisted.append(outcome)
            succeeded = sum(1 for r in assisted if r.status == "completed")
            failures = [r.reason for r in assisted if r.status != "completed"]

    steps = len(skill.steps)
    print(f"compiled skill enter_invoice: {steps} steps from one recorded run; medians of {runs} runs")
    print()
    print(f"{'v1 speed':<16}{'script s':>10}{'replay s':>10}{'ratio':>8}  target")
    print(f"{'enter invoice':<16}{script_median:>10.2f}{replay_median:>10.2f}{ratio:>8.2f}  ≤1.25x "
          f"{'ok' if ratio <= 1.25 else 'MISSED'}; model calls: {model_calls}")  # fmt: skip
    print(f"  same steps as a hand-written skill (executor and policy, no replay): {skill_median:.2f} s "
          f"= {skill_median / script_median:.2f}x the script; the replay is "
          f"{replay_median / skill_median:.2f}x that skill")  # fmt: skip
    print()
    print(f"v2, full chains:    {needing} of {steps} steps lost their first strategy; {healed} healed by "
          f"fallbacks alone = {share:.0%} (target ≥80% {'ok' if share >= 0.8 else 'MISSED'}); "
          f"replay {'completed' if v2_ok else 'FAILED'}; model calls: {result.model_calls}")  # fmt: skip
    heals_per_run = statistics.median([r.healed_by_model for r in assisted]) if assisted else 0
    print(f"v2, first strategy only + scripted model: {succeeded}/{runs} replays completed "
          f"({succeeded / runs:.0%}, target 100% {'ok' if succeeded == runs else 'MISSED'}); "
          f"{heals_per_run:g} model re-targetings per replay")  # fmt: skip
    for reason in failures[:3]:
        print(f"  failed: {reason[:300]}")
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)
    missed = ratio > 1.25 or share < 0.8 or succeeded != runs or model_calls != 0 or not v2_ok
    return 1 if problems or (check and missed) else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.check)))
