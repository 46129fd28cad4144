"""The durable batch journal: one SQLite file (WAL mode) holding every batch, item and event.

Each state change is one ``BEGIN IMMEDIATE`` transaction, committed before the work it announces
goes ahead: an item is ``running`` in the journal before its browser work starts, and an approved
irreversible step is noted before it is carried out. So after a crash (even ``kill -9``) the journal
says exactly which items may have had an effect, and :meth:`Journal.recover` hands those back with
``needs_check`` set, for the idempotency check to look at the site before anything is retried.

Several processes may work on one batch: claiming an item is atomic, and each claim carries its
owner (host, process id) and a lease, so a live worker's items are never taken over while a dead
one's are recovered. The ``item_events`` table is append-only (triggers refuse changes).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from operator_agent._sqlite import ensure_schema, immediate, open_connection, prepare_folder, use_wal
from operator_agent.batch._journal_sql import (
    SCHEMA,
    batch_from_row,
    dump,
    item_from_row,
    owner_id,
    owner_is_alive,
)
from operator_agent.batch.items import BatchItem
from operator_agent.batch.records import (
    BatchInfo,
    BatchMode,
    BatchStatus,
    ItemEvent,
    ItemRecord,
    ItemState,
    ReviewReason,
    utc,
)
from operator_agent.errors import BatchError, ConfigurationError, UnknownBatchItemError
from operator_agent.logs import get_logger

__all__ = ["SCHEMA_VERSION", "Journal", "owner_id", "owner_is_alive"]

SCHEMA_VERSION = 1
_log = get_logger("operator_agent.batch.journal")
_WHAT = "batch journal"


class Journal:
    """Batches, items and their history in one SQLite file, safe across threads and processes.

    Args:
        path: The database file; it and its folder are created if missing.
        busy_timeout_s: How long an operation waits for another process's write to finish.

    Raises:
        BatchError: The file cannot be opened, is not a batch journal, or is of a newer schema.
    """

    def __init__(self, *, path: str | os.PathLike[str], busy_timeout_s: float = 30.0) -> None:
        if busy_timeout_s <= 0:
            raise ConfigurationError(f"Journal busy_timeout_s must be positive, got {busy_timeout_s}")
        self.path = Path(path)
        self._busy_timeout_s = busy_timeout_s
        self._init_schema()

    def __repr__(self) -> str:
        return f"Journal(path={str(self.path)!r})"

    # -- storage ---------------------------------------------------------------------------------

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        # NORMAL is durable in WAL mode against a process crash; only a power loss may drop the last
        # commits, which the idempotency check then covers.
        return open_connection(
            self.path,
            what=_WHAT,
            error=BatchError,
            busy_timeout_s=self._busy_timeout_s,
            pragmas=("PRAGMA synchronous=NORMAL",),
        )

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn, immediate(conn):
            yield conn

    def _init_schema(self) -> None:
        prepare_folder(self.path, what=_WHAT, error=BatchError)
        with self._connect() as conn:
            use_wal(conn, path=self.path, what=_WHAT)
        with self._write() as conn:
            ensure_schema(
                conn, path=self.path, what=_WHAT, error=BatchError, schema=SCHEMA, version=SCHEMA_VERSION
            )

    @staticmethod
    def _event(
        conn: sqlite3.Connection, batch_id: str, key: str, event: str, detail: Mapping[str, Any]
    ) -> None:
        conn.execute(
            "INSERT INTO item_events (batch_id, key, at, event, detail) VALUES (?, ?, ?, ?, ?)",
            (batch_id, key, time.time(), event, dump(dict(detail))),
        )

    def item_in(self, conn: sqlite3.Connection, batch_id: str, key: str) -> ItemRecord:
        """An item read inside an open transaction."""
        return item_from_row(self._row(conn, batch_id, key))

    @staticmethod
    def _row(conn: sqlite3.Connection, batch_id: str, key: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute(
            "SELECT * FROM items WHERE batch_id = ? AND key = ?", (batch_id, key)
        ).fetchone()
        if row is None:
            raise UnknownBatchItemError(f"batch {batch_id!r} in {_name(conn)} has no item {key!r}")
        return row

    # -- batches ---------------------------------------------------------------------------------

    def create_batch(
        self, batch_id: str, *, task: str, mode: BatchMode = "live", settings: Mapping[str, Any] | None = None
    ) -> BatchInfo:
        """Create a batch, or return it if it exists with the same task and mode.

        Raises:
            BatchError: A batch with this id exists for another task or mode.
        """
        if not batch_id.strip() or len(batch_id) > 120:
            raise ConfigurationError(f"a batch id must be 1 to 120 characters, got {batch_id!r}")
        with self._write() as conn:
            row = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO batches (id, task, mode, status, settings, created_at) "
                    "VALUES (?, ?, ?, 'open', ?, ?)",
                    (batch_id, task, mode, dump(dict(settings or {})), time.time()),
                )
                self._event(conn, batch_id, "", "batch_created", {"task": task, "mode": mode})
            elif (row["task"], row["mode"]) != (task, mode):
                raise BatchError(
                    f"batch {batch_id!r} in {self.path} exists for task {row['task']!r} ({row['mode']}); "
                    f"it cannot be run as {task!r} ({mode}): choose another batch id"
                )
            row = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        return batch_from_row(row)

    def batch(self, batch_id: str) -> BatchInfo:
        """The batch with this id.

        Raises:
            UnknownBatchItemError: There is no such batch.
        """
        with self._connect() as conn:
            row = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise UnknownBatchItemError(f"no batch {batch_id!r} in journal {self.path}")
        return batch_from_row(row)

    def batches(self) -> list[BatchInfo]:
        """Every batch in the journal, oldest first."""
        with self._connect() as conn:
            rows = conn.execute("SELECT * FROM batches ORDER BY created_at, id").fetchall()
        return [batch_from_row(row) for row in rows]

    def set_status(
        self, batch_id: str, status: BatchStatus, *, settings: Mapping[str, Any] | None = None
    ) -> None:
        """Record that a batch started (``running``) or stopped (any other status)."""
        now = time.time()
        with self._write() as conn:
            self.batch_row(conn, batch_id)
            if status == "running":
                conn.execute(
                    "UPDATE batches SET status = 'running', control = '', started_at = ?, finished_at = NULL"
                    + (", settings = ?" if settings is not None else "")
                    + " WHERE id = ?",
                    (now, dump(dict(settings)), batch_id) if settings is not None else (now, batch_id),
                )
            else:
                conn.execute(
                    "UPDATE batches SET status = ?, finished_at = ? WHERE id = ?", (status, now, batch_id)
                )
            self._event(conn, batch_id, "", f"batch_{status}", {})

    def batch_row(self, conn: sqlite3.Connection, batch_id: str) -> sqlite3.Row:
        row: sqlite3.Row | None = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if row is None:
            raise UnknownBatchItemError(f"no batch {batch_id!r} in journal {self.path}")
        return row

    def request(self, batch_id: str, control: str) -> None:
        """Ask the processes running a batch to ``pause`` (finish items under way, then stop) or
        ``cancel`` (interrupt them now); ``""`` withdraws the request.

        Raises:
            UnknownBatchItemError: There is no such batch.
        """
        if control not in ("", "pause", "cancel"):
            raise ConfigurationError(f"batch control must be 'pause', 'cancel' or '', got {control!r}")
        with self._write() as conn:
            self.batch_row(conn, batch_id)
            conn.execute("UPDATE batches SET control = ? WHERE id = ?", (control, batch_id))
            self._event(conn, batch_id, "", "control", {"control": control})

    # -- items -----------------------------------------------------------------------------------

    def add_items(self, batch_id: str, items: Iterable[BatchItem]) -> int:
        """Add items to a batch; items already there with the same data are left as they are.

        Duplicates (``duplicate_of``) go straight to review. Returns how many items were added.

        Raises:
            BatchError: An item's key is already in the batch with different data (the message
                lists the keys); resolve with ``retry`` and new data, or use a new batch.
        """
        now = time.time()
        added = 0
        conflicts: list[str] = []
        with self._write() as conn:
            self.batch_row(conn, batch_id)
            seq = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM items WHERE batch_id = ?", (batch_id,))
            next_seq = int(seq.fetchone()[0]) + 1
            for item in items:
                data = dump(item.data)
                row = conn.execute(
                    "SELECT data FROM items WHERE batch_id = ? AND key = ?", (batch_id, item.key)
                ).fetchone()
                if row is not None:
                    if json.loads(row["data"]) != json.loads(data):
                        conflicts.append(item.key)
                    continue
                duplicate = item.duplicate_of is not None
                conn.execute(
                    "INSERT INTO items (batch_id, key, seq, source, data, duplicate_of, state, reason, "
                    "review_reason, reviewed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        batch_id,
                        item.key,
                        next_seq,
                        item.source,
                        data,
                        item.duplicate_of,
                        "needs_review" if duplicate else "pending",
                        f"the key {item.duplicate_of!r} appears more than once in the input; this "
                        f"occurrence ({item.source}) was not run"
                        if duplicate
                        else "",
                        "duplicate" if duplicate else "",
                        int(duplicate),
                        now,
                    ),
                )
                next_seq += 1
                added += 1
            if conflicts:
                raise BatchError(
                    f"batch {batch_id!r} already holds items {', '.join(conflicts[:10])}"
                    + (f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
                    + " with different data; use a new batch id, or resolve them with retry and new data"
                )
            if added:
                self._event(conn, batch_id, "", "items_added", {"count": added})
        return added

    def item(self, batch_id: str, key: str) -> ItemRecord:
        """One item.

        Raises:
            UnknownBatchItemError: There is no such batch or item.
        """
        with self._connect() as conn:
            return item_from_row(self._row(conn, batch_id, key))

    def items(self, batch_id: str, *, states: Sequence[ItemState] | None = None) -> list[ItemRecord]:
        """The batch's items in input order, optionally only those in some states."""
        with self._connect() as conn:
            if states:
                marks = ", ".join("?" for _ in states)
                rows = conn.execute(
                    f"SELECT * FROM items WHERE batch_id = ? AND state IN ({marks}) ORDER BY seq",
                    (batch_id, *states),
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM items WHERE batch_id = ? ORDER BY seq", (batch_id,)
                ).fetchall()
        return [item_from_row(row) for row in rows]

    def counts(self, batch_id: str) -> dict[str, int]:
        """How many items are in each state (every state present, zero included)."""
        counts = dict.fromkeys(
            ("pending", "running", "awaiting_approval", "completed", "failed", "needs_review"), 0
        )
        with self._connect() as conn:
            for row in conn.execute(
                "SELECT state, COUNT(*) AS n FROM items WHERE batch_id = ? GROUP BY state", (batch_id,)
            ):
                counts[row["state"]] = row["n"]
        return counts

    def events(self, batch_id: str, *, key: str | None = None) -> list[ItemEvent]:
        """The batch's history (or one item's), oldest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT * FROM item_events WHERE batch_id = ?1 AND (?2 IS NULL OR key = ?2) ORDER BY seq",
                (batch_id, key),
            ).fetchall()
        return [
            ItemEvent(
                seq=r["seq"],
                batch_id=r["batch_id"],
                key=r["key"],
                at=utc(r["at"]),
                event=r["event"],
                detail=json.loads(r["detail"]),
            )
            for r in rows
        ]

    # -- running ---------------------------------------------------------------------------------

    def recover(self, batch_id: str, *, alive: Callable[[str], bool] = owner_is_alive) -> list[ItemRecord]:
        """Hand back items whose worker is gone (dead process or lease run out) as ``pending`` with
        ``needs_check`` set, so the idempotency check looks at the site before they run again.

        Returns:
            The recovered items.
        """
        now = time.time()
        recovered: list[str] = []
        with self._write() as conn:
            rows = conn.execute(
                "SELECT key, owner, lease_until, state FROM items WHERE batch_id = ? "
                "AND state IN ('running', 'awaiting_approval')",
                (batch_id,),
            ).fetchall()
            for row in rows:
                owner = row["owner"] or ""
                expired = row["lease_until"] is None or row["lease_until"] < now
                if owner and not expired and alive(owner):
                    continue
                conn.execute(
                    "UPDATE items SET state = 'pending', needs_check = 1, owner = NULL, lease_until = NULL, "
                    "updated_at = ? WHERE batch_id = ? AND key = ?",
                    (now, batch_id, row["key"]),
                )
                why = "its lease ran out" if expired else "its process is gone"
                self._event(
                    conn, batch_id, row["key"], "orphaned", {"owner": owner, "was": row["state"], "why": why}
                )
                recovered.append(row["key"])
        if recovered:
            _log.warning(
                "items interrupted by a crash will be checked before any retry",
                batch_id=batch_id,
                items=recovered[:20],
                count=len(recovered),
            )
        return [self.item(batch_id, key) for key in recovered]

    def claim(self, batch_id: str, *, owner: str, lease_s: float) -> ItemRecord | None:
        """Take the next pending item for ``owner``: it becomes ``running`` under a lease.

        Returns:
            The item, or ``None`` when no item is pending.
        """
        now = time.time()
        with self._write() as conn:
            row = conn.execute(
                "SELECT key FROM items WHERE batch_id = ? AND state = 'pending' ORDER BY seq LIMIT 1",
                (batch_id,),
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE items SET state = 'running', owner = ?, lease_until = ?, updated_at = ? "
                "WHERE batch_id = ? AND key = ?",
                (owner, now + lease_s, now, batch_id, row["key"]),
            )
            self._event(conn, batch_id, row["key"], "claimed", {"owner": owner})
            return item_from_row(self._row(conn, batch_id, row["key"]))

    def claim_key(self, batch_id: str, key: str, *, owner: str, lease_s: float) -> ItemRecord | None:
        """Take one given item if it is pending (for workers handed a key by a broker)."""
        now = time.time()
        with self._write() as conn:
            row = self._row(conn, batch_id, key)
            if row["state"] != "pending":
                return None
            conn.execute(
                "UPDATE items SET state = 'running', owner = ?, lease_until = ?, updated_at = ? "
                "WHERE batch_id = ? AND key = ?",
                (owner, now + lease_s, now, batch_id, key),
            )
            self._event(conn, batch_id, key, "claimed", {"owner": owner})
            return item_from_row(self._row(conn, batch_id, key))

    def renew(self, batch_id: str, *, owner: str, lease_s: float) -> int:
        """Extend the lease of every item ``owner`` is working on; returns how many."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE items SET lease_until = ? WHERE batch_id = ? AND owner = ? "
                "AND state IN ('running', 'awaiting_approval')",
                (time.time() + lease_s, batch_id, owner),
            )
            return cursor.rowcount

    def start_attempt(self, batch_id: str, key: str, *, detail: Mapping[str, Any] | None = None) -> int:
        """Count a new attempt (before any of its work starts); returns its number."""
        now = time.time()
        with self._write() as conn:
            row = self._row(conn, batch_id, key)
            attempt = int(row["attempts"]) + 1
            conn.execute(
                "UPDATE items SET attempts = ?, state = 'running', first_started_at = "
                "COALESCE(first_started_at, ?), updated_at = ? WHERE batch_id = ? AND key = ?",
                (attempt, now, now, batch_id, key),
            )
            self._event(conn, batch_id, key, "attempt", {"attempt": attempt, **dict(detail or {})})
        return attempt

    def set_waiting(self, batch_id: str, key: str, *, waiting: bool, detail: Mapping[str, Any]) -> None:
        """Mark an item ``awaiting_approval`` (or back to ``running``)."""
        with self._write() as conn:
            conn.execute(
                "UPDATE items SET state = ?, updated_at = ? WHERE batch_id = ? AND key = ? "
                "AND state IN ('running', 'awaiting_approval')",
                ("awaiting_approval" if waiting else "running", time.time(), batch_id, key),
            )
            self._event(conn, batch_id, key, "approval_requested" if waiting else "approval_decided", detail)

    def note_approval(
        self, batch_id: str, key: str, *, approved: bool, human: bool, wait_s: float, irreversible: bool
    ) -> None:
        """Count an approval; an approved irreversible step is noted *before* it is carried out."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "UPDATE items SET approvals = approvals + 1, human_approvals = human_approvals + ?, "
                "approval_wait_s = approval_wait_s + ?, irreversible_at = CASE WHEN ? THEN ? ELSE "
                "irreversible_at END, updated_at = ? WHERE batch_id = ? AND key = ?",
                (int(human), max(wait_s, 0.0), int(approved and irreversible), now, now, batch_id, key),
            )
            if approved and irreversible:
                self._event(conn, batch_id, key, "irreversible_approved", {})

    def checked(self, batch_id: str, key: str, *, done: bool, how: str) -> None:
        """Record the outcome of an idempotency check; it clears ``needs_check``."""
        with self._write() as conn:
            conn.execute(
                "UPDATE items SET needs_check = 0, updated_at = ? WHERE batch_id = ? AND key = ?",
                (time.time(), batch_id, key),
            )
            self._event(conn, batch_id, key, "idempotency_check", {"done": done, "how": how})

    def finish(
        self,
        batch_id: str,
        key: str,
        *,
        state: ItemState,
        reason: str,
        output: Any = None,
        confidence: float | None = None,
        error: str = "",
        error_kind: str = "",
        review_reason: ReviewReason | None = None,
        work_s: float = 0.0,
        usage: Mapping[str, Any] | None = None,
        artifacts: Mapping[str, Any] | None = None,
        recovered: bool = False,
    ) -> ItemRecord:
        """Record how an item ended (``completed``, ``failed`` or ``needs_review``) and release it."""
        if state not in ("completed", "failed", "needs_review"):
            raise ConfigurationError(f"Journal.finish takes a final state, got {state!r}")
        now = time.time()
        used = dict(usage or {})
        cost = used.get("cost_usd")
        requests = int(used.get("requests", 0))
        with self._write() as conn:
            row = self._row(conn, batch_id, key)
            merged = {**json.loads(row["artifacts"]), **dict(artifacts or {})}
            review = state != "completed"
            conn.execute(
                "UPDATE items SET state = ?, reason = ?, output = ?, confidence = ?, error = ?, "
                "error_kind = ?, review_reason = ?, work_s = work_s + ?, "
                "model_requests = model_requests + ?, "
                "input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, "
                "cost_usd = CASE WHEN ? THEN NULL ELSE cost_usd + ? END, artifacts = ?, "
                "recovered = MAX(recovered, ?), reviewed = MAX(reviewed, ?), needs_check = 0, "
                "resolution = CASE WHEN ? THEN '' ELSE resolution END, owner = NULL, lease_until = NULL, "
                "finished_at = ?, updated_at = ? WHERE batch_id = ? AND key = ?",
                (
                    state,
                    reason,
                    dump(output) if output is not None else None,
                    confidence,
                    error,
                    error_kind,
                    review_reason or "",
                    max(work_s, 0.0),
                    requests,
                    int(used.get("input_tokens", 0)),
                    int(used.get("output_tokens", 0)),
                    int(requests > 0 and cost is None),
                    float(cost or 0.0),
                    dump(merged),
                    int(recovered),
                    int(review),
                    int(review),
                    now,
                    now,
                    batch_id,
                    key,
                ),
            )
            self._event(
                conn,
                batch_id,
                key,
                state,
                {"reason": reason[:500], "review_reason": review_reason or "", "error_kind": error_kind},
            )
            return item_from_row(self._row(conn, batch_id, key))

    def release(self, batch_id: str, key: str, *, why: str, work_s: float = 0.0) -> None:
        """Hand an item back (``pending``, to be checked before it runs again) when its run was cut
        short, by a cancel or a shutdown."""
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "UPDATE items SET state = 'pending', needs_check = 1, owner = NULL, lease_until = NULL, "
                "work_s = work_s + ?, updated_at = ? WHERE batch_id = ? AND key = ? "
                "AND state IN ('running', 'awaiting_approval')",
                (max(work_s, 0.0), now, batch_id, key),
            )
            self._event(conn, batch_id, key, "released", {"why": why})

    def resolve(
        self,
        batch_id: str,
        key: str,
        *,
        resolution: str,
        by: str,
        note: str,
        data: Mapping[str, Any] | None,
        check: Callable[[ItemRecord], None],
    ) -> ItemRecord:
        """Apply a person's resolution (see :mod:`operator_agent.batch.review`) in one transaction."""
        now = time.time()
        with self._write() as conn:
            record = item_from_row(self._row(conn, batch_id, key))
            check(record)
            state = {"accepted": "completed", "done_manually": "completed", "retry": "pending"}.get(
                resolution, record.state
            )
            new_data = dump(dict(data)) if data is not None else None
            conn.execute(
                "UPDATE items SET state = ?, resolution = ?, resolved_by = ?, resolution_note = ?, "
                "data = COALESCE(?, data), attempts = CASE WHEN ? THEN 0 ELSE attempts END, "
                "finished_at = CASE WHEN ? THEN ? ELSE finished_at END, updated_at = ? "
                "WHERE batch_id = ? AND key = ?",
                (
                    state,
                    resolution,
                    by,
                    note,
                    new_data,
                    int(resolution == "retry"),
                    int(state == "completed"),
                    now,
                    now,
                    batch_id,
                    key,
                ),
            )
            self._event(
                conn,
                batch_id,
                key,
                "resolved",
                {"resolution": resolution, "by": by, "note": note, "new_data": data is not None},
            )
            return item_from_row(self._row(conn, batch_id, key))


def _name(conn: sqlite3.Connection) -> str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row is not None else "the journal"
