"""Batches: run hundreds of items durably, exactly once, with a review queue and KPIs.

The pieces, each in a module of its own:

* items: :class:`BatchItem` and readers for iterables, CSV and JSON Lines (:func:`read_items`);
* tasks: how an item runs (:class:`SkillTask`, :class:`AgentTask`, :class:`CompiledSkillTask`, or
  anything that fits the :class:`ItemTask` protocol), with an optional idempotency check;
* the runner: :class:`BatchRunner` (concurrency over one browser, retries, pause, cancel, resume);
* the journal: :class:`Journal` (SQLite, WAL) with every item's state, attempts and history;
* the review queue: :class:`ReviewQueue`;
* KPIs and reports: :func:`batch_kpis`, :func:`write_report`; shadow runs: :func:`compare_shadow`;
* scale-out over Celery: :mod:`operator_agent.batch.scale` (the ``scale`` extra).
"""

from __future__ import annotations

from operator_agent.batch.context import ItemContext, read_form_values
from operator_agent.batch.items import BatchItem, KeySpec, load_items, read_csv, read_items, read_jsonl
from operator_agent.batch.journal import Journal
from operator_agent.batch.kpis import BatchComparison, BatchKpis, batch_kpis, compare_batches
from operator_agent.batch.outcome import (
    ErrorClass,
    ItemOutcome,
    SessionExpiredError,
    TransientItemError,
    classify_error,
)
from operator_agent.batch.pool import ContextPool, SignIn
from operator_agent.batch.progress import BatchEvent, JsonLinesSink, ProgressBar
from operator_agent.batch.records import (
    BatchInfo,
    BatchMode,
    BatchStatus,
    ItemEvent,
    ItemRecord,
    ItemState,
    Resolution,
    ReviewReason,
)
from operator_agent.batch.report import BatchReport, build_report, render_html, write_report
from operator_agent.batch.review import ReviewEntry, ReviewQueue
from operator_agent.batch.runner import BatchRunner, BatchSummary
from operator_agent.batch.shadow import ShadowComparison, compare_shadow
from operator_agent.batch.tasks import AgentTask, CompiledSkillTask, IdempotencyCheck, ItemTask, SkillTask

__all__ = [
    "AgentTask",
    "BatchComparison",
    "BatchEvent",
    "BatchInfo",
    "BatchItem",
    "BatchKpis",
    "BatchMode",
    "BatchReport",
    "BatchRunner",
    "BatchStatus",
    "BatchSummary",
    "CompiledSkillTask",
    "ContextPool",
    "ErrorClass",
    "IdempotencyCheck",
    "ItemContext",
    "ItemEvent",
    "ItemOutcome",
    "ItemRecord",
    "ItemState",
    "ItemTask",
    "Journal",
    "JsonLinesSink",
    "KeySpec",
    "ProgressBar",
    "Resolution",
    "ReviewEntry",
    "ReviewQueue",
    "ReviewReason",
    "SessionExpiredError",
    "ShadowComparison",
    "SignIn",
    "SkillTask",
    "TransientItemError",
    "batch_kpis",
    "build_report",
    "classify_error",
    "compare_batches",
    "compare_shadow",
    "load_items",
    "read_csv",
    "read_form_values",
    "read_items",
    "read_jsonl",
    "render_html",
    "write_report",
]
