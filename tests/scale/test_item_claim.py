"""A worker's claim on an item (scale-out), against a real Redis: kept alive while the worker lives,
lapsed soon after it dies, never released or renewed by anyone else."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from operator_agent.batch._claim import ItemClaim
from operator_agent.errors import ConfigurationError
from tests.scale.workers import HAVE_CELERY, needs_broker

pytestmark = needs_broker


@pytest.fixture
def store(redis_url: str) -> Any:
    if not HAVE_CELERY:
        pytest.skip("needs the redis client (the 'scale' extra)")
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    return client


def _claim(store: Any, token: str, *, ttl_s: float = 0.6, lost: threading.Event | None = None) -> ItemClaim:
    flag = lost or threading.Event()
    return ItemClaim(store=store, key="claim:INV-1", token=token, ttl_s=ttl_s, on_lost=flag.set)


def test_a_living_worker_keeps_its_claim_and_nobody_else_takes_it(store: Any) -> None:
    first = _claim(store, "w1")
    assert first.acquire()
    try:
        time.sleep(1.5)  # well past the 0.6 s time to live: the heartbeat renewed it
        assert not _claim(store, "w2").acquire()
        assert store.get("claim:INV-1") == b"w1"
    finally:
        first.release()
    assert store.get("claim:INV-1") is None
    second = _claim(store, "w2")
    assert second.acquire()
    second.release()


def test_a_dead_workers_claim_lapses_and_another_worker_takes_the_item(store: Any) -> None:
    # What a worker killed with SIGKILL leaves behind: its claim, and nobody renewing it.
    store.set("claim:INV-1", "dead", px=600)
    late = _claim(store, "w2")
    assert not late.acquire()
    time.sleep(0.8)
    assert late.acquire()
    late.release()


def test_a_claim_lost_under_a_living_worker_is_reported_and_never_taken_back(store: Any) -> None:
    lost = threading.Event()
    claim = _claim(store, "w1", ttl_s=0.3, lost=lost)
    assert claim.acquire()
    store.set("claim:INV-1", "w2")  # another worker has it now
    assert lost.wait(timeout=2), "the worker learns that it lost its claim"
    assert claim.lost
    claim.release()
    assert store.get("claim:INV-1") == b"w2", "releasing leaves another worker's claim alone"


def test_a_claim_needs_a_positive_time_to_live(store: Any) -> None:
    with pytest.raises(ConfigurationError, match="ttl_s must be positive"):
        _claim(store, "w1", ttl_s=0)
