"""Celery workers die with SIGKILL in the middle of an item; the batch still enters each invoice once.

Two real prefork workers (one pool child each, which runs the items and drives the browser) share a
batch through a real Redis broker. While the batch runs, this test kills, with SIGKILL:

1. a worker's pool child after its attempt started but *before* the submission reached the site
   (the parent survives, Celery requeues the message);
2. a worker's pool child *after* the site accepted the invoice but before the worker recorded the
   outcome (an added latency on every request of the site widens that window);
3. a whole worker, parent, pool child and browser, as when its machine dies, once it has an
   approved irreversible step in flight; it is then started again.

The truth is read from the site's own server state: every invoice submitted exactly once, none
lost. The coordinator's journal shows every item completed, the attempts the dead workers made
counted, and, before any retry, the idempotency check on the site: it finds the invoice entered
before the second kill, so that item ends completed without a second submission.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from examples.batch_demo import sample_rows, write_csv
from operator_agent.batch import ItemRecord, Journal, read_csv
from operator_agent.batch.remote import redis_keys
from operator_agent.testing.backoffice import BackofficeSite, FaultConfig, serve_backoffice
from tests.scale.workers import (
    descendants,
    needs_broker,
    pool_children,
    start_worker,
    stop_workers,
    worker_logs,
)

BATCH = "deaths"
COUNT = 8
CLAIM_TTL_S = 3.0
# Every request of the site waits this long first: the browser's next request after the submission
# (the invoice's page) is held back, which keeps the worker from recording the outcome for a while.
LATENCY = FaultConfig(latency_ms=(250, 250))


@pytest.fixture(scope="module")
def death_site() -> Iterator[BackofficeSite]:
    with serve_backoffice(invoice_count=30, seed=41) as site:
        yield site


@dataclass
class _Fleet:
    """The worker processes of the test, by name, and where they keep their scratch journals."""

    redis_url: str
    site: BackofficeSite
    folder: Path
    processes: dict[str, subprocess.Popen[bytes]]
    journals: dict[str, Journal] = field(default_factory=dict)

    def start(self, name: str) -> None:
        self.processes[name] = start_worker(
            name, redis_url=self.redis_url, site=self.site, folder=self.folder, pool="prefork"
        )

    def scratch(self, name: str) -> list[ItemRecord]:
        """The items this worker has in its scratch journal (one scratch batch per item it took)."""
        path = self.folder / name / "worker-journal.db"
        if not path.exists():
            return []
        try:
            journal = self.journals.get(name) or self.journals.setdefault(name, Journal(path=path))
            return [
                journal.item(b.id, b.id.split("::", 1)[1])
                for b in journal.batches()
                if b.id.startswith(f"{BATCH}::")
            ]
        except Exception:  # the worker may be creating its journal right now
            return []


@dataclass(frozen=True)
class _Kill:
    key: str
    worker: str
    pid: int
    submitted: int
    outcome_recorded: bool


@pytest.fixture
def fleet(
    redis_url: str, death_site: BackofficeSite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[_Fleet]:
    crew = _Fleet(
        redis_url=redis_url, site=death_site, folder=tmp_path_factory.mktemp("workers"), processes={}
    )
    for name in ("w1", "w2"):
        crew.start(name)
    yield crew
    stop_workers(crew.processes.values())


def _submitted(site: BackofficeSite) -> dict[str, int]:
    return {e.invoice.number: e.count for e in site.state().invoices.submitted}


def _kill_mid_item(
    fleet: _Fleet,
    store: Any,
    *,
    ready: Callable[[ItemRecord, int], bool],
    whole_worker: bool,
    spare: set[str],
    timeout_s: float,
) -> _Kill:
    """Wait until some worker's item is at the kill point, then SIGKILL the process that runs it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        submitted = _submitted(fleet.site)
        for name, process in fleet.processes.items():
            for record in fleet.scratch(name):
                if record.key in spare or record.state != "running":
                    continue
                if not ready(record, submitted.get(record.key, 0)):
                    continue
                children = pool_children(process.pid)
                assert len(children) == 1, f"worker {name} has one pool child: {children}"
                if whole_worker:  # everything dies at once, the browser (its own process group) too
                    for pid in [process.pid, *descendants(process.pid)]:
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)
                    process.wait(timeout=30)
                else:
                    os.kill(children[0], signal.SIGKILL)
                done = store.get(redis_keys(BATCH, record.key).done) is not None
                return _Kill(
                    key=record.key,
                    worker=name,
                    pid=children[0],
                    submitted=_submitted(fleet.site).get(record.key, 0),
                    outcome_recorded=done,
                )
        time.sleep(0.05)
    raise AssertionError(f"the kill point was never reached\n{worker_logs(fleet.folder)}")


@needs_broker
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_workers_killed_mid_item_still_enter_each_invoice_exactly_once(
    redis_url: str, death_site: BackofficeSite, fleet: _Fleet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    from operator_agent.batch.scale import CeleryBatchRunner

    site = death_site
    monkeypatch.setenv("BACKOFFICE_URL", site.url)
    vendors = [v.name for v in site.data().vendors][:6]
    rows = sample_rows(vendors, count=COUNT, bad=False, prefix="DIE")
    source = write_csv(tmp_path / "invoices.csv", rows)
    journal = Journal(path=tmp_path / "coordinator.db")
    runner = CeleryBatchRunner(
        task="examples.batch_demo:make_task",
        journal=journal,
        broker_url=redis_url,
        approval="approve",
        verify_completion=True,
        max_attempts=4,
        backoff_s=0.2,
        item_timeout_s=60,
        artifacts_dir=tmp_path / "artifacts",
        poll_s=0.2,
        claim_ttl_s=CLAIM_TTL_S,
    )
    store = redis.Redis.from_url(redis_url)
    started = time.monotonic()
    site.set_faults(LATENCY)
    batch = asyncio.create_task(runner.run(read_csv(source, key="invoice_number"), batch_id=BATCH))
    try:
        killed: set[str] = set()
        # 1. A pool child, once its attempt started, before anything reached the site.
        before = await asyncio.to_thread(
            _kill_mid_item, fleet, store, whole_worker=False, spare=killed, timeout_s=60,
            ready=lambda record, submitted: record.attempts >= 1 and record.irreversible_at is None
            and submitted == 0,
        )  # fmt: skip
        killed.add(before.key)
        # 2. A pool child after the site accepted the invoice, before the outcome was recorded.
        after = await asyncio.to_thread(
            _kill_mid_item, fleet, store, whole_worker=False, spare=killed, timeout_s=60,
            ready=lambda record, submitted: submitted == 1,
        )  # fmt: skip
        killed.add(after.key)
        # 3. A whole worker (its machine died) with an approved irreversible step in flight.
        machine = await asyncio.to_thread(
            _kill_mid_item, fleet, store, whole_worker=True, spare=killed, timeout_s=60,
            ready=lambda record, submitted: record.irreversible_at is not None,
        )  # fmt: skip
        killed.add(machine.key)
        site.set_faults(None)
        fleet.start(machine.worker)
        summary = await asyncio.wait_for(batch, timeout=150)
    finally:
        site.set_faults(None)
        if not batch.done():
            batch.cancel()
            await asyncio.gather(batch, return_exceptions=True)
    took = time.monotonic() - started

    logs = worker_logs(fleet.folder)
    assert (before.submitted, before.outcome_recorded) == (0, False), before
    assert (after.submitted, after.outcome_recorded) == (1, False), after
    assert not machine.outcome_recorded, machine
    survivors = [n for n in ("w1", "w2") if n != machine.worker]
    assert all(fleet.processes[n].poll() is None for n in survivors), "killing a pool child spares its worker"

    # The server's truth: every invoice submitted exactly once, nothing lost, nothing else.
    expected = {row["invoice_number"] for row in rows}
    assert _submitted(site) == dict.fromkeys(expected, 1), logs
    # The coordinator's journal agrees.
    assert summary.status == "finished", logs
    items = {i.key: i for i in journal.items(BATCH)}
    assert {k: i.state for k, i in items.items()} == dict.fromkeys(expected, "completed"), logs
    for kill in (before, after, machine):
        assert items[kill.key].attempts >= 2, f"the dead worker's attempt is counted: {items[kill.key]}"
    assert items[after.key].recovered, (
        "the invoice entered before the kill was found by the idempotency check"
    )
    assert not items[before.key].recovered, "the invoice killed before its submission was entered afterwards"
    # The history shows the check on the site before anything was retried, and what it found.
    for kill, found in ((before, False), (after, True), (machine, None)):
        history = [
            e for e in journal.events(BATCH, key=kill.key) if e.event in ("attempt", "idempotency_check")
        ]
        assert history, f"the coordinator's journal keeps the worker's history of {kill.key}"
        check = next(e for e in history if e.event == "idempotency_check")
        assert check.detail["how"] == "interrupted run", history
        assert found is None or check.detail["done"] is found, history
        assert history.index(check) <= 1, f"the check came before any new work: {history}"
    assert took < 150, f"the batch took {took:.0f}s"
