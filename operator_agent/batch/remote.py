"""What a coordinator sends a batch worker (one item and how to run it), and the Redis keys they share.

Kept free of Celery and Redis imports, so the coordinator and the tests can use it without the
``scale`` extra.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.batch.records import BatchMode, ItemRecord

__all__ = ["RUN_ITEM", "RedisKeys", "RemoteItem", "redis_keys", "started_dispatch", "started_mark"]

RUN_ITEM = "operator_agent.batch.run_item"
"""The Celery task name of one item's run."""


class RemoteItem(BaseModel):
    """One item handed to a worker.

    Attributes:
        batch_id: The batch.
        task: The task's import path (``module:attribute``), loaded by the worker.
        item: The item as the coordinator's journal holds it.
        mode: ``live`` or ``shadow``.
        check_first: Run the idempotency check before anything else (the item was interrupted).
        approval: ``deny``, ``approve`` or ``queue:PATH`` (a shared approval queue).
        max_attempts: Attempts left for the item.
        backoff_s: The first retry's delay.
        confidence_threshold: Below it, results go to review.
        item_timeout_s: The budget of one attempt.
        verify_completion: Confirm each success with the idempotency check.
        artifacts_dir: Where the worker writes item folders (shared storage, or local).
        redis_url: The Redis the workers share claims and outcomes in.
        lock_s: How long a worker's claim on the item outlives its last heartbeat: the worker renews
            it every third of that while it lives, so the item of a dead worker is free this long
            after its death at most.
        dispatch: The id of this sending of the item; the worker that takes it up writes it into
            the item's *started* mark, so the coordinator can tell that its message was taken up.
        reruns: How many times a person sent the item back to run again (a ``retry`` resolution).
            Each rerun has Redis keys of its own, so the outcome of an earlier run is not taken
            for this one.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    task: str
    item: ItemRecord
    mode: BatchMode = "live"
    check_first: bool = False
    approval: str = "deny"
    max_attempts: int = Field(default=3, ge=1)
    backoff_s: float = Field(default=1.0, ge=0)
    confidence_threshold: float = Field(default=0.8, ge=0, le=1)
    item_timeout_s: float = Field(default=600.0, gt=0)
    verify_completion: bool = False
    artifacts_dir: str | None = None
    redis_url: str
    lock_s: float = Field(default=30.0, gt=0)
    dispatch: str = ""
    reruns: int = Field(default=0, ge=0)


@dataclass(frozen=True)
class RedisKeys:
    """The Redis keys of one item: its lock (a worker's claim), its started mark, its finished
    outcome, and the attempts counted so far by any worker."""

    lock: str
    started: str
    done: str
    attempts: str


def redis_keys(batch_id: str, key: str, *, reruns: int = 0) -> RedisKeys:
    """The Redis keys of item ``key`` of ``batch_id`` (in its ``reruns``-th rerun after a review)."""
    base = f"operator-agent:batch:{batch_id}:item:{key}" + (f":rerun:{reruns}" if reruns else "")
    return RedisKeys(
        lock=base + ":lock", started=base + ":started", done=base + ":done", attempts=base + ":attempts"
    )


def started_mark(*, dispatch: str, worker: str) -> str:
    """The value of an item's *started* mark: which sending of the item which worker took up."""
    return json.dumps({"dispatch": dispatch, "worker": worker})


def started_dispatch(value: bytes | str | None) -> str | None:
    """The dispatch id in a *started* mark, or ``None`` when there is no mark (or an older one)."""
    if value is None:
        return None
    try:
        mark = json.loads(value)
    except ValueError:
        return None
    dispatch = mark.get("dispatch") if isinstance(mark, dict) else None
    return dispatch if isinstance(dispatch, str) else None


WorkerStatus = Literal["done", "busy", "interrupted"]
