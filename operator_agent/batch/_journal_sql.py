"""The batch journal's SQLite schema and row conversions (see :mod:`operator_agent.batch.journal`)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from typing import Any

from operator_agent.batch.records import BatchInfo, ItemRecord, utc

__all__ = [
    "SCHEMA",
    "batch_from_row",
    "dump",
    "item_from_row",
    "owner_id",
    "owner_is_alive",
]

_STATES = "('pending', 'running', 'awaiting_approval', 'completed', 'failed', 'needs_review')"
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    task TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('live', 'shadow')),
    status TEXT NOT NULL CHECK (status IN ('open', 'running', 'paused', 'cancelled', 'finished')),
    control TEXT NOT NULL DEFAULT '' CHECK (control IN ('', 'pause', 'cancel')),
    settings TEXT NOT NULL DEFAULT '{{}}',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS items (
    batch_id TEXT NOT NULL REFERENCES batches (id),
    key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    source TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    duplicate_of TEXT,
    state TEXT NOT NULL CHECK (state IN {_STATES}),
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    lease_until REAL,
    needs_check INTEGER NOT NULL DEFAULT 0,
    irreversible_at REAL,
    error TEXT NOT NULL DEFAULT '',
    error_kind TEXT NOT NULL DEFAULT '',
    output TEXT,
    confidence REAL,
    reason TEXT NOT NULL DEFAULT '',
    review_reason TEXT NOT NULL DEFAULT '',
    artifacts TEXT NOT NULL DEFAULT '{{}}',
    work_s REAL NOT NULL DEFAULT 0,
    model_requests INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL DEFAULT 0,
    approvals INTEGER NOT NULL DEFAULT 0,
    human_approvals INTEGER NOT NULL DEFAULT 0,
    approval_wait_s REAL NOT NULL DEFAULT 0,
    recovered INTEGER NOT NULL DEFAULT 0,
    reviewed INTEGER NOT NULL DEFAULT 0,
    resolution TEXT NOT NULL DEFAULT '',
    resolved_by TEXT NOT NULL DEFAULT '',
    resolution_note TEXT NOT NULL DEFAULT '',
    first_started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (batch_id, key)
);
CREATE INDEX IF NOT EXISTS items_by_state ON items (batch_id, state, seq);
CREATE TABLE IF NOT EXISTS item_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_id TEXT NOT NULL,
    key TEXT NOT NULL,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS item_events_by_item ON item_events (batch_id, key, seq);
CREATE TRIGGER IF NOT EXISTS item_events_no_update BEFORE UPDATE ON item_events
BEGIN SELECT RAISE(ABORT, 'item_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS item_events_no_delete BEFORE DELETE ON item_events
BEGIN SELECT RAISE(ABORT, 'item_events is append-only'); END;
CREATE TRIGGER IF NOT EXISTS completed_items_stay_completed BEFORE UPDATE OF state ON items
WHEN OLD.state = 'completed' AND NEW.state != 'completed'
BEGIN SELECT RAISE(ABORT, 'a completed item is never run again'); END;
"""


def owner_id() -> str:
    """This process as a claim owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_is_alive(owner: str) -> bool:
    """Whether a claim owner (``host:pid`` or ``host:pid:token``) may still be working.

    For another host it is always true: only its lease can tell.
    """
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def item_from_row(row: sqlite3.Row) -> ItemRecord:
    output = row["output"]
    return ItemRecord(
        batch_id=row["batch_id"],
        key=row["key"],
        seq=row["seq"],
        source=row["source"],
        data=json.loads(row["data"]),
        duplicate_of=row["duplicate_of"],
        state=row["state"],
        attempts=row["attempts"],
        needs_check=bool(row["needs_check"]),
        irreversible_at=utc(row["irreversible_at"]),
        error=row["error"],
        error_kind=row["error_kind"],
        output=json.loads(output) if output is not None else None,
        confidence=row["confidence"],
        reason=row["reason"],
        review_reason=row["review_reason"],
        artifacts=json.loads(row["artifacts"]),
        work_s=row["work_s"],
        model_requests=row["model_requests"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cost_usd=row["cost_usd"],
        approvals=row["approvals"],
        human_approvals=row["human_approvals"],
        approval_wait_s=row["approval_wait_s"],
        recovered=bool(row["recovered"]),
        reviewed=bool(row["reviewed"]),
        resolution=row["resolution"],
        resolved_by=row["resolved_by"],
        resolution_note=row["resolution_note"],
        first_started_at=utc(row["first_started_at"]),
        finished_at=utc(row["finished_at"]),
        updated_at=utc(row["updated_at"]),
    )


def batch_from_row(row: sqlite3.Row) -> BatchInfo:
    return BatchInfo(
        id=row["id"],
        task=row["task"],
        mode=row["mode"],
        status=row["status"],
        control=row["control"],
        settings=json.loads(row["settings"]),
        created_at=utc(row["created_at"]),
        started_at=utc(row["started_at"]),
        finished_at=utc(row["finished_at"]),
    )
