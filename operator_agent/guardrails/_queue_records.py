"""The approval queue's SQLite schema and its rows as models (see :mod:`operator_agent.guardrails.queue`)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from operator_agent.guardrails.approval import ApprovalDecision, ApprovalRequest

__all__ = [
    "EXPIRED_BY",
    "SCHEMA",
    "SCHEMA_VERSION",
    "ApprovalStatus",
    "QueuedApproval",
    "conflict_message",
    "iso",
    "item_from_row",
    "utc",
]

ApprovalStatus = Literal["pending", "approved", "denied", "expired"]
"""Where a request stands; every status but ``pending`` is final."""

SCHEMA_VERSION = 1
EXPIRED_BY = "queue:timeout"
"""Who decided a request that expired (the ``decided_by`` of an expiry)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    request TEXT NOT NULL,
    submitted_values TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    decided_at REAL,
    decided_by TEXT,
    decision_reason TEXT NOT NULL DEFAULT '',
    executed_at REAL
);
CREATE INDEX IF NOT EXISTS approvals_by_status ON approvals (status, created_at);
CREATE INDEX IF NOT EXISTS approvals_by_action ON approvals (run_id, step, fingerprint);
CREATE TABLE IF NOT EXISTS approval_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    event TEXT NOT NULL,
    at REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS approval_events_by_request ON approval_events (request_id, seq);
CREATE TABLE IF NOT EXISTS queue_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS approval_events_no_update BEFORE UPDATE ON approval_events
BEGIN SELECT RAISE(ABORT, 'approval_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS approval_events_no_delete BEFORE DELETE ON approval_events
BEGIN SELECT RAISE(ABORT, 'approval_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS approvals_no_delete BEFORE DELETE ON approvals
BEGIN SELECT RAISE(ABORT, 'approval requests are never deleted'); END;
CREATE TRIGGER IF NOT EXISTS approvals_decision_is_final BEFORE UPDATE OF status ON approvals
WHEN OLD.status != 'pending'
BEGIN SELECT RAISE(ABORT, 'an approval decision is final'); END;
CREATE TRIGGER IF NOT EXISTS approvals_execute_once BEFORE UPDATE OF executed_at ON approvals
WHEN OLD.executed_at IS NOT NULL OR NEW.status != 'approved'
BEGIN SELECT RAISE(ABORT, 'only an approved request is executed, and only once'); END;
"""


def utc(timestamp: float | None) -> datetime | None:
    """A stored timestamp (seconds since the epoch) as an aware UTC datetime; ``None`` stays ``None``."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def iso(timestamp: float) -> str:
    """A stored timestamp as ISO 8601 to the second, for messages."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


class QueuedApproval(BaseModel):
    """One approval request as the queue holds it.

    Attributes:
        id: The queue's id for the request (what the CLI takes).
        request: The request, secrets masked.
        fingerprint: The fingerprint of the action the request is for.
        values: The values about to be submitted, secrets masked.
        status: ``pending`` until approved, denied or expired.
        created_at: When it was submitted (UTC).
        expires_at: When it expires if nobody decides (UTC).
        decided_at: When it was decided or expired.
        decided_by: Who decided (``queue:timeout`` for expiry).
        decision_reason: The reason given with the decision.
        executed_at: When the approved action was consumed for execution.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    request: ApprovalRequest
    fingerprint: str
    values: dict[str, str]
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None
    decision_reason: str = ""
    executed_at: datetime | None = None

    @property
    def executed(self) -> bool:
        """Whether the approved action has been consumed for execution."""
        return self.executed_at is not None

    def decision(self) -> ApprovalDecision | None:
        """The decision, or ``None`` while pending; an expired request is a denial."""
        if self.status == "pending":
            return None
        return ApprovalDecision(
            approved=self.status == "approved",
            reason=self.decision_reason,
            decided_by=self.decided_by or EXPIRED_BY,
        )


def item_from_row(row: sqlite3.Row) -> QueuedApproval:
    """A row of the ``approvals`` table as a :class:`QueuedApproval`."""
    return QueuedApproval(
        id=row["id"],
        request=ApprovalRequest.model_validate_json(row["request"]),
        fingerprint=row["fingerprint"],
        values=json.loads(row["submitted_values"]),
        status=row["status"],
        created_at=utc(row["created_at"]),
        expires_at=utc(row["expires_at"]),
        decided_at=utc(row["decided_at"]),
        decided_by=row["decided_by"],
        decision_reason=row["decision_reason"],
        executed_at=utc(row["executed_at"]),
    )


def conflict_message(row: sqlite3.Row, path: Path) -> str:
    """Why the request in ``row`` (of the queue at ``path``) can no longer be decided."""
    status = row["status"]
    if status == "pending":  # past its deadline; the next sweep records the expiry
        return f"approval request {row['id']!r} in {path} expired at {iso(row['expires_at'])}"
    if status == "expired":
        return (
            f"approval request {row['id']!r} in {path} expired at {iso(row['decided_at'])} "
            "without a decision; the run was told it is denied"
        )
    return (
        f"approval request {row['id']!r} in {path} was already {status} by {row['decided_by']} at "
        f"{iso(row['decided_at'])}; a decision is final"
    )
