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
import re
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from operator_agent.batch.context import ItemContext
from operator_agent.batch.items import BatchItem
from operator_agent.batch.journal import Journal, owner_id
from operator_agent.batch.outcome import ErrorClass, ItemOutcome, TransientItemError, classify_error
from operator_agent.batch.pool import ContextPool
from operator_agent.batch.progress import BatchEvent, EventKind, Progress, ProgressBar
from operator_agent.batch.records import BatchMode, BatchStatus, ItemRecord, ReviewReason
from operator_agent.batch.tasks import ItemTask
from operator_agent.browser import BrowserSession, RunContext
from operator_agent.errors import BatchError, ConfigurationError
from operator_agent.guardrails.approval import Approver, PolicyApprover
from operator_agent.logs import get_logger
from operator_agent.models import Usage

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


def _safe(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "item"
    return cleaned[:80]


@dataclass
class _Flight:
    """One item's passage through the runner, across its attempts."""

    item: ItemRecord
    maybe_done: bool
    check_first: bool
    refresh_after: int | None = None
    work_s: float = 0.0
    attempts: int = 0
    usage: Usage = field(default_factory=Usage)
    last_ctx: ItemContext | None = None


class _Stop(Exception):
    """An attempt ended the item (completed or routed to review) without raising for a retry."""

    def __init__(self, record: ItemRecord) -> None:
        super().__init__(record.key)
        self.record = record


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
        return root / _safe(batch_id) if self._artifacts_dir is None else root

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
            self._session = session
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
            await self._process(item)

    # -- one item ----------------------------------------------------------------------------------

    async def _process(self, item: ItemRecord) -> None:
        key = item.key
        await self._emit("item_started", key=key, state="running")
        invalid = self._invalid_input(item)
        if invalid is not None:
            await self._finish(
                item,
                "needs_review",
                reason=invalid,
                review_reason="invalid_input",
                error=invalid,
                error_kind="ValidationError",
            )
            return
        left = self.max_attempts - item.attempts
        if left <= 0:
            await self._finish(
                item,
                "failed",
                review_reason="retries_exhausted",
                error_kind="Interrupted",
                reason=f"all {self.max_attempts} attempts were used up (interrupted runs count)",
            )
            return
        flight = _Flight(item=item, maybe_done=item.irreversible_at is not None, check_first=item.needs_check)
        retrying = AsyncRetrying(
            stop=stop_after_attempt(left),
            wait=wait_exponential_jitter(
                initial=self.backoff_s, max=self.max_backoff_s, jitter=self.backoff_s / 2
            ),
            retry=retry_if_exception(lambda exc: self._classify(exc) == "transient"),
            before_sleep=lambda state: self._note_retry(
                key, state.outcome.exception() if state.outcome else None
            ),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._attempt(flight)
        except _Stop:
            return
        except asyncio.CancelledError:
            await asyncio.to_thread(
                self.journal.release, self._batch_id, key, why="the batch was cancelled", work_s=flight.work_s
            )
            raise
        except Exception as exc:
            await self._failed(flight, exc, retries_left=False)

    def _note_retry(self, key: str, exc: BaseException | None) -> None:
        detail = f"{type(exc).__name__}: {exc}" if exc is not None else ""
        self._progress.emit("item_retrying", counts={}, key=key, state="running", detail=detail)

    def _invalid_input(self, item: ItemRecord) -> str | None:
        model = getattr(self.task, "input_model", None)
        if model is None:
            return None
        try:
            model.model_validate(item.data)
        except ValidationError as exc:
            problems = []
            for error in exc.errors(include_url=False):
                where = ".".join(str(p) for p in error["loc"]) or "(item)"
                problems.append(f"{where}: {error['msg']}")
            return "the item's data is invalid: " + "; ".join(problems)
        return None

    def _classify(self, exc: BaseException) -> ErrorClass:
        custom = getattr(self.task, "classify", None)
        if callable(custom):
            verdict = custom(exc)
            if verdict is not None:
                return verdict  # type: ignore[no-any-return]
        return classify_error(exc)

    async def _attempt(self, flight: _Flight) -> None:
        """One attempt; raises :class:`_Stop` when the item is settled, or the failure to retry."""
        key = flight.item.key
        attempt = await asyncio.to_thread(self.journal.start_attempt, self._batch_id, key)
        flight.attempts += 1
        folder = self.artifacts_dir(self._batch_id) / "items" / _safe(key)
        folder.mkdir(parents=True, exist_ok=True)
        pooled = getattr(self.task, "pooled", True) and self._session is not None
        run: RunContext | None = None
        started = time.monotonic()
        ctx: ItemContext | None = None
        healthy = False
        try:
            if pooled:
                run = await self._pool.acquire(refresh_after=flight.refresh_after)
                flight.refresh_after = None
            ctx = ItemContext(
                journal=self.journal,
                batch_id=self._batch_id,
                item=flight.item,
                attempt=attempt,
                run=run,
                session=self._session,
                storage_state=self._pool.state_file,
                item_dir=folder,
                approver=self.approver,
                shadow=self._shadow,
            )
            flight.last_ctx = ctx
            async with asyncio.timeout(self.item_timeout_s):
                if flight.check_first or flight.maybe_done:
                    await self._check_before_retry(flight, ctx)
                outcome = await self.task.run(ctx, flight.item)
                if outcome.status == "completed" and self.verify_completion and not self._shadow:
                    await self._verify(ctx, flight.item)
            healthy = True
        except _Stop:
            healthy = True
            raise
        except BaseException:
            if ctx is not None:
                flight.maybe_done = flight.maybe_done or ctx.irreversible_approved > 0
                await ctx.screenshot("failed")
            flight.refresh_after = self._pool.generation
            raise
        finally:
            flight.work_s += time.monotonic() - started
            if ctx is not None:
                flight.usage = flight.usage + ctx.usage
            if run is not None:
                await self._pool.release(run, healthy=healthy)
        await self._settle(flight, ctx, outcome)

    async def _check_before_retry(self, flight: _Flight, ctx: ItemContext) -> None:
        """The idempotency check, before running an item that may already have had its effect."""
        key = flight.item.key
        check = getattr(self.task, "already_done", None)
        if not callable(check):
            flight.check_first = False
            if flight.maybe_done:
                record = await self._finish(
                    flight.item,
                    "needs_review",
                    review_reason="unconfirmed_effect",
                    work_s=flight.work_s,
                    reason="the run stopped after an irreversible step was approved, and the task has no "
                    "idempotency check: a person must look whether it happened before anything is redone",
                )
                raise _Stop(record)
            return
        done = bool(await check(ctx, flight.item))
        how = "interrupted run" if flight.check_first else "failed after an approved irreversible step"
        await asyncio.to_thread(self.journal.checked, self._batch_id, key, done=done, how=how)
        flight.check_first = False
        if done:
            record = await self._finish(
                flight.item,
                "completed",
                recovered=True,
                work_s=flight.work_s,
                usage=flight.usage,
                reason=f"found done on the site by the idempotency check ({how}); not run again",
            )
            raise _Stop(record)
        flight.maybe_done = False

    async def _verify(self, ctx: ItemContext, item: ItemRecord) -> None:
        check = getattr(self.task, "already_done", None)
        assert callable(check)
        if not await check(ctx, item):
            raise TransientItemError(
                "the task reported success, but the idempotency check does not find the item on the site",
                kind="UnconfirmedSuccess",
            )

    async def _settle(self, flight: _Flight, ctx: ItemContext | None, outcome: ItemOutcome) -> None:
        assert ctx is not None
        item = flight.item
        confidence = outcome.confidence
        status = outcome.status
        review: ReviewReason | None = None
        if outcome.review_reason is not None:
            review = outcome.review_reason
        if status == "completed" and confidence is not None and confidence < self.confidence_threshold:
            status, review = "needs_review", "low_confidence"
        if status == "needs_review" and review is None:
            review = "asked_for_human"
        if status == "failed" and review is None:
            review = "task_error"
        output = (
            outcome.output.model_dump(mode="json")
            if isinstance(outcome.output, BaseModel)
            else outcome.output
        )
        reason = outcome.reason
        if review == "low_confidence" and confidence is not None:
            threshold = self.confidence_threshold
            reason = f"confidence {confidence:.2f} is below the threshold {threshold:.2f}: {reason}"
        record = await self._finish(
            item,
            status,
            reason=reason,
            output=output,
            confidence=confidence,
            review_reason=review,
            work_s=flight.work_s,
            usage=flight.usage,
            ctx=ctx,
            outcome=outcome,
        )
        raise _Stop(record)

    async def _failed(self, flight: _Flight, exc: BaseException, *, retries_left: bool) -> None:
        verdict = self._classify(exc)
        message = str(exc).strip() or type(exc).__name__
        kind = exc.kind if isinstance(exc, TransientItemError) else type(exc).__name__
        reviews: dict[ErrorClass, tuple[Literal["failed", "needs_review"], ReviewReason]] = {
            "transient": ("failed", "retries_exhausted"),
            "rejected": ("needs_review", "rejected_by_site"),
            "denied": ("needs_review", "denied"),
            "budget": ("failed", "budget_exhausted"),
            "bug": ("failed", "task_error"),
        }
        state, review = reviews[verdict]
        if verdict == "rejected" and self._rejected_input(exc):
            review = "invalid_input"
        if verdict == "transient":
            reason = f"still failing after {flight.item.attempts + flight.attempts} attempts: {message}"
        elif verdict == "bug":
            reason = f"the task crashed ({kind}): {message}"
            _log.error("batch task crashed", batch_id=self._batch_id, key=flight.item.key, error=repr(exc))
        else:
            reason = message
        await self._finish(
            flight.item,
            state,
            reason=reason,
            error=message,
            error_kind=kind,
            review_reason=review,
            work_s=flight.work_s,
            usage=flight.usage,
            ctx=flight.last_ctx,
        )

    @staticmethod
    def _rejected_input(exc: BaseException) -> bool:
        return isinstance(exc, ValidationError | ConfigurationError)

    async def _finish(
        self,
        item: ItemRecord,
        state: Literal["completed", "failed", "needs_review"],
        *,
        reason: str,
        output: Any = None,
        confidence: float | None = None,
        error: str = "",
        error_kind: str = "",
        review_reason: ReviewReason | None = None,
        work_s: float = 0.0,
        usage: Usage | None = None,
        recovered: bool = False,
        ctx: ItemContext | None = None,
        outcome: ItemOutcome | None = None,
    ) -> ItemRecord:
        artifacts: dict[str, Any] = {
            "item_dir": str(self.artifacts_dir(self._batch_id) / "items" / _safe(item.key))
        }
        total = (usage or Usage()) + (outcome.usage if outcome is not None else Usage())
        if ctx is not None:
            artifacts["steps"] = (outcome.steps if outcome is not None and outcome.steps else ctx.steps)[
                -200:
            ]
            shots = [*ctx.screenshots, *(outcome.screenshots if outcome is not None else [])]
            artifacts["screenshots"] = [str(p) for p in shots][-20:]
            if outcome is not None:
                artifacts["trace_dirs"] = [str(p) for p in outcome.trace_dirs]
                artifacts["reasoning"] = outcome.reasoning
                artifacts["used_fallback"] = outcome.used_fallback
        record = await asyncio.to_thread(
            self.journal.finish,
            self._batch_id,
            item.key,
            state=state,
            reason=reason,
            output=output,
            confidence=confidence,
            error=error,
            error_kind=error_kind,
            review_reason=review_reason,
            work_s=work_s,
            usage=total.model_dump(),
            artifacts=artifacts,
            recovered=recovered,
        )
        await self._emit("item_finished", key=item.key, state=state, detail=reason)
        return record
