"""Compiling a recorded run into a skill: parameters, steps, guardrail flags, the code's quality, and
clear errors for traces that cannot compile. Uses the golden trace in fixtures/traces/."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from operator_agent.errors import CompileError, TraceError
from operator_agent.replay import compile_trace
from operator_agent.skills import load_skills

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "traces" / "enter_invoice_v1"
RUFF = Path(sys.executable).with_name("ruff")


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    folder = tmp_path / "run"
    shutil.copytree(GOLDEN, folder)
    return folder


def _records(trace: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (trace / "trace.jsonl").read_text().splitlines() if line.strip()]


def _write(trace: Path, records: list[dict[str, object]]) -> None:
    (trace / "trace.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")


def test_inputs_become_typed_parameters_and_other_literals_stay(trace: Path, tmp_path: Path) -> None:
    compiled = compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")

    assert [(p.name, p.annotation) for p in compiled.params] == [
        ("invoice_number", "str"),
        ("vendor", "str"),
        ("due_date", "date"),
        ("notes", "str"),
    ]
    code = compiled.module.read_text()
    assert "text=invoice_number," in code
    assert "text=vendor," in code
    assert 'text=f"{due_date:%d/%m/%Y}",' in code  # typed as 30/11/2026 in the recorded run
    assert "text=notes," in code
    # Values that were not inputs stay literal; the recorded invoice number appears nowhere.
    assert 'text="Printer paper",' in code
    assert 'text="31/10/2026",' in code
    assert "INV-R-0001" not in code.split('"""')[-1]
    # The vendor option's name holds the vendor among other words: an f-string, plus the value alone.
    assert '{"role": "option", "name": f"{vendor} DE"},' in code
    assert '{"role": "option", "name": vendor},' in code
    # Secrets stay names; uploads are looked up by file name.
    assert 'secret="bo_password",' in code
    assert 'paths=["invoice.pdf"],' in code


def test_steps_keep_chains_postconditions_and_irreversible_flags(trace: Path, tmp_path: Path) -> None:
    compiled = compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")

    kinds = [s.kind for s in compiled.steps]
    assert kinds[0] == "navigate"
    assert compiled.steps[0].arguments["url"] == "/invoices/new"  # relative: replays on any port
    assert kinds.count("fill") == 10
    assert kinds.count("click") == 4
    sign_in = next(s for s in compiled.steps if s.intent.startswith('click button "Sign in"'))
    assert sign_in.expect == {"url": "/invoices/new"}
    assert sign_in.locators[0] == {"role": "button", "name": "Sign in"}
    confirm = compiled.steps[-1]
    assert confirm.intent.startswith('click button "Confirm submission"')
    assert confirm.irreversible  # the model flagged it
    assert confirm.expect == {"url": "/invoices/*"}  # the new invoice's id is not part of the pattern
    opener = next(s for s in compiled.steps if "Submit for payment" in s.intent)
    assert opener.irreversible  # an approval was requested for it (audit log)
    assert not any(s.irreversible for s in compiled.steps if s.kind == "fill")
    code = compiled.module.read_text()
    assert code.count("irreversible=True") == 2
    assert "time.sleep" not in code
    assert "asyncio.sleep" not in code


def test_generated_code_is_formatted_lint_clean_and_loads_as_a_skill(trace: Path, tmp_path: Path) -> None:
    compiled = compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")

    for command in (
        [str(RUFF), "format", "--check", "--line-length", "88", str(compiled.module)],
        [str(RUFF), "check", "--line-length", "88", "--select", "E,F,W,I,UP,B", str(compiled.module)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    registry = load_skills(compiled.folder)
    skill = registry.get("enter_invoice")
    schema = skill.parameters_schema
    assert schema["required"] == ["invoice_number", "vendor", "due_date", "notes"]
    assert schema["properties"]["due_date"]["format"] == "date"
    doc = compiled.doc.read_text()
    assert "| `due_date` | `date` |" in doc
    assert "**irreversible: asks for approval**" in doc
    assert "--param invoice_number=..." in doc


def test_line_length_is_honoured(trace: Path, tmp_path: Path) -> None:
    compiled = compile_trace(trace, name="enter_invoice", out=tmp_path / "skill", line_length=110)
    done = subprocess.run(
        [str(RUFF), "format", "--check", "--line-length", "110", str(compiled.module)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    assert max(len(line) for line in compiled.module.read_text().splitlines()) <= 110


def test_failed_actions_and_extracts_are_left_out(trace: Path, tmp_path: Path) -> None:
    records = _records(trace)
    step = records[4]  # the form step
    actions = step["actions"]
    assert isinstance(actions, list)
    failed = dict(actions[0], tool_call_id="bad", ok=False, error="StaleRefError", message="gone")
    extract = {"tool_call_id": "x", "kind": "extract", "arguments": {"instruction": "the total"}, "ok": True,
               "message": "extracted"}  # fmt: skip
    step["actions"] = [failed, *actions, extract]
    _write(trace, records)

    compiled = compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")

    assert len([s for s in compiled.steps if s.kind == "fill"]) == 10
    assert any("did not succeed (StaleRefError)" in line for line in compiled.skipped)
    assert any("extract needs a model" in line for line in compiled.skipped)
    assert "## Not compiled" in compiled.doc.read_text()


def test_a_step_without_chain_falls_back_to_its_role_and_name(trace: Path, tmp_path: Path) -> None:
    records = _records(trace)
    for record in records:
        for action in record.get("actions", []):  # type: ignore[attr-defined]
            action["locators"] = []
    _write(trace, records)

    compiled = compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")

    number = next(s for s in compiled.steps if "Invoice number" in s.intent)
    assert number.locators == [{"role": "textbox", "name": "Invoice number"}]
    assert not number.chain_recorded
    assert "no locator chain was recorded" in compiled.doc.read_text()


def test_a_trace_that_did_not_complete_does_not_compile(trace: Path, tmp_path: Path) -> None:
    records = _records(trace)
    records[-1]["status"] = "failed"
    records[-1]["reason"] = "the model gave up"
    _write(trace, records)
    with pytest.raises(CompileError, match=r"ended 'failed' \(the model gave up\); only a completed run"):
        compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")
    assert not (tmp_path / "skill").exists()


def test_an_interrupted_trace_does_not_compile(trace: Path, tmp_path: Path) -> None:
    _write(trace, _records(trace)[:-1])
    with pytest.raises(CompileError, match="no run_end record"):
        compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")


def test_a_corrupt_trace_names_file_and_line(trace: Path, tmp_path: Path) -> None:
    lines = (trace / "trace.jsonl").read_text().splitlines()
    lines[2] = lines[2][:40]
    (trace / "trace.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceError, match=r"trace.jsonl:3: not valid JSON"):
        compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")


def test_a_missing_trace_is_a_trace_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="no trace found"):
        compile_trace(tmp_path / "nowhere", name="enter_invoice", out=tmp_path / "skill")


def test_an_element_action_without_chain_or_target_is_refused(trace: Path, tmp_path: Path) -> None:
    records = _records(trace)
    action = records[2]["actions"][0]  # type: ignore[index]
    action["locators"] = []
    action["target"] = None
    _write(trace, records)
    with pytest.raises(CompileError, match=r"step 2 action 1 \(fill\).*holds no locator chain"):
        compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")


@pytest.mark.parametrize(
    ("name", "problem"),
    [("Enter-Invoice", "lower-case letters"), ("click", "action kind"), ("class", "Python keyword"),
     ("ctx", "lower-case")],
)  # fmt: skip
def test_invalid_skill_names_are_refused(trace: Path, tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(CompileError, match=problem):
        compile_trace(trace, name=name, out=tmp_path / "skill")


def test_an_existing_skill_folder_is_not_overwritten_by_accident(trace: Path, tmp_path: Path) -> None:
    out = tmp_path / "skill"
    compile_trace(trace, name="enter_invoice", out=out)
    (out / "enter_invoice.py").write_text("# reviewed and edited by hand\n")
    with pytest.raises(CompileError, match="is not empty"):
        compile_trace(trace, name="enter_invoice", out=out)
    assert (out / "enter_invoice.py").read_text() == "# reviewed and edited by hand\n"
    compile_trace(trace, name="enter_invoice", out=out, overwrite=True)
    assert "async def enter_invoice(" in (out / "enter_invoice.py").read_text()


def test_inputs_that_never_reached_the_page_are_not_parameters(trace: Path, tmp_path: Path) -> None:
    records = _records(trace)
    records[0]["inputs"] = {**records[0]["inputs"], "approver_note": "unused", "class": "INV-R-0001"}  # type: ignore[dict-item]
    _write(trace, records)
    compiled = compile_trace(trace, name="enter_invoice", out=tmp_path / "skill")
    names = [p.name for p in compiled.params]
    assert "approver_note" not in names
    # Both inputs hold the invoice number; the first declared one wins, and names stay identifiers.
    assert names[0] == "invoice_number"
