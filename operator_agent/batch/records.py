"""The typed records a batch journal hands out: batches, items, events, and their states."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "BatchInfo",
    "BatchMode",
    "BatchStatus",
    "ItemEvent",
    "ItemRecord",
    "ItemState",
    "Resolution",
    "ReviewReason",
    "utc",
]

ItemState = Literal["pending", "running", "awaiting_approval", "completed", "failed", "needs_review"]
"""Where an item stands:

* ``pending``: waiting to run (or to run again, after a resume or a person's ``retry``);
* ``running``: a worker is on it;
* ``awaiting_approval``: it stopped before an irreversible step until a person decides;
* ``completed``: done (by the machine, or marked done by a person);
* ``failed``: it kept failing (out of retries) or the task crashed; it waits in the review queue;
* ``needs_review``: a person must look: low confidence, denied, bad input, asked for help.
"""

ACTIVE_STATES: tuple[ItemState, ...] = ("running", "awaiting_approval")
FINAL_STATES: tuple[ItemState, ...] = ("completed", "failed", "needs_review")

BatchStatus = Literal["open", "running", "paused", "cancelled", "finished"]
BatchMode = Literal["live", "shadow"]

ReviewReason = Literal[
    "low_confidence",
    "asked_for_human",
    "denied",
    "invalid_input",
    "rejected_by_site",
    "duplicate",
    "retries_exhausted",
    "task_error",
    "budget_exhausted",
    "unconfirmed_effect",
]
"""Why an item is in the review queue (shown to people, counted in the report)."""

Resolution = Literal["accepted", "done_manually", "retry", "skipped"]
"""How a person resolved a review item:

* ``accepted``: the machine's result is right as it is (the item becomes ``completed``);
* ``done_manually``: the person did the work by hand (``completed``);
* ``retry``: run it again, optionally with corrected data (back to ``pending``);
* ``skipped``: it will not be done (it leaves the queue and stays as it is).
"""


def utc(timestamp: float | None) -> datetime | None:
    """A POSIX timestamp as an aware UTC datetime (``None`` stays ``None``)."""
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class BatchInfo(_Frozen):
    """One batch as the journal holds it.

    Attributes:
        id: The batch's id (``2026-10-month-end``).
        task: The name of the task its items run as.
        mode: ``live``, or ``shadow`` (stops before every irreversible step).
        status: ``open`` (created, never run), ``running``, ``paused``, ``cancelled`` or ``finished``.
        control: A pending request from a person or tool: ``pause``, ``cancel`` or empty.
        settings: What it was run with (concurrency, retries, thresholds...).
        created_at: When it was created.
        started_at: When it last started or resumed.
        finished_at: When it last stopped.
    """

    id: str
    task: str
    mode: BatchMode
    status: BatchStatus
    control: Literal["", "pause", "cancel"] = ""
    settings: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class ItemRecord(_Frozen):
    """One item as the journal holds it: its input, where it stands, and everything a person needs.

    Attributes:
        batch_id: Its batch.
        key: Its idempotency key.
        seq: Its position in the input.
        source: Where it came from (``invoices.csv:12``).
        data: Its input.
        duplicate_of: The key it repeats, for a duplicate.
        state: Where it stands.
        attempts: How many attempts were started (interrupted ones included).
        needs_check: It was interrupted mid-run: the idempotency check runs before any retry.
        irreversible_at: When an irreversible step was last approved for it (the effect may have
            happened from then on).
        error: The last error, in words.
        error_kind: The last error's class name (``ActionFailedError``...).
        output: What the task returned (for shadow runs, what would have been submitted).
        confidence: The confidence the task reported, if any.
        reason: How it ended, in words.
        review_reason: Why it is (or was) in the review queue.
        artifacts: Paths a person may open: ``item_dir``, ``trace_dirs``, ``screenshots``,
            ``steps`` (what was done), ``reasoning`` (the model's words).
        work_s: Time spent running it, all attempts together (approval waits included).
        model_requests: Model calls made for it.
        input_tokens: Prompt tokens.
        output_tokens: Completion tokens.
        cost_usd: Model cost; ``None`` when some cost was unknown.
        approvals: Approval requests made.
        human_approvals: Of those, how many a person decided.
        approval_wait_s: Time spent waiting for approvals.
        recovered: It was found done by the idempotency check after an interruption.
        reviewed: It was routed to review at some point.
        resolution: How a person resolved it, if one did.
        resolved_by: Who resolved it.
        resolution_note: What they said.
        first_started_at: When its first attempt started.
        finished_at: When it last reached a final state.
        updated_at: The last change.
    """

    batch_id: str
    key: str
    seq: int
    source: str = ""
    data: dict[str, Any]
    duplicate_of: str | None = None
    state: ItemState
    attempts: int = 0
    needs_check: bool = False
    irreversible_at: datetime | None = None
    error: str = ""
    error_kind: str = ""
    output: Any = None
    confidence: float | None = None
    reason: str = ""
    review_reason: ReviewReason | Literal[""] = ""
    artifacts: dict[str, Any] = Field(default_factory=dict)
    work_s: float = 0.0
    model_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    approvals: int = 0
    human_approvals: int = 0
    approval_wait_s: float = 0.0
    recovered: bool = False
    reviewed: bool = False
    resolution: Resolution | Literal[""] = ""
    resolved_by: str = ""
    resolution_note: str = ""
    first_started_at: datetime | None = None
    finished_at: datetime | None = None
    updated_at: datetime

    @property
    def in_review(self) -> bool:
        """Whether it waits in the review queue (failed or needs review, and not resolved)."""
        return self.state in ("failed", "needs_review") and not self.resolution


class ItemEvent(_Frozen):
    """One line of an item's history (append-only in the journal).

    Attributes:
        seq: Order of the event in the journal.
        batch_id: The batch.
        key: The item (empty for batch-level events).
        at: When.
        event: What happened (``claimed``, ``attempt``, ``approval``, ``completed``, ``resolved``...).
        detail: The particulars.
    """

    seq: int
    batch_id: str
    key: str
    at: datetime
    event: str
    detail: dict[str, Any] = Field(default_factory=dict)
