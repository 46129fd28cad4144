"""Scale-out: the same batch over Celery workers on many machines, with a Redis broker.

The coordinator (:class:`CeleryBatchRunner`) keeps the batch's journal: it claims each pending item,
sends it to the workers (:mod:`operator_agent.batch.celery_app`), and merges each outcome into the
journal as it arrives. The journal semantics are those of a local batch: idempotency keys,
exactly-once effects (a Redis claim per item, a *started* mark checked after a worker dies, the
outcome kept for duplicate messages), review routing, pause, cancel and resume. After a crash of
the coordinator, ``resume`` recovers its items; those a worker finished meanwhile come back from
Redis without running again, the others are checked on the site first.

Celery and Redis are imported only when a runner is made; without the ``scale`` extra the error
says what to install.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

from operator_agent.batch._journal_remote import merge_remote
from operator_agent.batch.items import BatchItem
from operator_agent.batch.journal import Journal, owner_id
from operator_agent.batch.records import BatchMode, BatchStatus, ItemRecord
from operator_agent.batch.remote import RUN_ITEM, RemoteItem
from operator_agent.batch.runner import BatchSummary
from operator_agent.errors import BatchError, ConfigurationError, MissingExtraError
from operator_agent.logs import get_logger

__all__ = ["CeleryBatchRunner", "require_scale_extra"]

_log = get_logger("operator_agent.batch.scale")


def require_scale_extra() -> None:
    """Check that Celery and the Redis client are installed.

    Raises:
        MissingExtraError: They are not; the message says how to install them.
    """
    missing = []
    for module in ("celery", "redis"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise MissingExtraError(
            f"batch scale-out needs {' and '.join(missing)} (the 'scale' extra): "
            "pip install 'operator-agent[scale]'"
        )


class CeleryBatchRunner:
    """Runs a batch on Celery workers; the journal stays with this coordinator.

    Args:
        task: The task's import path (``module:attribute``); workers load it the same way.
        journal: The batch journal, or its path.
        broker_url: The Redis URL shared by the coordinator and the workers.
        approval: ``deny`` (default), ``approve`` (pre-approved batch) or ``queue:PATH`` (a shared
            approval queue that people decide in).
        max_attempts: Attempts per item.
        backoff_s: The first retry's delay.
        confidence_threshold: Below it, results go to review.
        item_timeout_s: The budget of one attempt.
        verify_completion: Confirm each success with the idempotency check.
        artifacts_dir: Where workers write item folders (shared storage, or each worker's own disk).
        poll_s: How often outcomes are collected.
        lease_s: The coordinator's lease on the items it dispatched (renewed while it runs).

    Raises:
        MissingExtraError: Celery or the Redis client is not installed.
    """

    def __init__(
        self,
        *,
        task: str,
        journal: Journal | str | os.PathLike[str],
        broker_url: str,
        approval: str = "deny",
        max_attempts: int = 3,
        backoff_s: float = 1.0,
        confidence_threshold: float = 0.8,
        item_timeout_s: float = 600.0,
        verify_completion: bool = False,
        artifacts_dir: str | os.PathLike[str] | None = None,
        poll_s: float = 0.5,
        lease_s: float = 300.0,
    ) -> None:
        require_scale_extra()
        from celery import Celery  # type: ignore[import-untyped,import-not-found,unused-ignore]

        if approval not in ("deny", "approve") and not approval.startswith("queue:"):
            raise ConfigurationError(f"approval must be 'deny', 'approve' or 'queue:PATH', got {approval!r}")
        from operator_agent.batch.cli import load_task

        self.task_spec = task
        self.task_name = str(load_task(task).name)
        self.journal = journal if isinstance(journal, Journal) else Journal(path=journal)
        self.broker_url = broker_url
        self.approval = approval
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.confidence_threshold = confidence_threshold
        self.item_timeout_s = item_timeout_s
        self.verify_completion = verify_completion
        self.artifacts_dir = str(artifacts_dir) if artifacts_dir is not None else None
        self.poll_s = poll_s
        self.lease_s = lease_s
        self._celery = Celery("operator_agent.batch.coordinator", broker=broker_url, backend=broker_url)
        self._celery.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"])
        self._owner = f"{owner_id()}:celery"

    async def run(
        self, items: Iterable[BatchItem], *, batch_id: str, mode: BatchMode = "live"
    ) -> BatchSummary:
        """Journal the items and run every item not yet done on the workers (see ``BatchRunner.run``)."""
        listed = list(items)
        await asyncio.to_thread(self.journal.create_batch, batch_id, task=self.task_name, mode=mode)
        await asyncio.to_thread(self.journal.add_items, batch_id, listed)
        return await self._execute(batch_id)

    async def resume(self, batch_id: str) -> BatchSummary:
        """Continue a batch on the workers.

        Raises:
            BatchError: The batch belongs to another task.
        """
        info = await asyncio.to_thread(self.journal.batch, batch_id)
        if info.task != self.task_name:
            raise BatchError(f"batch {batch_id!r} was run with task {info.task!r}, not {self.task_name!r}")
        return await self._execute(batch_id)

    def _payload(self, batch_id: str, mode: BatchMode, item: ItemRecord) -> dict[str, Any]:
        remote = RemoteItem(
            batch_id=batch_id,
            task=self.task_spec,
            item=item,
            mode=mode,
            check_first=item.needs_check,
            approval=self.approval,
            max_attempts=self.max_attempts,
            backoff_s=self.backoff_s,
            confidence_threshold=self.confidence_threshold,
            item_timeout_s=self.item_timeout_s,
            verify_completion=self.verify_completion,
            artifacts_dir=self.artifacts_dir,
            redis_url=self.broker_url,
            lock_s=self.item_timeout_s * self.max_attempts + 60,
        )
        return remote.model_dump(mode="json")

    async def _execute(self, batch_id: str) -> BatchSummary:
        started = time.monotonic()
        journal = self.journal
        info = await asyncio.to_thread(journal.batch, batch_id)
        await asyncio.to_thread(journal.set_status, batch_id, "running")
        await asyncio.to_thread(journal.recover, batch_id)
        outstanding: dict[str, Any] = {}
        workers: set[str] = set()
        stopping: Literal["", "pause", "cancel"] = ""
        last_renew = time.monotonic()
        while True:
            control = (await asyncio.to_thread(journal.batch, batch_id)).control
            if control and not stopping:
                stopping = "cancel" if control == "cancel" else "pause"
            if not stopping:
                for item in await asyncio.to_thread(journal.items, batch_id, states=("pending",)):
                    claimed = await asyncio.to_thread(
                        journal.claim_key, batch_id, item.key, owner=self._owner, lease_s=self.lease_s
                    )
                    if claimed is None:
                        continue
                    payload = self._payload(batch_id, info.mode, claimed)
                    outstanding[item.key] = self._celery.send_task(RUN_ITEM, args=[payload])
            if stopping == "cancel" or not outstanding:
                break
            for key, result in list(outstanding.items()):
                if result.ready():
                    del outstanding[key]
                    await self._collect(batch_id, key, result, workers)
            if time.monotonic() - last_renew > self.lease_s / 3:
                await asyncio.to_thread(journal.renew, batch_id, owner=self._owner, lease_s=self.lease_s)
                last_renew = time.monotonic()
            await asyncio.sleep(self.poll_s)
        for key in outstanding:  # cancelled: the workers' outcomes are picked up from Redis at resume
            await asyncio.to_thread(journal.release, batch_id, key, why="the batch was cancelled")
        counts = await asyncio.to_thread(journal.counts, batch_id)
        status: BatchStatus = (
            "cancelled" if stopping == "cancel" else "paused" if counts["pending"] else "finished"
        )
        await asyncio.to_thread(journal.set_status, batch_id, status)
        _log.info("celery batch stopped", batch_id=batch_id, status=status, workers=sorted(workers))
        return BatchSummary(
            batch_id=batch_id,
            status=status,
            counts=counts,
            total=sum(counts.values()),
            duration_s=round(time.monotonic() - started, 2),
            peak_contexts=len(workers),
            journal=str(journal.path),
            artifacts_dir=self.artifacts_dir or str(Path(journal.path).parent / "batches" / batch_id),
        )

    async def _collect(self, batch_id: str, key: str, result: Any, workers: set[str]) -> None:
        try:
            outcome = await asyncio.to_thread(result.get, timeout=10, propagate=True)
        except Exception as exc:  # the worker raised or died: hand the item back, checked first
            _log.error("worker failed on an item; it will be checked and retried", key=key, error=repr(exc))
            await asyncio.to_thread(self.journal.release, batch_id, key, why=f"worker error: {exc!r}")
            return
        status = outcome.get("status")
        worker = str(outcome.get("worker", "?"))
        if status == "done":
            workers.add(worker)
            record = ItemRecord.model_validate(outcome["record"])
            await asyncio.to_thread(merge_remote, self.journal, batch_id, record, worker=worker)
            return
        # busy (another worker holds it) or interrupted: hand it back; the next round sends it
        # again, and gets the other worker's outcome from Redis once it is there.
        await asyncio.sleep(self.poll_s)
        await asyncio.to_thread(self.journal.release, batch_id, key, why=f"worker said {status}")
