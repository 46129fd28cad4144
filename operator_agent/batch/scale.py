"""Scale-out: the same batch over Celery workers on many machines, with a Redis broker.

The coordinator (:class:`CeleryBatchRunner`) keeps the batch's journal: it claims each pending item,
sends it to the workers (:mod:`operator_agent.batch.celery_app`), and merges each outcome into the
journal as it arrives. The journal semantics are those of a local batch: idempotency keys,
exactly-once effects (a Redis claim per item renewed by the worker's heartbeat, a *started* mark
checked after a worker dies, the outcome kept for duplicate messages), review routing, pause,
cancel and resume. After a crash of the coordinator, ``resume`` recovers its items; those a worker
finished meanwhile come back from Redis without running again, the others are checked on the site
first.

When a worker dies in the middle of an item, the item is not lost: a dead pool child's message is
requeued by Celery, and a whole worker that vanished is noticed here (a worker took the item up,
its claim lapsed, no answer came), and the item is sent again. The worker that takes it up checks
the site before it runs anything, and counts the dead worker's attempt.

Celery and Redis are imported only when a runner is made; without the ``scale`` extra the error
says what to install.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from operator_agent.batch._journal_remote import merge_remote
from operator_agent.batch.items import BatchItem
from operator_agent.batch.journal import Journal, owner_id
from operator_agent.batch.records import BatchMode, BatchStatus, ItemEvent, ItemRecord
from operator_agent.batch.remote import RUN_ITEM, RemoteItem, redis_keys, started_dispatch
from operator_agent.batch.runner import BatchSummary
from operator_agent.errors import BatchError, ConfigurationError, MissingExtraError
from operator_agent.logs import get_logger

__all__ = ["CeleryBatchRunner", "require_scale_extra"]

_log = get_logger("operator_agent.batch.scale")


@dataclass
class _Sent:
    """An item the coordinator handed to the workers: what it sent, and the answer it waits for."""

    record: ItemRecord
    reruns: int = 0
    dispatch: str = ""
    result: Any = None  # the Celery result; None while the item waits to be sent (again)
    resend_at: float = 0.0
    orphaned_at: float | None = None


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
        claim_ttl_s: How long a worker's claim on an item outlives the worker: workers renew their
            claims every third of it, so the item of a worker that died is taken up again (after the
            idempotency check) this long after the death, plus a third of it to notice.

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
        claim_ttl_s: float = 30.0,
    ) -> None:
        require_scale_extra()
        import redis  # type: ignore[import-not-found,unused-ignore]
        from celery import Celery  # type: ignore[import-untyped,import-not-found,unused-ignore]

        if approval not in ("deny", "approve") and not approval.startswith("queue:"):
            raise ConfigurationError(f"approval must be 'deny', 'approve' or 'queue:PATH', got {approval!r}")
        if poll_s <= 0 or lease_s <= 0 or claim_ttl_s <= 0:
            raise ConfigurationError("poll_s, lease_s and claim_ttl_s must be positive")
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
        self.claim_ttl_s = claim_ttl_s
        self._scan_s = max(poll_s, claim_ttl_s / 3)
        self._redis = redis.Redis.from_url(broker_url)
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

    def _payload(
        self, batch_id: str, mode: BatchMode, item: ItemRecord, *, dispatch: str = "", reruns: int = 0
    ) -> dict[str, Any]:
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
            lock_s=self.claim_ttl_s,
            dispatch=dispatch,
            reruns=reruns,
        )
        return remote.model_dump(mode="json")

    def _send(self, batch_id: str, mode: BatchMode, sent: _Sent) -> None:
        sent.dispatch = uuid.uuid4().hex
        sent.orphaned_at = None
        payload = self._payload(batch_id, mode, sent.record, dispatch=sent.dispatch, reruns=sent.reruns)
        sent.result = self._celery.send_task(RUN_ITEM, args=[payload])

    async def _execute(self, batch_id: str) -> BatchSummary:
        started = time.monotonic()
        journal = self.journal
        info = await asyncio.to_thread(journal.batch, batch_id)
        await asyncio.to_thread(journal.set_status, batch_id, "running")
        await asyncio.to_thread(journal.recover, batch_id)
        outstanding: dict[str, _Sent] = {}
        workers: set[str] = set()
        stopping: Literal["", "pause", "cancel"] = ""
        last_renew = last_scan = time.monotonic()
        while True:
            control = (await asyncio.to_thread(journal.batch, batch_id)).control
            if control and not stopping:
                stopping = "cancel" if control == "cancel" else "pause"
            if not stopping:
                for item in await asyncio.to_thread(journal.items, batch_id, states=("pending",)):
                    claimed = await asyncio.to_thread(
                        journal.claim_key, batch_id, item.key, owner=self._owner, lease_s=self.lease_s
                    )
                    if claimed is not None:
                        reruns = await asyncio.to_thread(self._reruns, batch_id, claimed)
                        outstanding[item.key] = _Sent(record=claimed, reruns=reruns)
            now = time.monotonic()
            for key, sent in list(outstanding.items()):
                if sent.result is not None or sent.resend_at > now:
                    continue
                if stopping:  # not running anywhere for this batch: it waits for the resume
                    del outstanding[key]
                    why = "the batch was paused" if stopping == "pause" else "the batch was cancelled"
                    await asyncio.to_thread(journal.release, batch_id, key, why=why)
                else:
                    self._send(batch_id, info.mode, sent)
            if stopping == "cancel" or not outstanding:
                break
            for key, sent in list(outstanding.items()):
                if (
                    sent.result is not None
                    and sent.result.ready()
                    and await self._collect(batch_id, key, sent, workers)
                ):
                    del outstanding[key]
            if time.monotonic() - last_scan >= self._scan_s:
                await self._resend_orphans(batch_id, info.mode, outstanding)
                last_scan = time.monotonic()
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

    async def _collect(self, batch_id: str, key: str, sent: _Sent, workers: set[str]) -> bool:
        """Take a worker's answer; returns whether the item left the workers' hands."""
        try:
            outcome = await asyncio.to_thread(sent.result.get, timeout=10, propagate=True)
        except Exception as exc:  # the worker raised or died: hand the item back, checked first
            _log.error("worker failed on an item; it will be checked and retried", key=key, error=repr(exc))
            await asyncio.to_thread(self.journal.release, batch_id, key, why=f"worker error: {exc!r}")
            return True
        status = outcome.get("status")
        worker = str(outcome.get("worker", "?"))
        if status == "done":
            workers.add(worker)
            record = ItemRecord.model_validate(outcome["record"])
            history = [ItemEvent.model_validate(e) for e in outcome.get("history", [])]
            await asyncio.to_thread(
                merge_remote, self.journal, batch_id, record, worker=worker, history=history
            )
            return True
        if status == "busy":
            # Another worker holds the item's claim: a duplicate message, or a dead worker's claim
            # that has not lapsed yet. Send it again in a while; by then the outcome is in Redis, or
            # the claim lapsed and the next worker checks the site before it runs anything.
            sent.result = None
            sent.resend_at = time.monotonic() + self._scan_s
            return False
        # interrupted (the worker shut down, or lost its claim): hand it back, checked first
        await asyncio.to_thread(self.journal.release, batch_id, key, why=f"worker said {status}")
        return True

    async def _resend_orphans(self, batch_id: str, mode: BatchMode, outstanding: dict[str, _Sent]) -> None:
        """Send again the items whose worker died: a worker took the message up, but its claim lapsed
        and no answer came (its message waits in Redis for the visibility timeout, an hour)."""
        waiting = [(key, sent) for key, sent in outstanding.items() if sent.result is not None]
        if not waiting:
            return
        marks = await asyncio.to_thread(self._marks, batch_id, [(key, s.reruns) for key, s in waiting])
        now = time.monotonic()
        for (key, sent), (dispatch, claimed) in zip(waiting, marks, strict=True):
            if dispatch != sent.dispatch or claimed or sent.result.ready():
                sent.orphaned_at = None
                continue
            if sent.orphaned_at is None:  # seen twice in a row, so a worker that just finished is not
                sent.orphaned_at = now  # taken for a dead one
                continue
            _log.warning(
                "a worker took an item up and stopped renewing its claim; the item is sent again and "
                "will be checked on the site first",
                batch_id=batch_id,
                key=key,
                claim_ttl_s=self.claim_ttl_s,
            )
            await asyncio.to_thread(
                self.journal.release, batch_id, key, why="its worker stopped renewing its claim (it died?)"
            )
            claimed_again = await asyncio.to_thread(
                self.journal.claim_key, batch_id, key, owner=self._owner, lease_s=self.lease_s
            )
            if claimed_again is None:
                del outstanding[key]
                continue
            sent.record = claimed_again
            self._send(batch_id, mode, sent)

    def _reruns(self, batch_id: str, item: ItemRecord) -> int:
        """How many times a person sent the item back to run again."""
        if item.resolution != "retry":
            return 0
        events = self.journal.events(batch_id, key=item.key)
        return sum(1 for e in events if e.event == "resolved" and e.detail.get("resolution") == "retry")

    def _marks(self, batch_id: str, keys: list[tuple[str, int]]) -> list[tuple[str | None, bool]]:
        """For each item: the dispatch its *started* mark names, and whether a worker claims it now."""
        pipe = self._redis.pipeline(transaction=False)
        for key, reruns in keys:
            names = redis_keys(batch_id, key, reruns=reruns)
            pipe.get(names.started)
            pipe.exists(names.lock)
        values = pipe.execute()
        return [(started_dispatch(values[2 * n]), bool(values[2 * n + 1])) for n in range(len(keys))]
