"""The batch runner: N workers over one browser, a durable journal, bounded retries, exactly once.

``BatchRunner(task=..., journal="ops.db").run(items, batch_id="2026-10")`` journals the items, then
N workers claim them one by one. Each attempt is journalled before it starts; transient failures
are retried with exponential backoff (tenacity) up to ``max_attempts``; bad input and refusals go
to review at once. ``resume`` continues a batch after a pause, a cancel or a crash: completed items
are never run again, and items that were under way when the process died are first checked with
the task's idempotency check, so an invoice entered just before a ``kill -9`` is not entered twice.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from operator_agent.batch.item_run import ItemProcessor, safe_name
from operator_agent.batch.items import BatchItem
from operator_agent.batch.journal import Journal, owner_id
from operator_agent.batch.pool import ContextPool
from operator_agent.batch.progress import BatchEvent, EventKind, Progress, ProgressBar
from operator_agent.batch.records import BatchMode, BatchStatus
from operator_agent.batch.tasks import ItemTask
from operator_agent.browser import BrowserSession
from operator_agent.errors import BatchError, ConfigurationError
from operator_agent.guardrails.approval import Approver, PolicyApprover
from operator_agent.logs import get_logger

__all__ = ["BatchRunner", "BatchSummary"]

_log = get_logger("operator_agent.batch.runner")
_CONTROL_POLL_S = 0.5


class BatchSummary(BaseModel):
    """How a run (or resume) of a batch ended.

    Attributes:
        batch_id: The batch.
        status: ``finished`` (nothing left to run), ``paused``, or ``cancelled``.
        counts: Items per state.
        total: Items in the batch.
        duration_s: How long this run took.
        peak_contexts: The most browser contexts open at once.
        journal: The journal file.
        artifacts_dir: Where item folders, traces and screenshots are.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    status: BatchStatus
    counts: dict[str, int]
    total: int
    duration_s: float
    peak_contexts: int
    journal: str
    artifacts_dir: str

    @property
    def in_review(self) -> int:
        """Items waiting for a person (failed or needing review)."""
        return self.counts.get("failed", 0) + self.counts.get("needs_review", 0)


class BatchRunner:
    """Runs batches of items with a task, durably.

    Args:
        task: How each item runs (see :mod:`operator_agent.batch.tasks`).
        journal: The journal, or the path of its SQLite file.
        concurrency: Workers (and browser contexts) at once.
        max_attempts: Attempts per item, interrupted ones included; transient failures are
            retried until then, and the item then fails into the review queue.
        backoff_s: The first retry's delay; it doubles (with jitter) up to ``max_backoff_s``.
        max_backoff_s: The longest delay between two attempts.
        approver: Decides irreversible steps. The default denies them all (fail closed): pass a
            :class:`~operator_agent.guardrails.queue.QueueApprover` for people, or
            ``PolicyApprover(mode="approve")`` for a batch a supervisor approved as a whole.
        confidence_threshold: A result whose confidence is below it goes to review.
        reuse_contexts: Keep a browser context for the worker's next item (faster) instead of
            a fresh one per item (stronger isolation).
        memory_ceiling_mb: Open no further context while the browser uses more than this.
        storage_state: A signed-in storage-state file to start every context from.
        browser: A started browser to share; by default the runner starts and stops its own.
        headless: For the browser the runner starts.
        artifacts_dir: Where item folders go; ``<journal folder>/batches/<batch id>`` by default.
        lease_s: How long a claim lasts without a heartbeat before another process may recover it.
        item_timeout_s: The wall-clock budget of one attempt.
        verify_completion: After a task reports success, confirm it with the idempotency check;
            a success the site does not show is retried (catches tasks that miss a refusal).
        progress: ``"auto"`` draws a bar on stderr when it is a terminal; ``None`` draws nothing.
        on_event: More callbacks for every :class:`~operator_agent.batch.BatchEvent`.

    Raises:
        ConfigurationError: An argument is out of range or the task is not an ``ItemTask``.
    """

    def __init__(
        self,
        *,
        task: ItemTask,
        journal: Journal | str | os.PathLike[str],
        concurrency: int = 2,
        max_attempts: int = 3,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        approver: Approver | None = None,
        confidence_threshold: float = 0.8,
        reuse_contexts: bool = True,
        memory_ceiling_mb: float | None = None,
        storage_state: str | os.PathLike[str] | None = None,
        browser: BrowserSession | None = None,
        headless: bool = True,
        artifacts_dir: str | os.PathLike[str] | None = None,
        lease_s: float = 120.0,
        item_timeout_s: float = 600.0,
        verify_completion: bool = False,
        progress: Literal["auto"] | ProgressBar | None = "auto",
        on_event: Iterable[Callable[[BatchEvent], None]] = (),
    ) -> None:
        if not isinstance(task, ItemTask):
            raise ConfigurationError(f"BatchRunner task must be an ItemTask (name and run), got {task!r}")
        if concurrency < 1 or max_attempts < 1:
            raise ConfigurationError(
                f"concurrency and max_attempts must be at least 1, got {concurrency} and {max_attempts}"
            )
        if backoff_s < 0 or max_backoff_s < backoff_s or lease_s <= 0 or item_timeout_s <= 0:
            raise ConfigurationError(
                "backoff_s <= max_backoff_s, lease_s and item_timeout_s must be positive"
            )
        if not 0 <= confidence_threshold <= 1:
            raise ConfigurationError(
                f"confidence_threshold must be between 0 and 1, got {confidence_threshold}"
            )
        if verify_completion and not callable(getattr(task, "already_done", None)):
            raise ConfigurationError(
                "verify_completion needs a task with an idempotency check (already_done)"
            )
        self.task = task
        self.journal = journal if isinstance(journal, Journal) else Journal(path=journal)
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.approver: Approver = approver or PolicyApprover(mode="deny")
        self.confidence_threshold = confidence_threshold
        self.reuse_contexts = reuse_contexts
        self.memory_ceiling_mb = memory_ceiling_mb
        self._storage_state = Path(storage_state) if storage_state is not None else None
        self._browser = browser
        self.headless = headless
        self._artifacts_dir = Path(artifacts_dir) if artifacts_dir is not None else None
        self.lease_s = lease_s
        self.item_timeout_s = item_timeout_s
        self.verify_completion = verify_completion
        bar = ProgressBar() if progress == "auto" else progress
        self._callbacks: list[Callable[[BatchEvent], None]] = [*([bar] if bar is not None else []), *on_event]
        self._owner = f"{owner_id()}:{os.urandom(3).hex()}"
        self._stopping: Literal["", "pause", "cancel"] = ""

    # -- public API --------------------------------------------------------------------------------

    def artifacts_dir(self, batch_id: str) -> Path:
        """The folder of a batch's item folders."""
        root = self._artifacts_dir or self.journal.path.parent / "batches"
        return root / safe_name(batch_id) if self._artifacts_dir is None else root

    async def run(
        self, items: Iterable[BatchItem], *, batch_id: str, mode: BatchMode = "live"
    ) -> BatchSummary:
        """Journal the items under ``batch_id`` and run every item not yet done.

        Running the same command again (same id, same items) resumes the batch: the journal
        already has the items, and completed ones are not run again.

        Args:
            items: The items (see :func:`~operator_agent.batch.read_csv` and friends).
            batch_id: The batch's id, such as ``2026-10-month-end``.
            mode: ``shadow`` stops every item right before its irreversible step and keeps what
                it would have submitted (compare it with :func:`~operator_agent.batch.compare_shadow`).

        Raises:
            BatchError: The id belongs to a batch of another task or mode, or an item's key is
                already there with different data.
        """
        listed = list(items)
        await asyncio.to_thread(
            self.journal.create_batch, batch_id, task=self.task.name, mode=mode, settings=self._settings()
        )
        await asyncio.to_thread(self.journal.add_items, batch_id, listed)
        return await self._execute(batch_id)

    async def resume(self, batch_id: str) -> BatchSummary:
        """Continue a batch: after a pause, a cancel, a crash, or a person's ``retry`` resolutions.

        Raises:
            UnknownBatchItemError: There is no such batch.
            BatchError: The batch belongs to another task.
        """
        info = await asyncio.to_thread(self.journal.batch, batch_id)
        if info.task != self.task.name:
            raise BatchError(
                f"batch {batch_id!r} was run with task {info.task!r}; resume it with that task, "
                f"not {self.task.name!r}"
            )
        return await self._execute(batch_id)

    def pause(self, batch_id: str) -> None:
        """Ask every process running the batch to finish the items under way, then stop."""
        self.journal.request(batch_id, "pause")

    def cancel(self, batch_id: str) -> None:
        """Ask every process running the batch to stop now; items under way go back to pending and
        are checked before they run again."""
        self.journal.request(batch_id, "cancel")

    # -- the run -----------------------------------------------------------------------------------

    def _settings(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "max_attempts": self.max_attempts,
            "confidence_threshold": self.confidence_threshold,
            "reuse_contexts": self.reuse_contexts,
            "memory_ceiling_mb": self.memory_ceiling_mb,
            "verify_completion": self.verify_completion,
        }

    async def _execute(self, batch_id: str) -> BatchSummary:
        started = time.monotonic()
        info = await asyncio.to_thread(self.journal.batch, batch_id)
        self._batch_id = batch_id
        self._shadow = info.mode == "shadow"
        self._stopping = ""
        self._progress = Progress(batch_id=batch_id, callbacks=self._callbacks)
        await asyncio.to_thread(self.journal.set_status, batch_id, "running", settings=self._settings())
        recovered = await asyncio.to_thread(self.journal.recover, batch_id)
        for item in recovered:
            await self._emit(
                "item_recovered", key=item.key, state=item.state, detail="interrupted; checked before it runs"
            )
        await self._emit("batch_started", detail=f"{self.concurrency} workers")
        folder = self.artifacts_dir(batch_id)
        folder.mkdir(parents=True, exist_ok=True)
        status: BatchStatus = "finished"
        peak = 0
        async with AsyncExitStack() as stack:
            session = self._browser
            needs_browser = bool(getattr(self.task, "needs_browser", True))
            if session is None and needs_browser:
                session = await stack.enter_async_context(BrowserSession(headless=self.headless))
            sign_in = getattr(self.task, "sign_in", None)
            self._pool = ContextPool(
                session=session,
                size=self.concurrency,
                state_path=folder / "storage-state.json",
                sign_in=sign_in if callable(sign_in) else None,
                storage_state=self._storage_state,
                reuse=self.reuse_contexts,
                memory_ceiling_mb=self.memory_ceiling_mb,
            )
            stack.push_async_callback(self._pool.close)
            self._processor = ItemProcessor(
                runner=self,
                batch_id=batch_id,
                pool=self._pool,
                session=session,
                shadow=self._shadow,
                progress=self._progress,
                emit=self._emit,
            )
            workers = [
                asyncio.create_task(self._worker(n), name=f"batch-worker-{n}")
                for n in range(self.concurrency)
            ]
            watcher = asyncio.create_task(self._watch(workers), name="batch-watch")
            try:
                await asyncio.gather(*workers, return_exceptions=True)
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                for worker in workers:
                    if not worker.done():
                        worker.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
            peak = self._pool.peak
        counts = await asyncio.to_thread(self.journal.counts, batch_id)
        stopping = self._stop_request()
        if stopping == "cancel":
            status = "cancelled"
        elif stopping == "pause" or counts["pending"]:
            status = "paused"
        elif counts["running"] or counts["awaiting_approval"]:
            status = "running"  # another process still works on it
        await asyncio.to_thread(self.journal.set_status, batch_id, status)
        if status == "running":
            status = "paused"
        await self._emit("batch_stopped", detail=status)
        return BatchSummary(
            batch_id=batch_id,
            status=status,
            counts=counts,
            total=sum(counts.values()),
            duration_s=round(time.monotonic() - started, 2),
            peak_contexts=peak,
            journal=str(self.journal.path),
            artifacts_dir=str(folder),
        )

    def _stop_request(self) -> str:
        return self._stopping

    async def _emit(
        self, kind: EventKind, *, key: str | None = None, state: str | None = None, detail: str = ""
    ) -> None:
        counts = await asyncio.to_thread(self.journal.counts, self._batch_id)
        self._progress.emit(kind, counts=counts, key=key, state=state, detail=detail)

    async def _watch(self, workers: list[asyncio.Task[None]]) -> None:
        """Renew leases and act on pause/cancel requests made through the journal."""
        renew_every = max(self.lease_s / 3, _CONTROL_POLL_S)
        last_renew = time.monotonic()
        while True:
            await asyncio.sleep(_CONTROL_POLL_S)
            info = await asyncio.to_thread(self.journal.batch, self._batch_id)
            stopping: str = self._stopping
            if info.control == "cancel" and stopping != "cancel":
                self._stopping = "cancel"
                _log.warning("batch cancelled; interrupting the items under way", batch_id=self._batch_id)
                for worker in workers:
                    worker.cancel()
            elif info.control == "pause" and not stopping:
                self._stopping = "pause"
                _log.info("batch pausing after the items under way", batch_id=self._batch_id)
            if time.monotonic() - last_renew >= renew_every:
                await asyncio.to_thread(
                    self.journal.renew, self._batch_id, owner=self._owner, lease_s=self.lease_s
                )
                last_renew = time.monotonic()

    async def _worker(self, number: int) -> None:
        while not self._stopping:
            item = await asyncio.to_thread(
                self.journal.claim, self._batch_id, owner=self._owner, lease_s=self.lease_s
            )
            if item is None:
                return
            await self._processor.process(item)
