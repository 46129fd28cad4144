"""A durable approval queue in one SQLite file, shared by runs, people and tools.

A run :meth:`~ApprovalQueue.submit`\\ s an :class:`ApprovalRequest` with the fingerprint of the exact
action and :meth:`~ApprovalQueue.wait`\\ s; a person (the ``operator-agent approvals`` command, a
dashboard, another service) lists pending requests and approves or denies them from any process.
Right before the action runs, the run :meth:`~ApprovalQueue.consume`\\ s the approval with the
fingerprint of what is about to happen: it succeeds once, and only for the approved action.

Every state change is one ``BEGIN IMMEDIATE`` transaction, so concurrent deciders race safely: one
decision wins and the others get :class:`~operator_agent.errors.ApprovalConflictError`. Requests
nobody decides within ``timeout_s`` expire, which counts as a denial. Each change also appends a row
to the ``approval_events`` table, which triggers keep append-only, and, when an :class:`AuditLog` is
given, a line to that JSONL file.

Import everything from here: the table schema and :class:`QueuedApproval` live in
``_queue_records``, and :class:`QueueApprover` in ``_queue_approver``, but this module exports them.
"""

from __future__ import annotations

import asyncio
import builtins
import json
import os
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Literal

from operator_agent._sqlite import ensure_schema, immediate, open_connection, prepare_folder, use_wal
from operator_agent.errors import (
    ApprovalConflictError,
    ApprovalError,
    ConfigurationError,
    UnknownApprovalError,
)
from operator_agent.guardrails._queue_approver import QueueApprover
from operator_agent.guardrails._queue_records import (
    EXPIRED_BY,
    SCHEMA,
    SCHEMA_VERSION,
    ApprovalStatus,
    QueuedApproval,
    conflict_message,
    iso,
    item_from_row,
    utc,
)
from operator_agent.guardrails.approval import ApprovalDecision, ApprovalRequest
from operator_agent.guardrails.audit import AuditEvent, AuditEventKind, AuditLog, mask_secrets
from operator_agent.logs import get_logger

__all__ = ["ApprovalQueue", "ApprovalStatus", "QueueApprover", "QueuedApproval"]

_log = get_logger("operator_agent.guardrails.queue")
_WHAT = "approval queue"
_FINGERPRINT = re.compile(r"[0-9a-f]{64}")


class ApprovalQueue:
    """Approval requests in a SQLite file (WAL mode), safe across processes and threads.

    Args:
        path: The database file; it and its folder are created if missing.
        timeout_s: How long a request waits for a decision before it expires (a denial).
        poll_interval_s: How often :meth:`wait` looks for a decision.
        audit: A JSONL audit log that receives every event as well (the queue always keeps its own
            ``approval_events`` table). The queue remembers it: every process that opens this queue
            without an ``audit`` of its own (the ``approvals`` command included) appends to it too.
        busy_timeout_s: How long an operation waits for another process's write to finish.

    Raises:
        ApprovalError: The file is not an approval queue, or is of a newer schema.
    """

    def __init__(
        self,
        *,
        path: str | os.PathLike[str],
        timeout_s: float = 900,
        poll_interval_s: float = 0.5,
        audit: AuditLog | None = None,
        busy_timeout_s: float = 10.0,
    ) -> None:
        if timeout_s <= 0 or poll_interval_s <= 0 or busy_timeout_s <= 0:
            raise ConfigurationError(
                "ApprovalQueue: timeout_s, poll_interval_s and busy_timeout_s must be positive, got "
                f"{timeout_s}, {poll_interval_s} and {busy_timeout_s}"
            )
        self.path = Path(path)
        self.timeout_s = float(timeout_s)
        self.poll_interval_s = float(poll_interval_s)
        self.audit = audit
        self._busy_timeout_s = busy_timeout_s
        self._init_schema()

    # -- storage ---------------------------------------------------------------------------------

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return open_connection(
            self.path, what=_WHAT, error=ApprovalError, busy_timeout_s=self._busy_timeout_s
        )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; taking the write lock up front makes check-then-update atomic."""
        with self._connect() as conn, immediate(conn):
            yield conn

    def _init_schema(self) -> None:
        prepare_folder(self.path, what=_WHAT, error=ApprovalError)
        with self._connect() as conn:
            use_wal(conn, path=self.path, what=_WHAT)
        with self._transaction() as conn:
            ensure_schema(
                conn, path=self.path, what=_WHAT, error=ApprovalError, schema=SCHEMA, version=SCHEMA_VERSION
            )
            if self.audit is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO queue_settings (key, value) VALUES ('audit_log', ?)",
                    (str(self.audit.path.resolve()),),
                )
            else:
                row = conn.execute("SELECT value FROM queue_settings WHERE key = 'audit_log'").fetchone()
                if row is not None:
                    self.audit = AuditLog(path=row["value"])

    def _fetch(self, conn: sqlite3.Connection, request_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM approvals WHERE id = ?", (request_id,)
        ).fetchone()
        if row is None:
            raise UnknownApprovalError(f"no approval request {request_id!r} in queue {self.path}")
        return row

    def _append_event(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        event: AuditEventKind,
        *,
        by: str,
        now: float,
        decision: Literal["approved", "denied"] | None = None,
        reason: str = "",
        fingerprint: str | None = None,
    ) -> AuditEvent:
        record = AuditEvent.for_request(
            event,
            request=ApprovalRequest.model_validate_json(row["request"]),
            request_id=row["id"],
            fingerprint=fingerprint or row["fingerprint"],
            values=json.loads(row["submitted_values"]),
            by=by,
            decision=decision,
            reason=reason,
            at=utc(now),
        )
        conn.execute(
            "INSERT INTO approval_events (request_id, event, at, record) VALUES (?, ?, ?, ?)",
            (row["id"], event, now, record.model_dump_json()),
        )
        return record

    def _expire_overdue(self, conn: sqlite3.Connection, now: float) -> builtins.list[AuditEvent]:
        overdue = conn.execute(
            "SELECT * FROM approvals WHERE status = 'pending' AND expires_at <= ?", (now,)
        ).fetchall()
        events = []
        for row in overdue:
            waited = row["expires_at"] - row["created_at"]
            reason = f"no decision within {waited:g} s: expired, which counts as a denial"
            conn.execute(
                "UPDATE approvals SET status = 'expired', decided_at = ?, decided_by = ?, "
                "decision_reason = ? WHERE id = ? AND status = 'pending'",
                (now, EXPIRED_BY, reason, row["id"]),
            )
            events.append(
                self._append_event(
                    conn, row, "expired", by=EXPIRED_BY, now=now, decision="denied", reason=reason
                )
            )
        return events

    def _sweep(self) -> None:
        """Expire overdue requests; the write lock is taken only when there is something to expire."""
        now = time.time()
        with self._connect() as conn:
            due = conn.execute(
                "SELECT 1 FROM approvals WHERE status = 'pending' AND expires_at <= ? LIMIT 1", (now,)
            ).fetchone()
        if due is not None:
            with self._transaction() as conn:
                events = self._expire_overdue(conn, time.time())
            self._publish(events)

    def _publish(self, events: builtins.list[AuditEvent]) -> None:
        """Copy committed events to the JSONL audit log and the structured log."""
        for event in events:
            _log.info(
                f"approval {event.event}",
                request_id=event.request_id,
                run_id=event.run_id,
                step=event.step,
                by=event.by,
            )
            if self.audit is not None:
                self.audit.record(event)

    # -- public API ------------------------------------------------------------------------------

    def submit(
        self,
        request: ApprovalRequest,
        *,
        fingerprint: str,
        values: Mapping[str, str] | None = None,
    ) -> str:
        """Queue a request and return its id.

        If the same run already has a pending request for the same step and fingerprint (a run
        resumed after a crash), that request's id is returned instead of queueing a duplicate.

        Args:
            request: What needs approval.
            fingerprint: The action's fingerprint (see
                :func:`~operator_agent.guardrails.fingerprint.action_fingerprint`).
            values: The values about to be submitted, shown to the person; secrets masked.

        Raises:
            ConfigurationError: The fingerprint is not a SHA-256 hex digest.
        """
        if not _FINGERPRINT.fullmatch(fingerprint):
            raise ConfigurationError(
                f"ApprovalQueue.submit: fingerprint must be 64 lowercase hex digits, got {fingerprint!r}"
            )
        hidden = self.audit.secrets if self.audit is not None else ()
        stored_request = ApprovalRequest.model_validate(mask_secrets(request.model_dump(mode="json"), hidden))
        stored_values = mask_secrets(dict(values or {}), hidden)
        self._sweep()
        now = time.time()
        event: AuditEvent | None = None
        with self._transaction() as conn:
            existing = conn.execute(
                "SELECT id FROM approvals WHERE run_id = ? AND step = ? AND fingerprint = ? "
                "AND status = 'pending' ORDER BY created_at LIMIT 1",
                (request.run_id, request.step, fingerprint),
            ).fetchone()
            if existing is not None:
                request_id = str(existing["id"])
            else:
                request_id = secrets.token_hex(6)
                conn.execute(
                    "INSERT INTO approvals (id, created_at, expires_at, run_id, step, fingerprint, "
                    "request, submitted_values, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    (
                        request_id,
                        now,
                        now + self.timeout_s,
                        request.run_id,
                        request.step,
                        fingerprint,
                        stored_request.model_dump_json(),
                        json.dumps(stored_values, ensure_ascii=False),
                    ),
                )
                row = self._fetch(conn, request_id)
                event = self._append_event(
                    conn, row, "requested", by=f"run:{request.run_id}", now=now, reason=request.reason
                )
        if event is None:
            _log.info("approval request already queued", request_id=request_id, run_id=request.run_id)
        else:
            self._publish([event])
        return request_id

    def get(self, request_id: str) -> QueuedApproval:
        """The request with this id, as it stands now.

        Raises:
            UnknownApprovalError: There is no such request.
        """
        self._sweep()
        with self._connect() as conn:
            return item_from_row(self._fetch(conn, request_id))

    def list(self, *, status: ApprovalStatus | None = "pending") -> builtins.list[QueuedApproval]:
        """Requests with this status (all of them for ``None``), oldest first."""
        self._sweep()
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM approvals WHERE ?1 IS NULL OR status = ?1 ORDER BY created_at, id", (status,)
            ).fetchall()
        return [item_from_row(row) for row in rows]

    def events(self, *, request_id: str | None = None) -> builtins.list[AuditEvent]:
        """The queue's own audit trail (the ``approval_events`` table), oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT record FROM approval_events WHERE ?1 IS NULL OR request_id = ?1 ORDER BY seq",
                (request_id,),
            ).fetchall()
        return [AuditEvent.model_validate_json(row["record"]) for row in rows]

    def approve(self, request_id: str, *, by: str, reason: str = "") -> QueuedApproval:
        """Approve a pending request.

        Raises:
            UnknownApprovalError: There is no such request.
            ApprovalConflictError: It was already decided, or has expired.
        """
        return self._decide(request_id, "approved", by=by, reason=reason)

    def deny(self, request_id: str, *, by: str, reason: str) -> QueuedApproval:
        """Deny a pending request; the reason is passed back to the run.

        Raises:
            UnknownApprovalError: There is no such request.
            ApprovalConflictError: It was already decided, or has expired.
        """
        if not reason.strip():
            raise ConfigurationError(f"denying approval request {request_id!r} needs a reason")
        return self._decide(request_id, "denied", by=by, reason=reason)

    def _decide(
        self, request_id: str, status: Literal["approved", "denied"], *, by: str, reason: str
    ) -> QueuedApproval:
        if not by.strip():
            raise ConfigurationError(f"deciding approval request {request_id!r} needs a name in 'by'")
        self._sweep()
        now = time.time()
        with self._transaction() as conn:
            row = self._fetch(conn, request_id)
            if row["status"] != "pending" or row["expires_at"] <= now:
                raise ApprovalConflictError(conflict_message(row, self.path))
            conn.execute(
                "UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, decision_reason = ? "
                "WHERE id = ? AND status = 'pending'",
                (status, now, by, reason, request_id),
            )
            event = self._append_event(conn, row, status, by=by, now=now, decision=status, reason=reason)
            item = item_from_row(self._fetch(conn, request_id))
        self._publish([event])
        return item

    def consume(self, request_id: str, *, fingerprint: str) -> bool:
        """Claim an approved request for execution, exactly once, for exactly the approved action.

        Call it right before the action runs, with the fingerprint computed from what is about to
        happen. Every refusal is recorded as a ``refused`` event.

        Returns:
            ``True`` once for an approved request whose fingerprint matches; ``False`` if the
            fingerprint differs, the request is not approved, or it was consumed already.

        Raises:
            UnknownApprovalError: There is no such request.
        """
        now = time.time()
        with self._transaction() as conn:
            row = self._fetch(conn, request_id)
            refusal: str | None = None
            if row["status"] != "approved":
                refusal = f"the request is {row['status']}, not approved"
            elif row["executed_at"] is not None:
                refusal = f"the approval was already used at {iso(row['executed_at'])}"
            elif fingerprint != row["fingerprint"]:
                refusal = (
                    f"the action changed since it was approved: fingerprint {fingerprint[:12]}… "
                    f"differs from the approved {row['fingerprint'][:12]}…"
                )
            by = f"run:{row['run_id']}"
            if refusal is None:
                conn.execute(
                    "UPDATE approvals SET executed_at = ? WHERE id = ? AND executed_at IS NULL",
                    (now, request_id),
                )
                event = self._append_event(conn, row, "executed", by=by, now=now, decision="approved")
            else:
                event = self._append_event(
                    conn, row, "refused", by=by, now=now, reason=refusal, fingerprint=fingerprint
                )
        if refusal is not None:
            _log.warning("approval refused for execution", request_id=request_id, why=refusal)
        self._publish([event])
        return refusal is None

    async def wait(self, request_id: str) -> ApprovalDecision:
        """Wait until the request is decided; at its deadline it expires, which is a denial.

        Raises:
            UnknownApprovalError: There is no such request.
        """
        while True:
            item = await asyncio.to_thread(self.get, request_id)
            decision = item.decision()
            if decision is not None:
                return decision
            remaining = item.expires_at.timestamp() - time.time()
            await asyncio.sleep(min(self.poll_interval_s, max(remaining, 0.01)))
