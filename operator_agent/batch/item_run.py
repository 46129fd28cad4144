"""One item's way through the runner: its attempts, idempotency checks, and how it is settled.

An :class:`ItemProcessor` is made per batch run by :class:`~operator_agent.batch.BatchRunner`; the
workers hand it the items they claim. Each attempt is journalled before it starts; transient
failures are retried with exponential backoff and jitter (tenacity); anything that says the item
itself is wrong goes to review at once. An item that may already have had its effect (interrupted
by a crash, or failed after an approved irreversible step) is checked on the site before it runs.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random

from operator_agent.batch.context import ItemContext
from operator_agent.batch.outcome import (
    ErrorClass,
    ItemOutcome,
    SessionExpiredError,
    TransientItemError,
    classify_error,
)
from operator_agent.batch.pool import ContextPool
from operator_agent.batch.progress import EventKind, Progress
from operator_agent.batch.records import ItemRecord, ReviewReason
from operator_agent.browser import BrowserSession, RunContext
from operator_agent.errors import ConfigurationError
from operator_agent.logs import get_logger
from operator_agent.models import Usage

if TYPE_CHECKING:
    from operator_agent.batch.runner import BatchRunner

__all__ = ["ItemProcessor", "safe_name"]

_log = get_logger("operator_agent.batch.runner")


def safe_name(name: str) -> str:
    """A file-system-safe folder name for an item key."""
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


class ItemProcessor:
    """Runs claimed items of one batch run, with the runner's settings.

    Args:
        runner: The runner (its task, journal, approver and retry settings).
        batch_id: The batch.
        pool: The browser contexts.
        session: The browser, if the task needs one.
        shadow: Whether the batch runs in shadow mode.
        progress: Where events go.
        emit: Emits an event with fresh counts.
    """

    def __init__(
        self,
        *,
        runner: BatchRunner,
        batch_id: str,
        pool: ContextPool,
        session: BrowserSession | None,
        shadow: bool,
        progress: Progress,
        emit: Callable[..., Awaitable[None]],
    ) -> None:
        self.journal = runner.journal
        self.task = runner.task
        self.approver = runner.approver
        self.max_attempts = runner.max_attempts
        self.backoff_s = runner.backoff_s
        self.max_backoff_s = runner.max_backoff_s
        self.item_timeout_s = runner.item_timeout_s
        self.verify_completion = runner.verify_completion
        self.confidence_threshold = runner.confidence_threshold
        self._folder = runner.artifacts_dir(batch_id)
        self._batch_id = batch_id
        self._pool = pool
        self._session = session
        self._shadow = shadow
        self._progress = progress
        self._emit_event = emit

    async def _emit(
        self, kind: EventKind, *, key: str | None = None, state: str | None = None, detail: str = ""
    ) -> None:
        await self._emit_event(kind, key=key, state=state, detail=detail)

    async def process(self, item: ItemRecord) -> None:
        """Run one claimed item to a final state (or back to pending when cancelled)."""
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
            # Doubling delays with jitter, so workers hit by the same outage do not retry in step.
            wait=wait_exponential(multiplier=self.backoff_s, max=self.max_backoff_s)
            + wait_random(0, self.backoff_s / 2),
            retry=retry_if_exception(
                lambda exc: not isinstance(exc, _Stop) and self._classify(exc) == "transient"
            ),
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
            await self._failed(flight, exc)

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
        folder = self._folder / "items" / safe_name(key)
        folder.mkdir(parents=True, exist_ok=True)
        # Tasks that open their own contexts (agents) still get one when they have an idempotency
        # check: the check needs a page.
        wants = getattr(self.task, "pooled", True) or callable(getattr(self.task, "already_done", None))
        pooled = wants and self._session is not None
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
        except BaseException as exc:
            if ctx is not None:
                flight.maybe_done = flight.maybe_done or ctx.irreversible_approved > 0
                if not isinstance(exc, asyncio.CancelledError):
                    await ctx.screenshot("failed")
            if isinstance(exc, SessionExpiredError):
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

    async def _failed(self, flight: _Flight, exc: BaseException) -> None:
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
        artifacts: dict[str, Any] = {"item_dir": str(self._folder / "items" / safe_name(item.key))}
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
