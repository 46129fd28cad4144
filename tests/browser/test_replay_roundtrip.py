"""Record once, replay without a model, on the mock back office; asserted on the server's state.

A scripted model enters an invoice on layout v1 (login, vendor picker, every field type, upload,
confirmation modal); the loop captures the locator chain of each element it acts on. The run compiles into a
skill, which then replays with other values on v1, heals through its fallbacks on v2, stops at the
first irreversible step when approvals are denied, and, for a step nothing in its chain can find,
fails clearly without a model and heals through one model call with one.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from operator_agent.agent import Agent
from operator_agent.browser import BrowserSession
from operator_agent.guardrails.approval import PolicyApprover
from operator_agent.models import ModelRequest, ScriptedModel, tool_call
from operator_agent.replay import CompiledSkill, compile_trace, replay_skill
from operator_agent.testing.backoffice import BackofficeSite
from operator_agent.testing.invoice_task import (
    PASSWORD,
    PASSWORD_SECRET,
    VENDOR,
    InvoiceValues,
    invoice_script,
    submitted_invoices,
    write_invoice_pdf,
)
from operator_agent.testing.outline import find_ref
from operator_agent.trace import read_trace


@dataclass
class Recorded:
    skill: CompiledSkill
    trace_dir: Path
    uploads: Path


@pytest.fixture(scope="module")
async def recorded(
    backoffice: BackofficeSite, browser_session: BrowserSession, tmp_path_factory: pytest.TempPathFactory
) -> Recorded:
    """One recorded run on v1, compiled into a skill (shared by the module's tests)."""
    root = tmp_path_factory.mktemp("recorded")
    uploads = root / "uploads"
    uploads.mkdir()
    pdf = write_invoice_pdf(uploads)
    backoffice.reset()
    backoffice.set_variant("v1")
    backoffice.set_faults(None)
    values = InvoiceValues(number="INV-REC-0001")
    model = ScriptedModel(invoice_script(values=values, pdf=pdf))
    agent = Agent(
        model=model, browser=browser_session, approver=PolicyApprover(mode="approve"),
        secrets={PASSWORD_SECRET: PASSWORD}, trace_dir=root / "runs", upload_dirs=[uploads], screenshots=False,
        playwright_trace=False,
    )  # fmt: skip
    result = await agent.run(
        "Enter invoice INV-REC-0001 from Acme and submit it for payment",
        start_url=backoffice.url + "/invoices/new",
        inputs=values.params(),
    )
    assert result.status == "completed", result.reason
    assert result.trace_dir is not None
    # The loop captured a locator chain for every action on an element, before acting.
    chains = [
        a.locators for r in read_trace(result.trace_dir) if r.type == "step" for a in r.actions if a.target
    ]  # type: ignore[union-attr]
    assert len(chains) == 18
    assert all(chains)
    skill = compile_trace(result.trace_dir, name="enter_invoice", out=root / "skill")
    return Recorded(skill=skill, trace_dir=result.trace_dir, uploads=uploads)


def params(number: str) -> dict[str, str]:
    """A replay's parameters: the recording's values with another number, due date and notes."""
    return InvoiceValues(number=number, due_date=date(2026, 12, 15), notes="Toner for Q1").params()


async def replay(
    recorded: Recorded, site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path, number: str, *,
    source: Path | None = None, approve: bool = True, **options: object,
) -> object:  # fmt: skip
    return await replay_skill(
        source or recorded.skill.folder, params=params(number), start_url=site.url + "/invoices/new",
        approver=PolicyApprover(mode="approve" if approve else "deny"), secrets={PASSWORD_SECRET: PASSWORD},
        upload_dirs=[recorded.uploads], trace_dir=tmp_path / "replays", browser=browser_session,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_the_compiled_skill_replays_with_new_values_and_no_model(
    recorded: Recorded, site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    result = await replay(recorded, site, browser_session, tmp_path, "INV-RPL-0001")

    assert result.status == "completed", result.reason  # type: ignore[attr-defined]
    assert result.model_calls == 0  # type: ignore[attr-defined]
    assert result.heals == []  # type: ignore[attr-defined]
    entries = submitted_invoices(site, "INV-RPL-0001")
    assert len(entries) == 1
    assert entries[0].count == 1
    invoice = entries[0].invoice
    assert invoice.vendor_name == VENDOR
    assert str(invoice.due_date) == "2026-12-15"  # the date parameter, typed as DD/MM/YYYY
    assert invoice.notes == "Toner for Q1"
    assert invoice.payment_terms == "net60"
    assert invoice.urgent is True
    assert [(line.description, line.quantity) for line in invoice.lines] == [("Printer paper", Decimal("4"))]
    assert invoice.attachment is not None
    assert invoice.attachment.filename == "invoice.pdf"
    # The replay left a trace like a run's: start, one step per replayed step, end; no secret in it.
    trace_dir = result.trace_dir  # type: ignore[attr-defined]
    records = read_trace(trace_dir)
    assert records[0].type == "run_start"
    assert records[-1].type == "run_end"
    assert records[-1].status == "completed"  # type: ignore[union-attr]
    assert len([r for r in records if r.type == "step"]) == len(recorded.skill.steps)
    assert PASSWORD not in (trace_dir / "trace.jsonl").read_text()


async def test_on_the_redesigned_layout_steps_heal_through_their_fallbacks(
    recorded: Recorded, site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    site.set_variant("v2")
    before = recorded.skill.module.read_text()

    result = await replay(recorded, site, browser_session, tmp_path, "INV-RPL-0002", heal_grace_s=0.1)

    assert result.status == "completed", result.reason  # type: ignore[attr-defined]
    assert result.model_calls == 0  # type: ignore[attr-defined]
    heals = result.heals  # type: ignore[attr-defined]
    assert len(heals) >= 10
    assert {h.via for h in heals} == {"fallback"}
    assert len(submitted_invoices(site, "INV-RPL-0002")) == 1
    # Every heal is in the trace, and the fix is proposed as a diff; the skill file is untouched.
    trace_dir = result.trace_dir  # type: ignore[attr-defined]
    events = [e for r in read_trace(trace_dir) if r.type == "step" for e in r.events]  # type: ignore[union-attr]
    assert len([e for e in events if e.startswith("healed: ")]) == len(heals)
    diff = (trace_dir / "heals.diff").read_text()
    assert '+            {"role": "textbox", "name": "Invoice no."},' in diff
    assert '+            {"role": "button", "name": "Log in"},' in diff
    assert recorded.skill.module.read_text() == before


async def test_irreversible_steps_ask_for_approval_and_a_denial_stops_the_replay(
    recorded: Recorded, site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    result = await replay(recorded, site, browser_session, tmp_path, "INV-RPL-0003", approve=False)

    assert result.status == "denied"  # type: ignore[attr-defined]
    assert 'approval denied for click on button "Submit for payment"' in result.reason  # type: ignore[attr-defined]
    state = site.state()
    assert state.invoices.submitted == ()
    assert state.count("invoice.submitted") == 0


def login_only(recorded: Recorded, folder: Path) -> Path:
    """The compiled skill cut after its sign-in step, whose chain keeps only what v2 rewords."""
    folder.mkdir()
    shutil.copy(recorded.skill.doc, folder / "SKILL.md")
    source = recorded.skill.module.read_text()
    cut = source.index("    await steps.fill(\n        5,")
    head = source[:cut]
    head = re.sub(r"(\n        'click button \"Sign in\"',\n        locators=)\[.*?\n        \],",
                  r'\1[{"role": "button", "name": "Sign in"}, {"text": "Sign in"}],', head, flags=re.S)  # fmt: skip
    (folder / "enter_invoice.py").write_text(head)
    return folder


async def test_an_unhealable_step_without_a_model_names_step_strategies_and_screenshot(
    recorded: Recorded, site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    site.set_variant("v2")
    skill = login_only(recorded, tmp_path / "login")

    result = await replay(recorded, site, browser_session, tmp_path, "x", source=skill, locate_timeout_s=1.5,
                          heal_grace_s=0.1)  # fmt: skip

    assert result.status == "failed"  # type: ignore[attr-defined]
    reason = result.reason  # type: ignore[attr-defined]
    assert 'HealingFailedError: skill enter_invoice step 4 (click button "Sign in")' in reason
    assert 'role=button name="Sign in": no element' in reason
    assert 'text "Sign in": no element' in reason
    assert "no model is configured" in reason
    shot = re.search(r"screenshot: (\S+\.png)", reason)
    assert shot is not None
    assert await asyncio.to_thread(os.path.getsize, shot.group(1)) > 1000
    assert not [e for e in site.state().logins if e.outcome == "success"]


async def test_with_a_model_one_call_re_targets_the_step_and_the_fix_is_proposed(
    recorded: Recorded, site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    site.set_variant("v2")
    skill = login_only(recorded, tmp_path / "login")

    def choose(r: ModelRequest) -> object:
        assert 'Step 4: click button "Sign in"' in r.messages[1].content
        return tool_call("choose_element", ref=find_ref(r, "Log in", role="button"), reason="renamed")

    model = ScriptedModel([choose])
    result = await replay(recorded, site, browser_session, tmp_path, "x", source=skill, model=model,
                          locate_timeout_s=1.5, heal_grace_s=0.1)  # fmt: skip

    assert result.status == "completed", result.reason  # type: ignore[attr-defined]
    assert result.model_calls == 1  # type: ignore[attr-defined]
    model.assert_complete()
    by_model = [h for h in result.heals if h.via == "model"]  # type: ignore[attr-defined]
    assert [h.step for h in by_model] == [4]
    assert by_model[0].proposed[0] == {"role": "button", "name": "Log in"}
    assert '+            {"role": "button", "name": "Log in"},' in result.diff  # type: ignore[attr-defined]
    assert [e.username for e in site.state().logins if e.outcome == "success"] == ["ops.agent"]


def test_the_replay_command_heals_and_prints_the_diff(
    recorded: Recorded, site: BackofficeSite, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """``operator-agent replay`` end to end (its own browser): v2, fallbacks only, diff on stdout."""
    from operator_agent.cli import main

    site.set_variant("v2")
    folder = tmp_path / "login"
    folder.mkdir()
    shutil.copy(recorded.skill.doc, folder / "SKILL.md")
    source = recorded.skill.module.read_text()
    (folder / "enter_invoice.py").write_text(source[: source.index("    await steps.fill(\n        5,")])
    monkeypatch.setenv("BO_PASSWORD", PASSWORD)
    arguments = [arg for key, value in params("x").items() for arg in ("--param", f"{key}={value}")]

    code = main([
        "replay", str(folder), *arguments, "--start-url", site.url + "/invoices/new", "--secret-env",
        "bo_password=BO_PASSWORD", "--trace-dir", str(tmp_path / "runs"), "--write-heals", "--json",
    ])  # fmt: skip

    payload = json.loads(capsys.readouterr().out)
    assert code == 0, payload
    assert payload["status"] == "completed"
    assert payload["model_calls"] == 0
    assert [h["step"] for h in payload["heals"]] == [2, 4]
    assert '+            {"role": "button", "name": "Log in"},' in payload["diff"]
    assert [e.outcome for e in site.state().logins] == ["success"]
