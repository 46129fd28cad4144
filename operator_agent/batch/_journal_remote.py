"""Moving items between journals, for scale-out: a worker adopts an item into its own journal, runs
it, and the coordinator merges the outcome, and the history of the worker's run, back into the
batch's journal."""

from __future__ import annotations

import time
from collections.abc import Sequence

from operator_agent.batch._journal_sql import dump
from operator_agent.batch.journal import Journal
from operator_agent.batch.records import ItemEvent, ItemRecord
from operator_agent.errors import BatchError

__all__ = ["HISTORY_EVENTS", "adopt", "merge_remote", "run_history"]

HISTORY_EVENTS = frozenset(
    {"attempt", "idempotency_check", "approval_requested", "approval_decided", "irreversible_approved"}
)
"""The events of a worker's run that the coordinator's journal keeps (the worker's own bookkeeping,
such as its claims, and the final state, which the merge writes itself, are left out)."""


def adopt(journal: Journal, batch_id: str, record: ItemRecord, *, check_first: bool) -> None:
    """Put a copy of ``record`` into ``journal`` as ``pending`` (replacing an earlier copy), keeping what
    matters for exactly-once: its attempts, and whether it must be checked before it runs."""
    now = time.time()
    irreversible = record.irreversible_at.timestamp() if record.irreversible_at is not None else None
    with journal._write() as conn:
        journal.batch_row(conn, batch_id)
        conn.execute("DELETE FROM items WHERE batch_id = ? AND key = ?", (batch_id, record.key))
        conn.execute(
            "INSERT INTO items (batch_id, key, seq, source, data, state, attempts, needs_check, "
            "irreversible_at, updated_at) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
            (
                batch_id,
                record.key,
                record.seq,
                record.source,
                dump(record.data),
                record.attempts,
                int(check_first or record.needs_check),
                irreversible,
                now,
            ),
        )
        journal._event(conn, batch_id, record.key, "adopted", {"check_first": check_first})


_MERGED = (
    "state", "attempts", "error", "error_kind", "reason", "review_reason", "confidence", "work_s",
    "model_requests", "input_tokens", "output_tokens", "cost_usd", "approvals", "human_approvals",
    "approval_wait_s", "recovered", "reviewed",
)  # fmt: skip


def run_history(journal: Journal, batch_id: str, key: str) -> list[ItemEvent]:
    """The events of the worker's last run of an item (since it was last adopted) worth keeping."""
    events = journal.events(batch_id, key=key)
    starts = [n for n, e in enumerate(events) if e.event == "adopted"]
    since = starts[-1] + 1 if starts else 0
    return [e for e in events[since:] if e.event in HISTORY_EVENTS]


def merge_remote(
    journal: Journal,
    batch_id: str,
    record: ItemRecord,
    *,
    worker: str,
    history: Sequence[ItemEvent] = (),
) -> ItemRecord:
    """Record in the batch's journal how a worker finished an item, after the history of its run.

    Args:
        journal: The batch's journal.
        batch_id: The batch.
        record: The item as the worker's journal holds it at the end.
        worker: Which worker ran it.
        history: The events of the worker's run (:func:`run_history`); each is kept with the time
            it happened and the worker's name.

    Raises:
        BatchError: The outcome is not final.
    """
    if record.state not in ("completed", "failed", "needs_review"):
        raise BatchError(
            f"worker {worker} returned item {record.key!r} in state {record.state}, not a final one"
        )
    now = time.time()
    values = [getattr(record, name) for name in _MERGED]
    values = [int(v) if isinstance(v, bool) else v for v in values]
    irreversible = record.irreversible_at.timestamp() if record.irreversible_at is not None else None
    artifacts = {**record.artifacts, "worker": worker}
    with journal._write() as conn:
        journal._row(conn, batch_id, record.key)
        for event in history:
            if event.event in HISTORY_EVENTS:
                conn.execute(
                    "INSERT INTO item_events (batch_id, key, at, event, detail) VALUES (?, ?, ?, ?, ?)",
                    (batch_id, record.key, event.at.timestamp(), event.event,
                     dump({**event.detail, "worker": worker})),
                )  # fmt: skip
        assignments = ", ".join(f"{name} = ?" for name in _MERGED)
        conn.execute(
            f"UPDATE items SET {assignments}, output = ?, artifacts = ?, irreversible_at = COALESCE(?, "
            "irreversible_at), resolution = CASE WHEN ? THEN resolution ELSE '' END, "
            "needs_check = 0, owner = NULL, lease_until = NULL, first_started_at = "
            "COALESCE(first_started_at, ?), finished_at = ?, updated_at = ? WHERE batch_id = ? AND key = ?",
            (
                *values,
                dump(record.output) if record.output is not None else None,
                dump(artifacts),
                irreversible,
                int(record.state == "completed"),  # back in review: a person resolves it afresh
                record.first_started_at.timestamp() if record.first_started_at else now,
                now,
                now,
                batch_id,
                record.key,
            ),
        )
        journal._event(
            conn, batch_id, record.key, record.state,
            {"reason": record.reason[:500], "review_reason": record.review_reason, "worker": worker},
        )  # fmt: skip
        return journal.item_in(conn, batch_id, record.key)
