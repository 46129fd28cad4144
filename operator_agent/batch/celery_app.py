"""The Celery worker side of batch scale-out (the ``scale`` extra: celery and redis).

Start workers on any number of machines::

    OPERATOR_AGENT_BROKER_URL=redis://queue-host:6379/0 \\
        celery -A operator_agent.batch.celery_app worker --concurrency 2

Each worker process keeps one browser and runs the items it is handed with the same runner as a
local batch (retries, idempotency checks, review routing), in a scratch journal of its own; the
coordinator (:class:`~operator_agent.batch.scale.CeleryBatchRunner`) merges the outcomes into the
batch's journal. Redis keeps exactly-once across workers:

* a *claim* per item (one worker at a time), which the worker renews by heartbeat while it lives
  (:mod:`operator_agent.batch._claim`), so a dead worker's claim lapses within seconds;
* a *started* mark: a message seen before (its worker died) is checked on the site first;
* the attempts counted so far, so the attempt a dead worker was making counts;
* the finished outcome: a duplicate message gets it back instead of running the item again.

When a pool child dies in the middle of an item (``kill -9``, out of memory), its parent requeues
the message (``task_acks_late`` with ``task_reject_on_worker_lost``); when a whole worker dies, the
coordinator notices the lapsed claim and sends the item again. Either way the next worker checks
the site before it runs anything.

Settings come from the environment: ``OPERATOR_AGENT_BROKER_URL`` (the Redis URL) and
``OPERATOR_AGENT_VISIBILITY_TIMEOUT`` (seconds before Redis hands an unacknowledged message to
another worker; default 3600, longer than any item should run).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import socket
import tempfile
from collections.abc import Mapping
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

from operator_agent.batch._claim import ItemClaim
from operator_agent.batch._journal_remote import adopt, run_history
from operator_agent.batch.journal import Journal
from operator_agent.batch.records import FINAL_STATES, ItemRecord
from operator_agent.batch.remote import RUN_ITEM, RemoteItem, redis_keys, started_mark
from operator_agent.browser import BrowserSession
from operator_agent.guardrails.approval import Approver, PolicyApprover
from operator_agent.logs import get_logger

__all__ = ["RUN_ITEM", "app", "create_app", "run_item"]

_log = get_logger("operator_agent.batch.celery")
_DONE_TTL_S = 30 * 24 * 3600


class _WorkerState:
    """What one worker process keeps between items: an event loop, a browser, Redis, tasks.

    Made when the module is imported, which in a prefork worker is in the parent process: each pool
    child starts from a copy without a loop, a browser or Redis connections, and makes its own.
    """

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.session: BrowserSession | None = None
        self.redis: dict[str, Any] = {}
        self.tasks: dict[str, Any] = {}
        self.folder = Path(
            os.environ.get("OPERATOR_AGENT_WORKER_DIR") or tempfile.mkdtemp(prefix="oa-worker-")
        )

    @property
    def name(self) -> str:
        """This process (host and process id: the pool child that runs the item, not its parent)."""
        return f"{socket.gethostname()}:{os.getpid()}"


_state = _WorkerState()


class _ScratchJournal(Journal):
    """A worker's own journal, which also counts each attempt in Redis before the attempt starts.

    The count outlives this process: when the worker dies in the middle of an attempt, the worker
    that takes the item up next counts that attempt too (interrupted runs count, as in a local
    batch), so an item that kills its workers cannot run forever.
    """

    def __init__(self, *, path: Path, store: Any, attempts_key: str) -> None:
        super().__init__(path=path)
        self._store = store
        self._attempts_key = attempts_key

    def start_attempt(self, batch_id: str, key: str, *, detail: Mapping[str, Any] | None = None) -> int:
        number = self.item(batch_id, key).attempts + 1
        self._store.set(self._attempts_key, number, ex=_DONE_TTL_S)
        return super().start_attempt(batch_id, key, detail=detail)


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


def _cached(store: Any, key: str) -> dict[str, Any] | None:
    value = store.get(key)
    return None if value is None else dict(json.loads(value))


async def _run(payload: RemoteItem) -> dict[str, Any]:
    store = _redis(payload.redis_url)
    keys = redis_keys(payload.batch_id, payload.item.key, reruns=payload.reruns)
    worker = _state.name
    cached = _cached(store, keys.done)
    if cached is not None:
        return cached
    this = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def stop_here() -> None:  # the claim lapsed: another worker may take the item up, stop it here
        if this is not None:
            loop.call_soon_threadsafe(this.cancel)

    claim = ItemClaim(
        store=store, key=keys.lock, token=f"{worker}:{secrets.token_hex(4)}", ttl_s=payload.lock_s,
        on_lost=stop_here,
    )  # fmt: skip
    if not claim.acquire():
        return {"status": "busy", "worker": worker}
    try:
        # Another worker may have finished the item between the first look and the claim.
        cached = _cached(store, keys.done)
        if cached is not None:
            return cached
        return await _run_claimed(payload, store, worker)
    except asyncio.CancelledError:
        if not claim.lost or this is None:
            raise
        this.uncancel()
        return {"status": "interrupted", "worker": worker}
    finally:
        claim.release()


async def _run_claimed(payload: RemoteItem, store: Any, worker: str) -> dict[str, Any]:
    """Run an item this worker holds the claim on, in a scratch journal of its own."""
    from operator_agent.batch.runner import BatchRunner

    keys = redis_keys(payload.batch_id, payload.item.key, reruns=payload.reruns)
    # A message seen before (its worker died) is checked on the site before anything runs, and the
    # attempts made by dead workers count.
    check_first = payload.check_first or store.get(keys.started) is not None
    store.set(keys.started, started_mark(dispatch=payload.dispatch, worker=worker), ex=_DONE_TTL_S)
    item = payload.item
    counted = int(store.get(keys.attempts) or 0)
    if counted > item.attempts:
        item = item.model_copy(update={"attempts": counted})
    task = _task(payload.task)
    journal = _ScratchJournal(
        path=_state.folder / "worker-journal.db", store=store, attempts_key=keys.attempts
    )
    scratch = f"{payload.batch_id}::{item.key}"
    journal.create_batch(scratch, task=task.name, mode=payload.mode)
    adopt(journal, scratch, item, check_first=check_first)
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
    final: ItemRecord = journal.item(scratch, item.key)
    if final.state not in FINAL_STATES:
        return {"status": "interrupted", "worker": worker}
    history = [e.model_dump(mode="json") for e in run_history(journal, scratch, item.key)]
    result = {"status": "done", "worker": worker, "record": final.model_dump(mode="json"), "history": history}
    store.set(keys.done, json.dumps(result), ex=_DONE_TTL_S)
    return result


def run_item(payload: dict[str, Any]) -> dict[str, Any]:
    """The Celery task: run one batch item on this worker and return its outcome."""
    item = RemoteItem.model_validate(payload)
    _log.info("worker runs item", batch_id=item.batch_id, key=item.item.key, worker=_state.name)
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
        # A message is acknowledged when its item is finished, not when it is received; a pool
        # child that dies in the middle of an item gets its message put back in the queue.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message reserved at a time: a busy worker does not hold items back from idle ones,
        # and a worker that dies strands one item at most.
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # A message whose whole worker vanished comes back only after this; the coordinator does
        # not wait for it (it sends the item again once the worker's claim lapsed). It must exceed
        # any item's run, or Redis hands a running item's message to a second worker (which finds
        # the item claimed and says so).
        broker_transport_options={"visibility_timeout": visibility},
        result_expires=_DONE_TTL_S,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    celery.task(name=RUN_ITEM)(run_item)
    return celery


app = create_app()
