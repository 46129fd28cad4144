"""The Celery worker side of batch scale-out (the ``scale`` extra: celery and redis).

Start workers on any number of machines::

    OPERATOR_AGENT_BROKER_URL=redis://queue-host:6379/0 \\
        celery -A operator_agent.batch.celery_app worker --concurrency 2

Each worker process keeps one browser and runs the items it is handed with the same runner as a
local batch (retries, idempotency checks, review routing), in a scratch journal of its own; the
coordinator (:class:`~operator_agent.batch.scale.CeleryBatchRunner`) merges the outcomes into the
batch's journal. Redis keeps exactly-once across workers: a lock per item (one worker at a time),
a *started* mark (a message redelivered after a worker died is checked on the site first) and the
finished outcome (a duplicate message gets it back instead of running the item again).

Settings come from the environment: ``OPERATOR_AGENT_BROKER_URL`` (the Redis URL) and
``OPERATOR_AGENT_VISIBILITY_TIMEOUT`` (seconds before Redis hands an unacknowledged message to
another worker; default 3600).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import tempfile
from pathlib import Path
from typing import Any

from operator_agent.errors import MissingExtraError

try:
    import redis  # type: ignore[import-not-found,unused-ignore]
    from celery import Celery  # type: ignore[import-untyped,import-not-found,unused-ignore]
except ImportError as exc:  # pragma: no cover - exercised when the extra is missing
    raise MissingExtraError(
        "batch scale-out needs the 'scale' extra (celery and redis): pip install 'operator-agent[scale]'"
    ) from exc

from operator_agent.batch._journal_remote import adopt
from operator_agent.batch.journal import Journal, owner_id
from operator_agent.batch.records import FINAL_STATES, ItemRecord
from operator_agent.batch.remote import RUN_ITEM, RemoteItem, redis_keys
from operator_agent.browser import BrowserSession
from operator_agent.guardrails.approval import Approver, PolicyApprover
from operator_agent.logs import get_logger

__all__ = ["RUN_ITEM", "app", "create_app", "run_item"]

_log = get_logger("operator_agent.batch.celery")
_DONE_TTL_S = 30 * 24 * 3600


class _WorkerState:
    """What one worker process keeps between items: an event loop, a browser, Redis, tasks."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.session: BrowserSession | None = None
        self.redis: dict[str, Any] = {}
        self.tasks: dict[str, Any] = {}
        self.folder = Path(
            os.environ.get("OPERATOR_AGENT_WORKER_DIR") or tempfile.mkdtemp(prefix="oa-worker-")
        )
        self.name = f"{socket.gethostname()}:{os.getpid()}"


_state = _WorkerState()


def _loop() -> asyncio.AbstractEventLoop:
    if _state.loop is None or _state.loop.is_closed():
        _state.loop = asyncio.new_event_loop()
    return _state.loop


def _redis(url: str) -> Any:
    if url not in _state.redis:
        _state.redis[url] = redis.Redis.from_url(url)
    return _state.redis[url]


def _task(spec: str) -> Any:
    if spec not in _state.tasks:
        from operator_agent.batch.cli import load_task

        _state.tasks[spec] = load_task(spec)
    return _state.tasks[spec]


def _approver(setting: str) -> Approver:
    if setting.startswith("queue:"):
        from operator_agent.guardrails.queue import ApprovalQueue, QueueApprover

        return QueueApprover(queue=ApprovalQueue(path=setting.removeprefix("queue:")))
    return PolicyApprover(mode="approve" if setting == "approve" else "deny")


async def _session() -> BrowserSession:
    if _state.session is None or not _state.session.started:
        _state.session = BrowserSession()
        await _state.session.start()
    return _state.session


async def _run(payload: RemoteItem) -> dict[str, Any]:
    from operator_agent.batch.runner import BatchRunner

    store = _redis(payload.redis_url)
    keys = redis_keys(payload.batch_id, payload.item.key)
    cached = store.get(keys.done)
    if cached is not None:
        return dict(json.loads(cached))
    token = f"{_state.name}:{secrets.token_hex(4)}"
    if not store.set(keys.lock, token, nx=True, px=int(payload.lock_s * 1000)):
        return {"status": "busy", "worker": _state.name}
    try:
        # A message seen before (its worker died) is checked on the site before anything runs.
        check_first = payload.check_first or store.get(keys.started) is not None
        store.set(keys.started, _state.name, ex=_DONE_TTL_S)
        task = _task(payload.task)
        journal = Journal(path=_state.folder / "worker-journal.db")
        scratch = f"{payload.batch_id}::{payload.item.key}"
        journal.create_batch(scratch, task=task.name, mode=payload.mode)
        adopt(journal, scratch, payload.item, check_first=check_first)
        runner = BatchRunner(
            task=task,
            journal=journal,
            concurrency=1,
            max_attempts=payload.max_attempts,
            backoff_s=payload.backoff_s,
            max_backoff_s=max(payload.backoff_s, 30.0),
            approver=_approver(payload.approval),
            confidence_threshold=payload.confidence_threshold,
            browser=await _session() if getattr(task, "needs_browser", True) else None,
            artifacts_dir=Path(payload.artifacts_dir) if payload.artifacts_dir else None,
            item_timeout_s=payload.item_timeout_s,
            verify_completion=payload.verify_completion,
            progress=None,
        )
        await runner.resume(scratch)
        final: ItemRecord = journal.item(scratch, payload.item.key)
        if final.state not in FINAL_STATES:
            return {"status": "interrupted", "worker": _state.name}
        result = {"status": "done", "worker": _state.name, "record": final.model_dump(mode="json")}
        store.set(keys.done, json.dumps(result), ex=_DONE_TTL_S)
        return result
    finally:
        if store.get(keys.lock) == token.encode():
            store.delete(keys.lock)


def run_item(payload: dict[str, Any]) -> dict[str, Any]:
    """The Celery task: run one batch item on this worker and return its outcome."""
    item = RemoteItem.model_validate(payload)
    _log.info("worker runs item", batch_id=item.batch_id, key=item.item.key, worker=owner_id())
    return _loop().run_until_complete(_run(item))


def create_app(broker_url: str | None = None) -> Celery:
    """A Celery app for batch workers (and for the coordinator to send tasks with).

    Args:
        broker_url: The Redis URL; ``$OPERATOR_AGENT_BROKER_URL`` by default.
    """
    url = broker_url or os.environ.get("OPERATOR_AGENT_BROKER_URL", "redis://127.0.0.1:6379/0")
    visibility = int(os.environ.get("OPERATOR_AGENT_VISIBILITY_TIMEOUT", "3600"))
    celery = Celery("operator_agent.batch", broker=url, backend=url)
    celery.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        broker_transport_options={"visibility_timeout": visibility},
        result_expires=_DONE_TTL_S,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    celery.task(name=RUN_ITEM)(run_item)
    return celery


app = create_app()
