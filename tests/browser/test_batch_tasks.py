"""Items run as agent tasks, as compiled skills that fall back to the model, and in shadow mode;
the context pool's memory ceiling. Models are scripted; the site is the mock back office."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from examples.batch_demo import make_task, sample_rows
from operator_agent import FunctionModel, Message, ToolSpec, tool_call
from operator_agent.batch import (
    AgentTask,
    BatchRunner,
    CompiledSkillTask,
    ItemRecord,
    batch_kpis,
    compare_shadow,
    load_items,
)
from operator_agent.browser import BrowserSession, RunContext
from operator_agent.guardrails import PolicyApprover
from operator_agent.models import ToolCall
from operator_agent.skills import SkillContext, skill
from operator_agent.testing.backoffice import BackofficeSite


def _vendor_reader(confidence_of: dict[str, float]) -> Any:
    """A model stand-in: reads the invoice row from the page outline and reports its vendor."""

    def reply(messages: list[Message], tools: list[ToolSpec]) -> list[ToolCall]:
        page = messages[-1].content
        number = next((n for n in confidence_of if n in page), None)
        if number is None:
            return [tool_call("fail", reason="the invoice is not on this page")]
        return [
            tool_call(
                "done",
                output={"number": number, "on_page": True},
                confidence=confidence_of[number],
                summary=f"found invoice {number} in the list",
            )
        ]

    return reply


async def _signed_in(site: BackofficeSite) -> Any:
    async def sign_in(run: RunContext) -> None:
        await site.sign_in(run.context)

    return sign_in


async def test_agent_items_complete_or_go_to_review_by_confidence(
    site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    invoices = [i.number for i in site.data().invoices[:2]]
    confidence = {invoices[0]: 0.95, invoices[1]: 0.4}
    task = AgentTask(
        model=lambda item: FunctionModel(_vendor_reader(confidence)),
        task="Find invoice {number} and report its row",
        start_url=site.url + "/invoices?q={number}",
        name="read-invoice",
        sign_in=await _signed_in(site),
    )
    runner = BatchRunner(task=task, journal=tmp_path / "j.db", browser=browser_session, progress=None)
    summary = await runner.run(load_items([{"number": n} for n in invoices], key="number"), batch_id="agent")
    assert summary.counts["completed"] == 1
    assert summary.counts["needs_review"] == 1
    done = runner.journal.item("agent", invoices[0])
    assert done.output["number"] == invoices[0]
    assert done.confidence == 0.95
    assert done.model_requests == 1
    assert done.artifacts["trace_dirs"], "each agent item keeps its trace"
    assert (Path(done.artifacts["trace_dirs"][0]) / "trace.jsonl").exists()
    unsure = runner.journal.item("agent", invoices[1])
    assert unsure.review_reason == "low_confidence"
    assert "found invoice" in unsure.artifacts["reasoning"] or unsure.reason
    assert batch_kpis(runner.journal, "agent").model_requests_per_item == 1.0


async def test_a_compiled_skill_that_cannot_find_its_button_hands_over_to_the_model(
    site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    @skill
    async def open_invoice_compiled(ctx: SkillContext, *, number: str) -> str:
        """Open an invoice by clicking a button that a new layout renamed.

        Args:
            number: The invoice number.
        """
        await ctx.goto(f"/invoices?q={number}")
        await ctx.click(await ctx.locate(role="button", name="Open invoice (old layout)", timeout_s=1))
        return number

    number = site.data().invoices[0].number
    fallback = AgentTask(
        model=lambda item: FunctionModel(_vendor_reader({number: 0.9})),
        task="Find invoice {number} and report its row",
        start_url=site.url + "/invoices?q={number}",
        sign_in=await _signed_in(site),
    )
    task = CompiledSkillTask(
        open_invoice_compiled,
        fallback=fallback,
        start_url=site.url + "/invoices",
        sign_in=await _signed_in(site),
    )
    runner = BatchRunner(task=task, journal=tmp_path / "j.db", browser=browser_session, progress=None)
    summary = await runner.run(load_items([{"number": number}], key="number"), batch_id="fallback")
    assert summary.counts["completed"] == 1
    item = runner.journal.item("fallback", number)
    assert item.artifacts["used_fallback"] is True
    assert any("the model takes over" in step for step in item.artifacts["steps"])
    assert item.attempts == 1, "the fallback is part of the same attempt"
    assert batch_kpis(runner.journal, "fallback").fallbacks == 1


async def test_shadow_mode_stops_before_submitting_and_compares_with_people(
    site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    vendors = [v.name for v in site.data().vendors][:2]
    rows = sample_rows(vendors, count=2, bad=False, prefix="SHD")
    runner = BatchRunner(
        task=make_task(site.url, pdf_dir=tmp_path / "pdf"),
        journal=tmp_path / "j.db",
        approver=PolicyApprover(mode="approve"),
        browser=browser_session,
        progress=None,
    )
    summary = await runner.run(load_items(rows, key="invoice_number"), batch_id="shadow", mode="shadow")
    assert summary.counts["completed"] == 2
    assert site.state().count("invoice.submitted") == 0, "nothing irreversible happened"
    assert site.state().count("invoice.created") == 0
    first: ItemRecord = runner.journal.item("shadow", "SHD-0001")
    assert first.output["shadow"] is True
    assert first.output["would_submit"]["number"] == "SHD-0001"
    assert first.output["would_submit"]["vendor"] == vendors[0]
    assert first.output["step"].startswith('click on button "Confirm submission"')
    reference = [
        {**rows[0], "unit_price": "100.5"},  # the same amount, written differently
        {**rows[1], "unit_price": "999.00"},  # a person typed another amount
    ]
    result = compare_shadow(
        runner.journal, "shadow", reference=reference, key="invoice_number",
        fields={"vendor": "vendor", "unit_price": "line_unit_price", "due_date": "due_date"},
    )  # fmt: skip
    assert (result.compared, result.matched) == (2, 1)
    assert result.mismatches[0]["key"] == "SHD-0002"
    assert set(result.mismatches[0]["differences"]) == {"unit_price"}


async def test_the_memory_ceiling_holds_the_pool_to_one_context(
    site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    vendors = [v.name for v in site.data().vendors][:3]
    rows = sample_rows(vendors, count=3, bad=False, prefix="MEM")
    runner = BatchRunner(
        task=make_task(site.url, pdf_dir=tmp_path / "pdf"),
        journal=tmp_path / "j.db",
        concurrency=3,
        memory_ceiling_mb=1,
        approver=PolicyApprover(mode="approve"),
        browser=browser_session,
        progress=None,
    )
    summary = await runner.run(load_items(rows, key="invoice_number"), batch_id="mem")
    assert summary.counts["completed"] == 3
    assert summary.peak_contexts == 1, "above the ceiling no second context opens"
    submitted = {e.invoice.number: e.count for e in site.state().invoices.submitted}
    assert submitted == {"MEM-0001": 1, "MEM-0002": 1, "MEM-0003": 1}
