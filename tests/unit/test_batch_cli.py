"""The batch, review and report commands, with a task that needs no browser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from operator_agent.batch import ItemContext, ItemOutcome, ItemRecord, Journal
from operator_agent.batch.cli import add_parsers, load_task, main
from operator_agent.errors import ConfigurationError, ItemRejectedError


class EchoTask:
    """Completes every item, except those whose amount is not a positive number."""

    name = "echo"
    needs_browser = False

    async def run(self, ctx: ItemContext, item: ItemRecord) -> ItemOutcome:
        amount = float(item.data["amount"])
        if amount <= 0:
            raise ItemRejectedError(f"the amount must be positive, got {amount:g}", fields=["amount"])
        return ItemOutcome(status="completed", output={"amount": amount})


COUNTS = {"a": 1}


def make_echo_task() -> EchoTask:
    return EchoTask()


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in argv else out


def test_a_month_end_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = str(tmp_path / "ops.db")
    source = tmp_path / "invoices.csv"
    source.write_text("number,amount\nA-1,10\nA-2,-3\nA-3,7.5\n", encoding="utf-8")
    task = "tests.unit.test_batch_cli:make_echo_task"
    code, summary = _run(
        capsys, "batch", "run", "--task", task, "--input", str(source), "--key", "number",
        "--batch-id", "2026-10", "--journal", journal, "--no-progress", "--json",
    )  # fmt: skip
    assert code == 1, "an item waits for review"
    assert summary["status"] == "finished"
    assert summary["counts"]["completed"] == 2
    assert summary["counts"]["needs_review"] == 1

    code, listing = _run(capsys, "review", "list", "--journal", journal, "--json")
    assert code == 0
    assert [(i["key"], i["review_reason"]) for i in listing["items"]] == [("A-2", "rejected_by_site")]
    code, shown = _run(capsys, "review", "show", "2026-10", "A-2", "--journal", journal)
    assert "the amount must be positive, got -3" in shown
    assert "amount = '-3'" in shown

    code, _ = _run(
        capsys, "review", "resolve", "2026-10", "A-2", "--as", "retry", "--by", "dana",
        "--data", '{"number": "A-2", "amount": "3"}', "--journal", journal,
    )  # fmt: skip
    assert code == 0
    code, summary = _run(capsys, "batch", "resume", "2026-10", "--task", task, "--journal", journal,
                         "--no-progress", "--json")  # fmt: skip
    assert code == 0
    assert summary["counts"]["completed"] == 3

    code, status = _run(capsys, "batch", "status", "--journal", journal, "--json")
    assert status["batches"][0]["counts"]["completed"] == 3
    code, text = _run(capsys, "batch", "status", "2026-10", "--journal", journal)
    assert "batch 2026-10 (echo, live): finished" in text

    out = tmp_path / "report"
    code, report = _run(capsys, "report", "2026-10", "--journal", journal, "--out", str(out), "--json")
    assert code == 0
    assert report["alerts"] == []
    assert (out / "report.html").is_file()
    kpis = json.loads((out / "report.json").read_text())["kpis"]
    assert kpis["completion_rate"] == 1.0
    assert kpis["straight_through_rate"] == pytest.approx(2 / 3, abs=1e-3), "a person fixed one item"


def test_pause_and_cancel_are_requests_in_the_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = Journal(path=tmp_path / "ops.db")
    journal.create_batch("b", task="echo")
    assert main(["batch", "pause", "b", "--journal", str(journal.path)]) == 0
    assert journal.batch("b").control == "pause"
    assert main(["batch", "cancel", "b", "--journal", str(journal.path)]) == 0
    assert journal.batch("b").control == "cancel"
    assert main(["batch", "status", "missing", "--journal", str(journal.path)]) == 3
    assert "no batch 'missing'" in capsys.readouterr().err
    assert main(["review", "list", "--journal", str(tmp_path / "typo.db")]) == 2
    assert "no batch journal at" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists(), "a mistyped path does not create an empty journal"


def test_task_specs_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="module:attribute"):
        load_task("no_colon")
    with pytest.raises(ConfigurationError, match="cannot import the task module 'nowhere_to_be_found'"):
        load_task("nowhere_to_be_found:task")
    with pytest.raises(ConfigurationError, match="has no attribute 'missing'"):
        load_task("tests.unit.test_batch_cli:missing")
    with pytest.raises(ConfigurationError, match="is not a batch task, nor a factory without arguments"):
        load_task("tests.unit.test_batch_cli:_run")
    with pytest.raises(ConfigurationError, match="is not a batch task"):
        load_task("tests.unit.test_batch_cli:COUNTS")
    assert isinstance(load_task("tests.unit.test_batch_cli:make_echo_task"), EchoTask)


def test_the_parsers_plug_into_another_command() -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="operator-agent")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["report", "b", "--journal", "j.db", "--alert-below", "0.95"])
    assert args.alert_below == 0.95
    assert callable(args.handler)
