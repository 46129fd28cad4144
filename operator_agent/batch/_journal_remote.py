"""Moving items between journals, for scale-out: a worker adopts an item into its own journal, runs
it, and the coordinator merges the outcome back into the batch's journal."""

from __future__ import annotations

import time

from operator_agent.batch._journal_sql import dump
from operator_agent.batch.journal import Journal
from operator_agent.batch.records import ItemRecord
from operator_agent.errors import BatchError

__all__ = ["adopt", "merge_remote"]


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


def merge_remote(journal: Journal, batch_id: str, record: ItemRecord, *, worker: str) -> ItemRecord:
    """Record in the batch's journal how a worker finished an item.

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
        assignments = ", ".join(f"{name} = ?" for name in _MERGED)
        conn.execute(
            f"UPDATE items SET {assignments}, output = ?, artifacts = ?, irreversible_at = COALESCE(?, "
            "irreversible_at), needs_check = 0, owner = NULL, lease_until = NULL, first_started_at = "
            "COALESCE(first_started_at, ?), finished_at = ?, updated_at = ? WHERE batch_id = ? AND key = ?",
            (
                *values,
                dump(record.output) if record.output is not None else None,
                dump(artifacts),
                irreversible,
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
