"""KPIs of a batch, its comparison with earlier batches, and the drift alert.

The numbers a BPO team shows its client: how many items, how many completed, how many without a
person, how many went to review and why, how long an item takes (median and 95th percentile), what
the model cost per item, how long approvals waited. Comparing with earlier batches of the same task
shows the trend; the alert fires when the completion rate drops below a configured threshold, or
falls well below the earlier batches' (accuracy drift: the site changed, the input changed).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.batch.journal import Journal
from operator_agent.batch.records import BatchMode, BatchStatus, ItemRecord

__all__ = ["BatchComparison", "BatchKpis", "batch_kpis", "compare_batches", "percentile"]


def percentile(values: Sequence[float], share: float) -> float | None:
    """The ``share`` percentile (0..1) by linear interpolation; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * share
    low, high = math.floor(position), math.ceil(position)
    if low == high:
        return round(ordered[low], 3)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 3)


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


class BatchKpis(BaseModel):
    """The KPIs of one batch.

    Attributes:
        batch_id: The batch.
        task: Its task.
        mode: ``live`` or ``shadow``.
        status: The batch's status.
        created_at: When it was created.
        items: Items in the batch.
        completed: Items completed (by the machine or a person).
        completed_without_person: Completed with no review and no approval decided by a person.
        failed: Items failed (in review).
        needs_review: Items needing review.
        left: Items not finished yet (pending, running, awaiting approval).
        completion_rate: ``completed / items``.
        straight_through_rate: ``completed_without_person / items``.
        review_rate: Share of items that went to review at some point.
        error_rate: Share of items that failed.
        review_reasons: Why items went to review, counted.
        errors_by_kind: The last error of each item that had one, by error class.
        retried: Items that needed more than one attempt.
        recovered: Items found done by the idempotency check after an interruption.
        fallbacks: Items a model finished after the compiled skill could not.
        time_p50_s: Median working time per finished item (all attempts).
        time_p95_s: 95th percentile of the same.
        throughput_per_min: Finished items per minute, first start to last finish.
        model_requests: Model calls in total.
        model_requests_per_item: Per item.
        tokens_per_item: Input and output tokens per item.
        cost_usd: Model cost in total; ``None`` when some cost was unknown.
        cost_per_item_usd: Per item.
        approvals: Approval requests.
        approval_wait_p50_s: Median wait for a decision.
        approval_wait_p95_s: 95th percentile of the wait.
        approval_wait_max_s: The longest wait.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    task: str
    mode: BatchMode
    status: BatchStatus
    created_at: datetime
    items: int
    completed: int
    completed_without_person: int
    failed: int
    needs_review: int
    left: int
    completion_rate: float
    straight_through_rate: float
    review_rate: float
    error_rate: float
    review_reasons: dict[str, int] = Field(default_factory=dict)
    errors_by_kind: dict[str, int] = Field(default_factory=dict)
    retried: int = 0
    recovered: int = 0
    fallbacks: int = 0
    time_p50_s: float | None = None
    time_p95_s: float | None = None
    throughput_per_min: float | None = None
    model_requests: int = 0
    model_requests_per_item: float = 0.0
    tokens_per_item: float = 0.0
    cost_usd: float | None = 0.0
    cost_per_item_usd: float | None = 0.0
    approvals: int = 0
    approval_wait_p50_s: float | None = None
    approval_wait_p95_s: float | None = None
    approval_wait_max_s: float | None = None
    work_times_s: list[float] = Field(default_factory=list)


def _without_person(item: ItemRecord) -> bool:
    return (
        item.state == "completed" and not item.reviewed and not item.resolution and item.human_approvals == 0
    )


def batch_kpis(journal: Journal, batch_id: str) -> BatchKpis:
    """Compute the KPIs of a batch from its journal.

    Raises:
        UnknownBatchItemError: There is no such batch.
    """
    info = journal.batch(batch_id)
    items = journal.items(batch_id)
    total = len(items)
    by_state = Counter(item.state for item in items)
    finished = [i for i in items if i.state in ("completed", "failed", "needs_review")]
    times = [round(i.work_s, 3) for i in finished if i.work_s > 0]
    starts = [i.first_started_at for i in items if i.first_started_at is not None]
    ends = [i.finished_at for i in finished if i.finished_at is not None]
    throughput = None
    if starts and ends and len(finished) > 1:
        minutes = (max(ends) - min(starts)).total_seconds() / 60
        throughput = round(len(finished) / minutes, 2) if minutes > 0 else None
    requests = sum(i.model_requests for i in items)
    costs = [i.cost_usd for i in items]
    cost = None if any(c is None for c in costs) else round(sum(c or 0.0 for c in costs), 6)
    waits = [i.approval_wait_s for i in items if i.approvals]
    with_error = [i for i in items if i.error_kind]
    return BatchKpis(
        batch_id=batch_id,
        task=info.task,
        mode=info.mode,
        status=info.status,
        created_at=info.created_at,
        items=total,
        completed=by_state["completed"],
        completed_without_person=sum(1 for i in items if _without_person(i)),
        failed=by_state["failed"],
        needs_review=by_state["needs_review"],
        left=by_state["pending"] + by_state["running"] + by_state["awaiting_approval"],
        completion_rate=_share(by_state["completed"], total),
        straight_through_rate=_share(sum(1 for i in items if _without_person(i)), total),
        review_rate=_share(sum(1 for i in items if i.reviewed), total),
        error_rate=_share(by_state["failed"], total),
        review_reasons=dict(Counter(i.review_reason for i in items if i.reviewed and i.review_reason)),
        errors_by_kind=dict(Counter(i.error_kind for i in with_error)),
        retried=sum(1 for i in items if i.attempts > 1),
        recovered=sum(1 for i in items if i.recovered),
        fallbacks=sum(1 for i in items if i.artifacts.get("used_fallback")),
        time_p50_s=percentile(times, 0.5),
        time_p95_s=percentile(times, 0.95),
        throughput_per_min=throughput,
        model_requests=requests,
        model_requests_per_item=round(requests / total, 3) if total else 0.0,
        tokens_per_item=round(sum(i.input_tokens + i.output_tokens for i in items) / total, 1)
        if total
        else 0.0,
        cost_usd=cost,
        cost_per_item_usd=round(cost / total, 6)
        if cost is not None and total
        else (None if cost is None else 0.0),
        approvals=sum(i.approvals for i in items),
        approval_wait_p50_s=percentile(waits, 0.5),
        approval_wait_p95_s=percentile(waits, 0.95),
        approval_wait_max_s=round(max(waits), 3) if waits else None,
        work_times_s=times,
    )


class BatchComparison(BaseModel):
    """A batch against earlier batches of the same task.

    Attributes:
        current: The batch's KPIs.
        earlier: The earlier batches' KPIs, oldest first.
        completion_rate_change: Current completion rate minus the earlier batches' mean.
        time_p50_change_s: Current median time minus the earlier mean of medians.
        alert_below: The completion rate under which the alert fires.
        drift_tolerance: How far under the earlier mean the rate may fall before the alert fires.
        alerts: What is wrong, in words (empty when all is well).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    current: BatchKpis
    earlier: list[BatchKpis]
    completion_rate_change: float | None
    time_p50_change_s: float | None
    alert_below: float
    drift_tolerance: float
    alerts: list[str]

    @property
    def alert(self) -> bool:
        """Whether any alert fired."""
        return bool(self.alerts)


def compare_batches(
    journal: Journal,
    batch_id: str,
    *,
    earlier: int = 5,
    alert_below: float = 0.9,
    drift_tolerance: float = 0.1,
    others: Sequence[BatchKpis] = (),
) -> BatchComparison:
    """Compare a batch with the ``earlier`` batches of the same task before it, and raise alerts.

    The alert fires when the completion rate is below ``alert_below``, or when it is more than
    ``drift_tolerance`` below the earlier batches' mean.

    Args:
        journal: The journal.
        batch_id: The batch.
        earlier: How many earlier batches (of the same task and mode, in this journal) to compare with.
        alert_below: The completion rate the batch must reach.
        drift_tolerance: The largest acceptable drop against the earlier mean.
        others: KPIs of batches from other journals to compare with as well (say, another site).
    """
    current = batch_kpis(journal, batch_id)
    previous = [
        b.id
        for b in journal.batches()
        if b.id != batch_id
        and b.task == current.task
        and b.mode == current.mode
        and b.created_at < current.created_at
    ][-earlier:]
    history = [*others, *(batch_kpis(journal, b) for b in previous)]
    rate_change = time_change = None
    alerts: list[str] = []
    if current.items and current.completion_rate < alert_below:
        alerts.append(
            f"completion rate {current.completion_rate:.1%} is below the threshold of {alert_below:.1%}"
        )
    if history:
        mean_rate = sum(k.completion_rate for k in history) / len(history)
        rate_change = round(current.completion_rate - mean_rate, 4)
        if rate_change < -drift_tolerance:
            alerts.append(
                f"completion rate dropped by {-rate_change:.1%} against the mean of the last {len(history)} "
                f"batches ({mean_rate:.1%}): accuracy drift; check the site and the input"
            )
        medians = [k.time_p50_s for k in history if k.time_p50_s is not None]
        if medians and current.time_p50_s is not None:
            time_change = round(current.time_p50_s - sum(medians) / len(medians), 3)
    return BatchComparison(
        current=current,
        earlier=history,
        completion_rate_change=rate_change,
        time_p50_change_s=time_change,
        alert_below=alert_below,
        drift_tolerance=drift_tolerance,
        alerts=alerts,
    )
