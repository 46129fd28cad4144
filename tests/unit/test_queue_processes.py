"""The queue across processes: a run waiting in one, people deciding from the CLI in others."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from operator_agent.guardrails.approval import ApprovalRequest
from operator_agent.guardrails.audit import AuditLog
from operator_agent.guardrails.fingerprint import request_fingerprint
from operator_agent.guardrails.queue import ApprovalQueue

REQUEST = ApprovalRequest(
    run_id="run-42",
    step=3,
    kind="click",
    target='button "Submit payment" [e7]',
    url="http://127.0.0.1:8000/invoices/42/pay",
    reason="the model declared it irreversible",
    arguments={"ref": "e7"},
)

# A run: waits on QueueApprover.decide, announces the request id, then reports the decision and
# whether the approval could be consumed for execution.
WAITER = """
import asyncio, json, sys
from operator_agent.logs import configure_logging
from operator_agent.guardrails.approval import ApprovalRequest
from operator_agent.guardrails.queue import ApprovalQueue, QueueApprover

configure_logging(level="error")

def announce(item):
    print(json.dumps({"id": item.id}), flush=True)

async def main():
    queue = ApprovalQueue(path=sys.argv[1], timeout_s=float(sys.argv[2]), poll_interval_s=0.05)
    approver = QueueApprover(queue=queue, on_submit=announce)
    request = ApprovalRequest.model_validate_json(sys.argv[3])
    decision = await approver.decide(request)
    consumed = approver.consume(request) if decision.approved else None
    print(json.dumps({"decision": decision.model_dump(), "consumed": consumed}), flush=True)

asyncio.run(main())
"""

# Imports first, says "ready", then acts when told "go" on stdin, so several processes really collide.
AT_THE_SAME_TIME = """
import sys
from operator_agent.logs import configure_logging
from operator_agent.guardrails.approvals_cli import main
from operator_agent.guardrails.queue import ApprovalQueue
configure_logging(level="error")
if sys.argv[1] == "consume":
    queue = ApprovalQueue(path=sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()
if sys.argv[1] == "consume":
    print(queue.consume(sys.argv[3], fingerprint=sys.argv[4]))
else:
    sys.exit(main(sys.argv[1:]))
"""


async def _together(*commands: list[str]) -> list[tuple[int, str, str]]:
    """Run each command in its own process, releasing them all at once when all are ready."""
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            AT_THE_SAME_TIME,
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for command in commands
    ]
    for proc in procs:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), timeout=60) == b"ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    results = []
    for proc in procs:
        out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
        assert proc.returncode is not None
        results.append((proc.returncode, out.decode(), err.decode()))
    return results


async def _python(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _cli(*args: str) -> tuple[int, str, str]:
    return await _python("-m", "operator_agent.guardrails.approvals_cli", "approvals", *args)


class Waiter:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, queue_path: Path, *, timeout_s: float) -> tuple[Waiter, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WAITER,
            str(queue_path),
            str(timeout_s),
            REQUEST.model_dump_json(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        waiter = cls(proc)
        first = await waiter.line()
        return waiter, str(first["id"])

    async def line(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout=30)
        if not raw:
            assert self.proc.stderr is not None
            err = await self.proc.stderr.read()
            raise AssertionError(f"waiter exited without output: {err.decode()}")
        data: dict[str, Any] = json.loads(raw)
        return data

    async def finish(self) -> dict[str, Any]:
        result = await self.line()
        assert await asyncio.wait_for(self.proc.wait(), timeout=30) == 0
        return result


async def test_a_waiting_run_gets_the_approval_made_from_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite"
    audit = tmp_path / "audit.jsonl"
    ApprovalQueue(path=path, audit=AuditLog(path=audit))  # the team's queue, with its audit log
    waiter, request_id = await Waiter.start(path, timeout_s=60)

    code, out, err = await _cli("list", "--queue", str(path), "--json")
    assert code == 0, err
    assert [item["id"] for item in json.loads(out)] == [request_id]

    code, out, err = await _cli(
        "approve", request_id, "--queue", str(path), "--by", "alice", "--reason", "PO matches", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "approved"

    result = await waiter.finish()
    assert result["decision"] == {"approved": True, "reason": "PO matches", "decided_by": "alice"}
    assert result["consumed"] is True

    events = AuditLog(path=audit).read()
    assert [e.event for e in events] == ["requested", "approved", "executed"]
    assert len({e.origin for e in events}) == 2, "the run and the CLI are different processes"
    assert events[1].by == "alice"
    assert events[2].fingerprint == request_fingerprint(REQUEST)
    assert ApprovalQueue(path=path).events() == events


async def test_a_denial_from_the_cli_reaches_the_run_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite"
    waiter, request_id = await Waiter.start(path, timeout_s=60)
    code, out, err = await _cli(
        "deny", request_id, "--queue", str(path), "--by", "bob", "--reason", "vendor is blocked"
    )
    assert code == 0, err
    assert f"denied {request_id} by bob" in out
    result = await waiter.finish()
    assert result["decision"] == {"approved": False, "reason": "vendor is blocked", "decided_by": "bob"}
    assert result["consumed"] is None
    assert not ApprovalQueue(path=path).get(request_id).executed


async def test_nobody_deciding_in_time_denies_and_a_late_approval_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite"
    started = time.monotonic()
    waiter, request_id = await Waiter.start(path, timeout_s=0.5)
    result = await waiter.finish()
    assert time.monotonic() - started < 40
    assert result["decision"]["approved"] is False
    assert result["decision"]["decided_by"] == "queue:timeout"
    code, _, err = await _cli("approve", request_id, "--queue", str(path), "--by", "late-larry")
    assert code == 1
    assert "expired" in err
    assert ApprovalQueue(path=path).get(request_id).status == "expired"


async def test_concurrent_cli_decisions_from_many_processes_yield_one(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite"
    queue = ApprovalQueue(path=path)
    request_id = queue.submit(REQUEST, fingerprint=request_fingerprint(REQUEST))
    common = ["--queue", str(path), "--json"]
    results = await _together(
        ["approvals", "approve", request_id, "--by", "alice", *common],
        ["approvals", "deny", request_id, "--by", "bob", "--reason", "no", *common],
        ["approvals", "approve", request_id, "--by", "carol", *common],
    )
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1, 1], [r[2] for r in results]
    losers = [json.loads(out) for code, out, _ in results if code == 1]
    assert {loser["error"] for loser in losers} == {"ApprovalConflictError"}
    decisions = [e for e in queue.events(request_id=request_id) if e.event in {"approved", "denied"}]
    assert len(decisions) == 1
    item = queue.get(request_id)
    assert item.decided_by == decisions[0].by
    assert all(item.decided_by in loser["message"] for loser in losers)


async def test_an_approval_is_consumed_once_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "approvals.sqlite"
    queue = ApprovalQueue(path=path)
    fingerprint = request_fingerprint(REQUEST)
    request_id = queue.submit(REQUEST, fingerprint=fingerprint)
    queue.approve(request_id, by="alice")
    results = await _together(*(["consume", str(path), request_id, fingerprint] for _ in range(3)))
    assert all(code == 0 for code, _, _ in results), [r[2] for r in results]
    assert sorted(out.strip() for _, out, _ in results) == ["False", "False", "True"]
    events = [e.event for e in queue.events(request_id=request_id)]
    assert events.count("executed") == 1
    assert events.count("refused") == 2
