"""The batch runner with tasks that need no browser: retries, routing to review, recovery, control."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from operator_agent.batch import (
    BatchEvent,
    BatchRunner,
    ItemContext,
    ItemOutcome,
    ItemRecord,
    Journal,
    TransientItemError,
    load_items,
)
from operator_agent.errors import BatchError, ConfigurationError, ItemRejectedError
from operator_agent.guardrails import ApprovalDecision, ApprovalRequest, PolicyApprover


class Plan(BaseModel):
    """What the fake task does with an item, read from its data."""

    key: str
    fail_times: int = 0
    reject: bool = False
    crash: bool = False
    confidence: float | None = None
    approve_step: bool = False


class FakeTask:
    """Does what each item's data says; remembers every call, and the effects it 'submitted'."""

    name = "fake"
    needs_browser = False

    def __init__(self, *, check: bool = True) -> None:
        self.calls: dict[str, int] = {}
        self.effects: dict[str, int] = {}
        self.checked: list[str] = []
        if not check:
            self.already_done = None

    async def already_done(self, ctx: ItemContext, item: ItemRecord) -> bool:
        self.checked.append(item.key)
        return self.effects.get(item.key, 0) > 0

    async def run(self, ctx: ItemContext, item: ItemRecord) -> ItemOutcome:
        plan = Plan.model_validate(item.data)
        n = self.calls[item.key] = self.calls.get(item.key, 0) + 1
        if plan.reject:
            raise ItemRejectedError("Unknown vendor “Nope Ltd”", fields=["vendor"])
        if plan.crash:
            raise KeyError("unit_price")
        if n <= plan.fail_times:
            raise TransientItemError(f"the site answered 503 (call {n})", kind="SiteError")
        if plan.approve_step:
            decision = await ctx.decide(_request(ctx))
            if not decision.approved:
                if ctx.shadow:
                    return ItemOutcome(status="completed", output={"would_submit": ctx.captured})
                return ItemOutcome(status="needs_review", review_reason="denied", reason=decision.reason)
        self.effects[item.key] = self.effects.get(item.key, 0) + 1
        return ItemOutcome(status="completed", output={"entered": item.key}, confidence=plan.confidence)


def _request(ctx: ItemContext) -> ApprovalRequest:
    return ApprovalRequest(
        run_id=ctx.run_id, step=1, kind="click", target='button "Confirm"', url="http://127.0.0.1/x",
        reason="submits the invoice", values={"number": ctx.item.key},
    )  # fmt: skip


def _runner(tmp_path: Path, task: Any, **options: Any) -> BatchRunner:
    defaults: dict[str, Any] = {"backoff_s": 0.0, "max_backoff_s": 0.0, "progress": None}
    return BatchRunner(task=task, journal=tmp_path / "journal.db", **{**defaults, **options})


def _states(runner: BatchRunner, batch_id: str) -> dict[str, tuple[str, int, str]]:
    return {i.key: (i.state, i.attempts, i.review_reason) for i in runner.journal.items(batch_id)}


async def test_each_item_ends_where_it_belongs(tmp_path: Path) -> None:
    task = FakeTask()
    runner = _runner(tmp_path, task, concurrency=3, max_attempts=3)
    items = load_items(
        [
            {"key": "ok"},
            {"key": "flaky", "fail_times": 2},
            {"key": "broken-site", "fail_times": 5},
            {"key": "bad-vendor", "reject": True},
            {"key": "bug", "crash": True},
            {"key": "unsure", "confidence": 0.4},
            {"key": "ok"},
        ],
        key="key",
    )
    summary = await runner.run(items, batch_id="b1")
    assert summary.status == "finished"
    assert _states(runner, "b1") == {
        "ok": ("completed", 1, ""),
        "flaky": ("completed", 3, ""),
        "broken-site": ("failed", 3, "retries_exhausted"),
        "bad-vendor": ("needs_review", 1, "rejected_by_site"),
        "bug": ("failed", 1, "task_error"),
        "unsure": ("needs_review", 1, "low_confidence"),
        "ok#2": ("needs_review", 0, "duplicate"),
    }
    assert task.calls == {"ok": 1, "flaky": 3, "broken-site": 3, "bad-vendor": 1, "bug": 1, "unsure": 1}
    failed = runner.journal.item("b1", "broken-site")
    assert failed.reason == "still failing after 3 attempts: the site answered 503 (call 3)"
    assert failed.error_kind == "SiteError"
    assert runner.journal.item("b1", "bug").reason == "the task crashed (KeyError): 'unit_price'"
    assert "0.40 is below the threshold 0.80" in runner.journal.item("b1", "unsure").reason
    assert summary.in_review == 5


async def test_invalid_input_never_runs_and_says_which_field(tmp_path: Path) -> None:
    class Row(BaseModel):
        key: str
        amount: float = Field(gt=0)

    task = FakeTask()
    task.input_model = Row  # type: ignore[attr-defined]
    runner = _runner(tmp_path, task)
    await runner.run(
        load_items([{"key": "a", "amount": -5}, {"key": "b", "amount": 3}], key="key"), batch_id="b"
    )
    bad = runner.journal.item("b", "a")
    assert (bad.state, bad.review_reason) == ("needs_review", "invalid_input")
    assert bad.reason == "the item's data is invalid: amount: Input should be greater than 0"
    assert task.calls == {"b": 1}


async def test_rerunning_a_finished_batch_runs_nothing_again(tmp_path: Path) -> None:
    task = FakeTask()
    items = load_items([{"key": "a"}, {"key": "b", "fail_times": 9}], key="key")
    await _runner(tmp_path, task, max_attempts=2).run(items, batch_id="b")
    again = await _runner(tmp_path, task, max_attempts=2).run(items, batch_id="b")
    assert task.calls == {"a": 1, "b": 2}
    assert again.counts["completed"] == 1
    assert again.counts["failed"] == 1
    resumed = await _runner(tmp_path, task).resume("b")
    assert task.calls == {"a": 1, "b": 2}
    assert resumed.status == "finished"


async def test_a_batch_id_is_bound_to_its_task_and_items(tmp_path: Path) -> None:
    await _runner(tmp_path, FakeTask()).run(load_items([{"key": "a"}], key="key"), batch_id="b")
    other = FakeTask()
    other.name = "other"  # type: ignore[misc]
    with pytest.raises(BatchError, match=r"exists for task 'fake' \(live\)"):
        await _runner(tmp_path, other).run(load_items([{"key": "a"}], key="key"), batch_id="b")
    with pytest.raises(BatchError, match=r"already holds items a with different data"):
        await _runner(tmp_path, FakeTask()).run(
            load_items([{"key": "a", "fail_times": 1}], key="key"), batch_id="b"
        )


def _crashed(journal: Journal, batch_id: str, key: str, *, irreversible: bool) -> None:
    """Leave an item as a killed process leaves it: running, owned by a dead process."""
    journal.add_items(batch_id, load_items([{"key": key}], key="key"))
    dead = f"{socket.gethostname()}:999999999"
    claimed = journal.claim(batch_id, owner=dead, lease_s=300)
    assert claimed is not None
    assert claimed.key == key
    journal.start_attempt(batch_id, key)
    if irreversible:
        journal.note_approval(batch_id, key, approved=True, human=False, wait_s=0.1, irreversible=True)


async def test_an_item_interrupted_after_its_effect_is_found_done_and_not_redone(tmp_path: Path) -> None:
    task = FakeTask()
    task.effects["done-before-crash"] = 1
    runner = _runner(tmp_path, task)
    runner.journal.create_batch("b", task="fake")
    _crashed(runner.journal, "b", "done-before-crash", irreversible=True)
    _crashed(runner.journal, "b", "cut-before-effect", irreversible=False)
    summary = await runner.resume("b")
    assert summary.counts["completed"] == 2
    done = runner.journal.item("b", "done-before-crash")
    assert done.recovered
    assert done.attempts == 2
    assert "found done on the site by the idempotency check" in done.reason
    assert task.calls == {"cut-before-effect": 1}, "only the item without an effect runs again"
    assert task.effects == {"done-before-crash": 1, "cut-before-effect": 1}
    assert sorted(task.checked) == ["cut-before-effect", "done-before-crash"]
    events = [e.event for e in runner.journal.events("b", key="done-before-crash")]
    assert events[-5:] == ["orphaned", "claimed", "attempt", "idempotency_check", "completed"]


async def test_without_an_idempotency_check_an_item_cut_after_approval_goes_to_a_person(
    tmp_path: Path,
) -> None:
    task = FakeTask(check=False)
    runner = _runner(tmp_path, task)
    runner.journal.create_batch("b", task="fake")
    _crashed(runner.journal, "b", "maybe-submitted", irreversible=True)
    _crashed(runner.journal, "b", "safe-to-retry", irreversible=False)
    await runner.resume("b")
    assert _states(runner, "b") == {
        "maybe-submitted": ("needs_review", 2, "unconfirmed_effect"),
        "safe-to-retry": ("completed", 2, ""),
    }
    assert task.calls == {"safe-to-retry": 1}


async def test_a_live_workers_items_are_not_taken_over(tmp_path: Path) -> None:
    task = FakeTask()
    runner = _runner(tmp_path, task)
    runner.journal.create_batch("b", task="fake")
    runner.journal.add_items("b", load_items([{"key": "busy"}, {"key": "free"}], key="key"))
    runner.journal.claim("b", owner="other-host:1", lease_s=300)
    summary = await runner.resume("b")
    assert task.calls == {"free": 1}
    assert summary.status == "paused"
    assert summary.counts["running"] == 1


async def test_approvals_are_timed_counted_and_journalled_before_the_effect(tmp_path: Path) -> None:
    seen_states: list[str] = []

    class Person:
        async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
            seen_states.append(runner.journal.item("b", request.values["number"]).state)
            await asyncio.sleep(0.05)
            approved = request.values["number"] != "no"
            return ApprovalDecision(
                approved=approved, reason="" if approved else "wrong IBAN", decided_by="dana"
            )

    task = FakeTask()
    runner = _runner(tmp_path, task, approver=Person())
    await runner.run(load_items([{"key": "yes", "approve_step": True}, {"key": "no", "approve_step": True}], key="key"),
                     batch_id="b")  # fmt: skip
    assert seen_states == ["awaiting_approval", "awaiting_approval"]
    yes, no = runner.journal.item("b", "yes"), runner.journal.item("b", "no")
    assert (yes.state, yes.approvals, yes.human_approvals) == ("completed", 1, 1)
    assert yes.irreversible_at is not None
    assert no.irreversible_at is None
    assert yes.approval_wait_s >= 0.05
    assert (no.state, no.review_reason, no.reason) == ("needs_review", "denied", "wrong IBAN")
    assert task.effects == {"yes": 1}


async def test_shadow_mode_captures_instead_of_asking(tmp_path: Path) -> None:
    task = FakeTask()
    runner = _runner(tmp_path, task, approver=PolicyApprover(mode="approve"))
    await runner.run(load_items([{"key": "a", "approve_step": True}], key="key"), batch_id="s", mode="shadow")
    item = runner.journal.item("s", "a")
    assert item.state == "completed"
    assert task.effects == {}
    assert item.output["would_submit"]["values"] == {"number": "a"}
    assert item.human_approvals == 0
    assert item.irreversible_at is None


async def test_pause_lets_items_under_way_finish_and_resume_continues(tmp_path: Path) -> None:
    release = asyncio.Event()

    class Slow(FakeTask):
        async def run(self, ctx: ItemContext, item: ItemRecord) -> ItemOutcome:
            if item.key == "first":
                runner.pause("b")
                await release.wait()
            return await super().run(ctx, item)

    task = Slow()
    runner = _runner(tmp_path, task, concurrency=1)
    items = load_items([{"key": k} for k in ("first", "second", "third")], key="key")
    running = asyncio.create_task(runner.run(items, batch_id="b"))
    await asyncio.sleep(1.2)
    release.set()
    summary = await running
    assert summary.status == "paused"
    assert task.calls == {"first": 1}
    assert runner.journal.batch("b").status == "paused"
    summary = await runner.resume("b")
    assert summary.status == "finished"
    assert task.calls == {"first": 1, "second": 1, "third": 1}


async def test_cancel_interrupts_and_hands_items_back_for_a_check(tmp_path: Path) -> None:
    class Stuck(FakeTask):
        async def run(self, ctx: ItemContext, item: ItemRecord) -> ItemOutcome:
            runner.cancel("b")
            await asyncio.sleep(60)
            raise AssertionError("cancel did not interrupt")

    runner = _runner(tmp_path, Stuck(), concurrency=2)
    summary = await asyncio.wait_for(
        runner.run(load_items([{"key": "a"}, {"key": "b"}], key="key"), batch_id="b"), 20
    )
    assert summary.status == "cancelled"
    items = runner.journal.items("b")
    assert [(i.state, i.needs_check) for i in items] == [("pending", True), ("pending", True)]


async def test_events_carry_counts_rate_and_eta(tmp_path: Path) -> None:
    events: list[BatchEvent] = []
    runner = _runner(tmp_path, FakeTask(), on_event=[events.append])
    await runner.run(load_items([{"key": str(n)} for n in range(4)], key="key"), batch_id="b")
    kinds = [e.kind for e in events]
    assert kinds[0] == "batch_started"
    assert kinds[-1] == "batch_stopped"
    assert kinds.count("item_finished") == 4
    last = [e for e in events if e.kind == "item_finished"][-1]
    assert last.counts["completed"] == 4
    assert last.total == 4
    assert last.rate_per_min is not None
    assert last.eta_s == 0


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="must be an ItemTask"):
        BatchRunner(task=object(), journal=":memory:")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="verify_completion needs a task with an idempotency check"):
        BatchRunner(task=FakeTask(check=False), journal="x.db", verify_completion=True)


def test_the_progress_bar_shows_counts_rate_and_eta() -> None:
    import io

    from operator_agent.batch import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar(stream=stream, width=10, force=True)
    counts = {
        "pending": 4,
        "running": 1,
        "awaiting_approval": 1,
        "completed": 3,
        "failed": 0,
        "needs_review": 1,
    }
    bar(
        BatchEvent(
            kind="item_finished", batch_id="2026-10", total=10, counts=counts, rate_per_min=6.0, eta_s=60
        )
    )
    assert stream.getvalue() == (
        "\r\x1b[2K2026-10 [####......] 4/10  done 3  failed 0  review 1  approval 1  6.0/min  ETA 60s"
    )
    assert not ProgressBar(stream=io.StringIO()).active, "no bar when the stream is not a terminal"
