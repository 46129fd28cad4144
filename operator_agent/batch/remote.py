"""What a coordinator sends a batch worker (one item and how to run it), and the Redis keys they share.

Kept free of Celery and Redis imports, so the coordinator and the tests can use it without the
``scale`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.batch.records import BatchMode, ItemRecord

__all__ = ["RUN_ITEM", "RedisKeys", "RemoteItem", "redis_keys"]

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
        lock_s: How long one worker's claim on the item lasts.
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
    lock_s: float = Field(default=3600.0, gt=0)


@dataclass(frozen=True)
class RedisKeys:
    """The Redis keys of one item: its lock, its started mark and its finished outcome."""

    lock: str
    started: str
    done: str


def redis_keys(batch_id: str, key: str) -> RedisKeys:
    """The Redis keys of item ``key`` of ``batch_id``."""
    base = f"operator-agent:batch:{batch_id}:item:{key}"
    return RedisKeys(lock=base + ":lock", started=base + ":started", done=base + ":done")


WorkerStatus = Literal["done", "busy", "interrupted"]
