from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from operator_agent.errors import (
    ApprovalConflictError,
    ApprovalError,
    ConfigurationError,
    UnknownApprovalError,
)
from operator_agent.guardrails.approval import ApprovalRequest, Approver
from operator_agent.guardrails.audit import AuditLog
from operator_agent.guardrails.fingerprint import action_fingerprint, request_fingerprint
from operator_agent.guardrails.queue import ApprovalQueue, QueueApprover, QueuedApproval
from operator_agent.logs import register_secret_values


def make_request(step: int = 1, *, amount: str = "1200.00") -> ApprovalRequest:
    return ApprovalRequest(
        run_id="run-7",
        step=step,
        kind="click",
        target='button "Pay invoice" [e4]',
        url="http://127.0.0.1:8000/invoices/42",
        reason="the model declared it irreversible",
        arguments={"ref": "e4", "amount": amount},
        screenshot="runs/run-7/step-1.png",
    )


@pytest.fixture
def queue(tmp_path: Path) -> ApprovalQueue:
    return ApprovalQueue(path=tmp_path / "approvals.sqlite", timeout_s=30, poll_interval_s=0.02)


def submit(queue: ApprovalQueue, request: ApprovalRequest | None = None) -> tuple[str, str]:
    request = request or make_request()
    fingerprint = request_fingerprint(request)
    return queue.submit(request, fingerprint=fingerprint), fingerprint


def test_a_submitted_request_is_pending_with_everything_a_person_needs(queue: ApprovalQueue) -> None:
    request = make_request()
    fp = request_fingerprint(request, values={"amount": "1200.00"})
    request_id = queue.submit(request, fingerprint=fp, values={"amount": "1200.00"})
    item = queue.get(request_id)
    assert item.status == "pending"
    assert item.request == request
    assert item.fingerprint == fp
    assert item.values == {"amount": "1200.00"}
    assert item.decision() is None
    assert not item.executed
    assert 29 <= (item.expires_at - item.created_at).total_seconds() <= 30.001
    assert [i.id for i in queue.list()] == [request_id]
    assert queue.list(status="approved") == []


def test_approve_and_deny_record_who_and_why(queue: ApprovalQueue) -> None:
    first, _ = submit(queue, make_request(1))
    second, _ = submit(queue, make_request(2))
    approved = queue.approve(first, by="alice", reason="invoice checked")
    denied = queue.deny(second, by="bob", reason="amount does not match the PO")
    assert approved.status == "approved"
    assert approved.decided_by == "alice"
    assert approved.decided_at is not None
    decision = approved.decision()
    assert decision is not None
    assert decision.approved
    assert decision.decided_by == "alice"
    decision = denied.decision()
    assert decision is not None
    assert not decision.approved
    assert decision.reason == "amount does not match the PO"
    assert [i.id for i in queue.list(status="approved")] == [first]
    assert [i.id for i in queue.list(status="denied")] == [second]
    assert queue.list() == []
    assert {i.id for i in queue.list(status=None)} == {first, second}


def test_unknown_ids_are_typed_errors_that_name_the_id_and_queue(queue: ApprovalQueue) -> None:
    for call in (
        lambda: queue.get("nope"),
        lambda: queue.approve("nope", by="alice"),
        lambda: queue.deny("nope", by="alice", reason="x"),
        lambda: queue.consume("nope", fingerprint="0" * 64),
    ):
        with pytest.raises(
            UnknownApprovalError, match=r"no approval request 'nope' in queue .*approvals\.sqlite"
        ):
            call()


def test_a_decision_is_final(queue: ApprovalQueue) -> None:
    request_id, _ = submit(queue)
    queue.deny(request_id, by="bob", reason="wrong vendor")
    with pytest.raises(ApprovalConflictError, match=r"already denied by bob .*a decision is final"):
        queue.approve(request_id, by="alice")
    with pytest.raises(ApprovalConflictError):
        queue.deny(request_id, by="carol", reason="again")
    assert queue.get(request_id).decided_by == "bob"


def test_bad_arguments_are_refused(queue: ApprovalQueue, tmp_path: Path) -> None:
    request_id, _ = submit(queue)
    with pytest.raises(ConfigurationError, match="needs a reason"):
        queue.deny(request_id, by="bob", reason="  ")
    with pytest.raises(ConfigurationError, match="needs a name"):
        queue.approve(request_id, by="")
    with pytest.raises(ConfigurationError, match="64 lowercase hex"):
        queue.submit(make_request(), fingerprint="abc")
    with pytest.raises(ConfigurationError, match="must be positive"):
        ApprovalQueue(path=tmp_path / "q2.sqlite", timeout_s=0)
    assert queue.get(request_id).status == "pending"


def test_consume_is_exactly_once_and_bound_to_the_fingerprint(queue: ApprovalQueue) -> None:
    request_id, fp = submit(queue)
    assert not queue.consume(request_id, fingerprint=fp), "a pending request must not execute"
    queue.approve(request_id, by="alice")
    changed = request_fingerprint(make_request(amount="12000.00"))
    assert not queue.consume(request_id, fingerprint=changed), "a different action must be refused"
    assert not queue.get(request_id).executed
    assert queue.consume(request_id, fingerprint=fp)
    assert queue.get(request_id).executed
    assert not queue.consume(request_id, fingerprint=fp), "an approval is used once"
    kinds = [(e.event, e.fingerprint, e.reason) for e in queue.events(request_id=request_id)]
    assert [k[0] for k in kinds] == ["requested", "refused", "approved", "refused", "executed", "refused"]
    assert "not approved" in kinds[1][2]
    assert kinds[3][1] == changed
    assert "action changed since it was approved" in kinds[3][2]
    assert "already used" in kinds[5][2]


def test_a_denied_request_never_executes(queue: ApprovalQueue) -> None:
    request_id, fp = submit(queue)
    queue.deny(request_id, by="bob", reason="no")
    assert not queue.consume(request_id, fingerprint=fp)


async def test_wait_returns_the_decision(queue: ApprovalQueue) -> None:
    request_id, _ = submit(queue)

    async def decide_later() -> None:
        await asyncio.sleep(0.1)
        await asyncio.to_thread(queue.approve, request_id, by="alice", reason="ok")

    task = asyncio.create_task(decide_later())
    decision = await asyncio.wait_for(queue.wait(request_id), timeout=30)
    await task
    assert decision.approved
    assert decision.decided_by == "alice"


async def test_an_undecided_request_expires_as_a_denial(tmp_path: Path) -> None:
    queue = ApprovalQueue(path=tmp_path / "q.sqlite", timeout_s=0.3, poll_interval_s=0.05)
    request_id, fp = submit(queue)
    started = time.monotonic()
    decision = await asyncio.wait_for(queue.wait(request_id), timeout=30)
    elapsed = time.monotonic() - started
    assert 0.2 <= elapsed < 10, "expiry comes at the deadline, give or take a loaded machine"
    assert not decision.approved
    assert decision.decided_by == "queue:timeout"
    assert "no decision within 0.3 s" in decision.reason
    with pytest.raises(ApprovalConflictError, match="expired"):
        queue.approve(request_id, by="alice")
    assert not queue.consume(request_id, fingerprint=fp)
    assert [e.event for e in queue.events(request_id=request_id)] == ["requested", "expired", "refused"]


def test_requests_expire_even_when_nobody_waits(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite"
    request_id, _ = submit(ApprovalQueue(path=path, timeout_s=0.05))
    time.sleep(0.1)
    # Another process opening the queue later (with another timeout) sees the expiry.
    other = ApprovalQueue(path=path, timeout_s=900)
    assert other.list() == []
    assert other.get(request_id).status == "expired"
    with pytest.raises(ApprovalConflictError, match="expired"):
        other.approve(request_id, by="alice")


def test_a_resumed_run_finds_its_pending_request_instead_of_a_duplicate(queue: ApprovalQueue) -> None:
    first, fp = submit(queue)
    assert queue.submit(make_request(), fingerprint=fp) == first
    assert len(queue.list()) == 1
    queue.approve(first, by="alice")
    # Once decided, asking again is a new request: an approval is never reused without consume.
    assert queue.submit(make_request(), fingerprint=fp) != first
    assert len(queue.list()) == 1


def test_secrets_are_masked_before_they_are_stored(tmp_path: Path) -> None:
    queue = ApprovalQueue(
        path=tmp_path / "q.sqlite", audit=AuditLog(path=tmp_path / "a.jsonl", secrets=["s3cr3t"])
    )
    request = make_request().model_copy(update={"url": "http://127.0.0.1/pay?token=tok-123"})
    with register_secret_values(["tok-123"]):
        request_id = queue.submit(request, fingerprint="a" * 64, values={"pin": "s3cr3t", "amount": "5"})
    item = queue.get(request_id)
    assert item.request.url == "http://127.0.0.1/pay?token=[REDACTED]"
    assert item.values == {"pin": "[REDACTED]", "amount": "5"}
    raw = (tmp_path / "q.sqlite").read_bytes() + (tmp_path / "a.jsonl").read_bytes()
    assert b"tok-123" not in raw
    assert b"s3cr3t" not in raw


def test_history_tables_refuse_rewrites(queue: ApprovalQueue) -> None:
    request_id, _ = submit(queue)
    queue.approve(request_id, by="alice")
    conn = sqlite3.connect(queue.path)
    try:
        for statement in (
            "UPDATE approval_events SET event = 'denied'",
            "DELETE FROM approval_events",
            "DELETE FROM approvals",
            "UPDATE approvals SET status = 'denied'",
        ):
            with pytest.raises(sqlite3.DatabaseError):
                conn.execute(statement)
    finally:
        conn.close()
    assert [e.event for e in queue.events()] == ["requested", "approved"]
    assert queue.get(request_id).status == "approved"


def test_a_file_that_is_not_a_queue_is_refused(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(ApprovalError, match=r"garbage\.sqlite"):
        ApprovalQueue(path=garbage)
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(ApprovalError, match=r"something else .*invoices"):
        ApprovalQueue(path=other)


def test_concurrent_deciders_in_threads_yield_exactly_one_decision(queue: ApprovalQueue) -> None:
    request_id, _ = submit(queue)
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def decide(index: int) -> None:
        barrier.wait()
        try:
            if index % 2:
                queue.approve(request_id, by=f"approver-{index}")
            else:
                queue.deny(request_id, by=f"denier-{index}", reason="no")
            outcome = "won"
        except ApprovalConflictError:
            outcome = "conflict"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    decisions = [e for e in queue.events(request_id=request_id) if e.event in {"approved", "denied"}]
    assert len(decisions) == 1
    assert queue.get(request_id).decided_by == decisions[0].by


async def test_queue_approver_waits_for_a_person_and_binds_consume(queue: ApprovalQueue) -> None:
    seen: list[QueuedApproval] = []
    submitted = asyncio.Event()

    def notify(item: QueuedApproval) -> None:
        seen.append(item)
        submitted.set()

    approver = QueueApprover(queue=queue, on_submit=notify)
    assert isinstance(approver, Approver)
    request = make_request()

    async def person() -> None:
        await submitted.wait()
        await asyncio.to_thread(queue.approve, seen[0].id, by="alice", reason="fine")

    helper = asyncio.create_task(person())
    decision = await asyncio.wait_for(approver.decide(request), timeout=30)
    await helper
    assert decision.approved
    assert decision.decided_by == "alice"
    assert approver.request_id_for(request) == seen[0].id
    assert seen[0].request == request
    # What runs differs from what was approved: refused, and the approval stays unused.
    assert not approver.consume(request, values={"amount": "99999"})
    assert approver.consume(request)
    assert not approver.consume(request)
    assert queue.get(seen[0].id).executed


async def test_queue_approver_fails_closed(queue: ApprovalQueue) -> None:
    submitted = asyncio.Event()

    def broken_notifier(item: QueuedApproval) -> None:
        submitted.set()
        raise RuntimeError("chat service down")

    approver = QueueApprover(queue=queue, on_submit=broken_notifier)
    decision = await approver.decide(make_request(), fingerprint="not-a-fingerprint")
    assert not decision.approved
    assert decision.decided_by == "queue:error"
    assert "fingerprint must be 64 lowercase hex" in decision.reason
    assert queue.list(status=None) == []

    # A notifier that raises does not lose the request: it can still be decided.
    task = asyncio.create_task(approver.decide(make_request(3)))
    await asyncio.wait_for(submitted.wait(), timeout=30)
    queue.deny(queue.list()[0].id, by="bob", reason="not this month")
    decision = await asyncio.wait_for(task, timeout=30)
    assert not decision.approved
    assert decision.reason == "not this month"


def test_fingerprints_from_the_helper_fit_the_queue(queue: ApprovalQueue) -> None:
    fp = action_fingerprint(url="http://x/", kind="click", target=None, arguments={})
    assert queue.get(queue.submit(make_request(), fingerprint=fp)).fingerprint == fp
