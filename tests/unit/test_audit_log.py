from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from operator_agent.errors import TraceError
from operator_agent.guardrails.approval import ApprovalRequest
from operator_agent.guardrails.audit import AuditEvent, AuditLog
from operator_agent.guardrails.fingerprint import request_fingerprint
from operator_agent.guardrails.queue import ApprovalQueue
from operator_agent.logs import register_secret_values

REQUEST = ApprovalRequest(
    run_id="run-9",
    step=5,
    kind="fill",
    target='textbox "Amount" [e3]',
    url="http://127.0.0.1:8000/payments/new",
    reason="submits a payment",
    arguments={"ref": "e3", "text": "1200.00"},
    screenshot="runs/run-9/step-5.png",
)
FP = request_fingerprint(REQUEST)


def event(kind: str = "requested", **changes: object) -> AuditEvent:
    base = AuditEvent.for_request(
        "requested", request=REQUEST, fingerprint=FP, by="run:run-9", request_id="abc123", reason="why"
    )
    return base.model_copy(update={"event": kind, **changes})


def test_each_event_is_one_self_describing_json_line(tmp_path: Path) -> None:
    log = AuditLog(path=tmp_path / "audit" / "approvals.jsonl")
    at = datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=timezone(timedelta(hours=2)))
    log.record(
        AuditEvent.for_request(
            "approved",
            request=REQUEST,
            fingerprint=FP,
            by="alice",
            request_id="abc123",
            values={"Amount": "1200.00"},
            decision="approved",
            reason="matches PO 7",
            at=at,
        )
    )
    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["at"] == "2025-03-04T03:06:07.890123+00:00", "times are written in UTC"
    expected = {
        "v": 1,
        "event": "approved",
        "request_id": "abc123",
        "run_id": "run-9",
        "step": 5,
        "fingerprint": FP,
        "kind": "fill",
        "target": 'textbox "Amount" [e3]',
        "url": "http://127.0.0.1:8000/payments/new",
        "arguments": {"ref": "e3", "text": "1200.00"},
        "values": {"Amount": "1200.00"},
        "screenshot": "runs/run-9/step-5.png",
        "by": "alice",
        "decision": "approved",
        "reason": "matches PO 7",
    }
    assert {k: data[k] for k in expected} == expected
    assert " pid " in data["origin"]
    assert log.read() == [AuditEvent.model_validate(data)]


def test_recording_appends_and_never_rewrites(tmp_path: Path) -> None:
    log = AuditLog(path=tmp_path / "a.jsonl")
    log.record(event("requested"))
    before = log.path.read_bytes()
    log.record(event("approved", by="alice", decision="approved"))
    log.record(event("executed"))
    after = log.path.read_bytes()
    assert after.startswith(before)
    assert [e.event for e in log.read()] == ["requested", "approved", "executed"]
    assert [e.event for e in AuditLog(path=log.path).read(request_id="abc123")] == [
        "requested",
        "approved",
        "executed",
    ]
    assert log.read(request_id="other") == []


def test_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert AuditLog(path=tmp_path / "none.jsonl").read() == []


def test_secrets_never_reach_the_file(tmp_path: Path) -> None:
    log = AuditLog(path=tmp_path / "a.jsonl", secrets=["pw-987"])
    with register_secret_values(["tok-555"]):
        log.record(
            AuditEvent.for_request(
                "requested",
                request=REQUEST.model_copy(update={"url": "http://127.0.0.1/pay?token=tok-555"}),
                fingerprint=FP,
                by="run:run-9",
                values={"password": "pw-987", "note": "token tok-555 inside"},
                reason="typed pw-987",
            )
        )
    text = log.path.read_text(encoding="utf-8")
    assert "pw-987" not in text
    assert "tok-555" not in text
    recorded = log.read()[0]
    assert recorded.values == {"password": "[REDACTED]", "note": "token [REDACTED] inside"}
    assert recorded.url == "http://127.0.0.1/pay?token=[REDACTED]"
    assert recorded.reason == "typed [REDACTED]"


def test_naive_times_are_refused() -> None:
    data = {**event().model_dump(mode="json"), "at": "2025-01-01T00:00:00"}
    with pytest.raises(ValidationError, match="time zone"):
        AuditEvent.model_validate(data)


def test_a_torn_last_line_does_not_swallow_the_next_event(tmp_path: Path) -> None:
    log = AuditLog(path=tmp_path / "a.jsonl")
    log.record(event("requested"))
    with log.path.open("a", encoding="utf-8") as fh:  # a writer that died mid-line
        fh.write('{"v":1,"event":"appro')
    log.record(event("denied", by="bob", decision="denied"))
    lines = log.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    assert json.loads(lines[2])["event"] == "denied"
    with pytest.raises(TraceError, match=r"a\.jsonl:2: not a JSON line"):
        log.read()


def test_unreadable_lines_are_reported_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    good = event().model_dump_json()
    path.write_text(good + "\n" + json.dumps({**json.loads(good), "v": 7}) + "\n", encoding="utf-8")
    with pytest.raises(TraceError, match=r"a\.jsonl:2: audit schema version 7 is not supported"):
        AuditLog(path=path).read()
    path.write_text(good + "\n" + json.dumps({**json.loads(good), "event": "deleted"}) + "\n")
    with pytest.raises(TraceError, match=r"a\.jsonl:2: not a valid audit event"):
        AuditLog(path=path).read()


@pytest.mark.skipif(sys.platform == "win32", reason="directories cannot be opened for appending on POSIX")
def test_an_unwritable_log_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot open audit log"):
        AuditLog(path=tmp_path).record(event())


def test_concurrent_writers_produce_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    long_reason = "x" * 20_000  # far beyond any atomic-write size the OS promises

    def write(index: int) -> None:
        AuditLog(path=path).record(event(reason=f"{index}:{long_reason}", step=index))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(64)))
    events = AuditLog(path=path).read()
    assert sorted(e.step for e in events) == list(range(64))
    assert all(e.reason == f"{e.step}:{long_reason}" for e in events)


def test_the_queue_audit_is_complete_in_both_table_and_file(tmp_path: Path) -> None:
    log = AuditLog(path=tmp_path / "audit.jsonl")
    queue = ApprovalQueue(path=tmp_path / "q.sqlite", timeout_s=60, audit=log)
    first = queue.submit(REQUEST, fingerprint=FP, values={"Amount": "1200.00"})
    queue.approve(first, by="alice", reason="ok")
    queue.consume(first, fingerprint="f" * 64)
    queue.consume(first, fingerprint=FP)
    second_request = REQUEST.model_copy(update={"step": 6})
    second = queue.submit(second_request, fingerprint=FP)
    queue.deny(second, by="bob", reason="duplicate payment")

    # A second process opening the same queue without naming the log still appends to it.
    ApprovalQueue(path=tmp_path / "q.sqlite").consume(second, fingerprint=FP)

    in_file = log.read()
    assert in_file == queue.events()
    summary = [(e.request_id, e.event, e.by, e.decision) for e in in_file]
    assert summary == [
        (first, "requested", "run:run-9", None),
        (first, "approved", "alice", "approved"),
        (first, "refused", "run:run-9", None),
        (first, "executed", "run:run-9", "approved"),
        (second, "requested", "run:run-9", None),
        (second, "denied", "bob", "denied"),
        (second, "refused", "run:run-9", None),
    ]
    assert all(e.run_id == "run-9" and e.kind == "fill" and e.url == REQUEST.url for e in in_file)
    assert all(e.screenshot == "runs/run-9/step-5.png" for e in in_file)
    assert in_file[0].values == {"Amount": "1200.00"}
    assert in_file[2].fingerprint == "f" * 64, "a refusal records the fingerprint that was presented"
    assert [e.at for e in in_file] == sorted(e.at for e in in_file)
    assert all(e.at.tzinfo == UTC for e in in_file)
