"""Writing heals back as a diff (never into the file), and the pieces it is made of: parameter
substitution, literals, layout, URL postconditions and locator-chain validation."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from operator_agent.errors import ConfigurationError
from operator_agent.replay import Heal, compile_trace, heal_diff, postcondition, url_matches, url_pattern
from operator_agent.replay._source import Param, Substitution, identifier, quote
from operator_agent.replay.heal import apply_heals
from operator_agent.replay.locators import describe_strategy, validate_chain

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "traces" / "enter_invoice_v1"
RUFF = Path(sys.executable).with_name("ruff")


def _heal(source: Path | None, step: int, proposed: list[dict[str, str]], **params: object) -> Heal:
    return Heal(
        skill="enter_invoice", source=str(source) if source else None, step=step, intent="fill it",
        via="fallback", why="role=textbox: no element", used=proposed[0], recorded=[], proposed=proposed,
        params=dict(params),
    )  # fmt: skip


@pytest.fixture
def skill_file(tmp_path: Path) -> Path:
    shutil.copytree(GOLDEN, tmp_path / "run")
    compiled = compile_trace(tmp_path / "run", name="enter_invoice", out=tmp_path / "skill")
    return compiled.module


def _step_number(source: str, text: str) -> int:
    """The number of the step whose intent (second argument) holds ``text``."""
    for node in ast.walk(ast.parse(source)):
        is_step = isinstance(node, ast.Call) and len(node.args) > 1 and isinstance(node.args[0], ast.Constant)
        if is_step and text in ast.unparse(node.args[1]):  # type: ignore[attr-defined]
            return int(node.args[0].value)  # type: ignore[attr-defined]
    raise AssertionError(f"no step with {text!r}")


def test_a_heal_becomes_a_reviewable_diff_and_the_file_is_untouched(skill_file: Path) -> None:
    before = skill_file.read_text()
    step = _step_number(before, "Invoice number")
    proposed = [{"role": "textbox", "name": "Invoice no."}, {"css": 'input[name="number"]'}]

    diff = heal_diff([_heal(skill_file, step, proposed)])

    assert skill_file.read_text() == before
    assert diff.startswith("--- a/")
    assert "+++ b/" in diff
    assert '+            {"role": "textbox", "name": "Invoice no."},' in diff
    assert '-            {"role": "textbox", "name": "Invoice number"},' in diff
    # Applying the diff gives code that still parses and is still formatted.
    new, notes = apply_heals(before, [_heal(skill_file, step, proposed)])
    assert notes == []
    ast.parse(new)
    patched = skill_file.with_name("patched.py")
    patched.write_text(new)
    done = subprocess.run([str(RUFF), "format", "--check", "--line-length", "88", str(patched)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout


def test_parameter_values_in_a_healed_chain_are_written_as_parameters(skill_file: Path) -> None:
    source = skill_file.read_text()
    step = _step_number(source, "click option")
    proposed = [{"role": "option", "name": "Globex Ltd FR"}, {"text": "Globex Ltd"}]

    new, _ = apply_heals(source, [_heal(skill_file, step, proposed, vendor="Globex Ltd")])

    assert '{"role": "option", "name": f"{vendor} FR"},' in new
    assert '{"text": vendor},' in new  # a chain is always one strategy per line


def test_the_last_heal_of_a_step_wins_and_unknown_steps_are_noted(skill_file: Path) -> None:
    source = skill_file.read_text()
    step = _step_number(source, "Notes")
    first = _heal(skill_file, step, [{"label": "Memo"}])
    second = _heal(skill_file, step, [{"label": "Internal notes"}])
    lost = _heal(skill_file, 99, [{"label": "Nothing"}])

    new, notes = apply_heals(source, [first, second, lost])

    assert '{"label": "Internal notes"}' in new
    assert '{"label": "Memo"}' not in new
    assert notes == ["step 99: no `locators=` argument found for it in the file; heal not placed"]
    assert "step 99" in heal_diff([lost])


def test_heals_of_a_skill_without_a_source_file_are_listed_not_diffed() -> None:
    diff = heal_diff([_heal(None, 3, [{"label": "Invoice no."}])])
    assert diff.startswith('# enter_invoice: step 3 (fill it) healed by fallback: label "Invoice no."')
    assert "---" not in diff


def test_a_file_that_no_longer_parses_is_left_alone(tmp_path: Path) -> None:
    broken = tmp_path / "skill.py"
    broken.write_text("async def enter_invoice(:\n")
    new, notes = apply_heals(broken.read_text(), [_heal(broken, 1, [{"label": "x"}])])
    assert new == broken.read_text()
    assert "does not parse" in notes[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("INV-1", "number"),
        ("Invoice INV-1 for paper", 'f"Invoice {number} for paper"'),
        ("2026-11-30", "due.isoformat()"),
        ("30/11/2026", 'f"{due:%d/%m/%Y}"'),
        ("due 30/11/2026", 'f"due {due:%d/%m/%Y}"'),
        ("4", "str(quantity)"),
        ("12.50", 'f"{price:.2f}"'),
        ("Printer paper", '"Printer paper"'),
        ('say "hi" {INV-1}', "f'say \"hi\" {{{number}}}'"),
    ],
)
def test_literals_become_parameter_expressions(text: str, expected: str) -> None:
    params = [
        Param.of("number", "number", "INV-1"),
        Param.of("due", "due", "2026-11-30"),
        Param.of("quantity", "quantity", 4),
        Param.of("price", "price", 12.5),
    ]
    sub = Substitution(params)
    source = sub.source(text)
    assert source == expected
    values = {
        "number": "INV-1",
        "due": __import__("datetime").date(2026, 11, 30),
        "quantity": 4,
        "price": 12.5,
    }
    assert eval(source, {}, values) == text  # the expression gives back the recorded text


def test_short_values_are_only_substituted_whole() -> None:
    sub = Substitution([Param.of("qty", "qty", "4")])
    assert sub.source("4") == "qty"
    assert sub.source("Line 4 of 14") == '"Line 4 of 14"'
    assert "qty" not in sub.used or sub.used["qty"].value == "4"


@pytest.mark.parametrize(
    ("key", "name"),
    [("invoiceNumber", "invoice_number"), ("Due date", "due_date"), ("2fa", "p_2fa"), ("class", "class_"),
     ("", "value")],
)  # fmt: skip
def test_input_names_become_identifiers(key: str, name: str) -> None:
    assert identifier(key) == name


@pytest.mark.parametrize(
    "text", ["plain", 'with "double"', "with 'single'", "both ' and \"", "tab\tnewline\n"]
)
def test_quoted_literals_round_trip(text: str) -> None:
    assert ast.literal_eval(quote(text)) == text


def test_url_postconditions_are_patterns_stable_across_runs() -> None:
    base = "http://127.0.0.1:41000/invoices/new"
    assert url_pattern("http://127.0.0.1:41000/invoices/1234?saved=1", base=base) == "/invoices/*"
    assert url_pattern("https://other.example/a/b7/c", base=base) == "https://other.example/a/*/c"
    assert url_matches("http://localhost:5000/invoices/77", "/invoices/*")
    assert not url_matches("http://localhost:5000/invoices/new/edit", "/invoices/*/x")
    assert postcondition(url_before=base, url_after=base + "?x=1", navigated=True, base=base) is None
    assert postcondition(url_before=base, url_after=None, navigated=True, base=base) is None
    assert postcondition(
        url_before=base, url_after="http://127.0.0.1:41000/invoices/9", navigated=True, base=base
    ) == {"url": "/invoices/*"}


@pytest.mark.parametrize(
    ("chain", "problem"),
    [
        ([{}], "non-empty dict"),
        ([{"xpath": "//a"}], "unknown key"),
        ([{"name": "Save"}], "name without role"),
        ([{"role": "button", "label": "Save"}], "give one strategy per dict"),
        ([{"role": "knob"}], "unknown ARIA role"),
        ([{"css": " "}], "non-blank string"),
    ],
)
def test_malformed_chains_are_refused(chain: list[dict[str, str]], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        validate_chain(chain, where="skill x step 3")


def test_strategies_describe_themselves() -> None:
    assert describe_strategy({"role": "button", "name": "Save"}) == 'role=button name="Save"'
    assert describe_strategy({"test_id": "save"}) == 'test id "save"'
    assert describe_strategy({"css": "a.b"}) == "css a.b"
