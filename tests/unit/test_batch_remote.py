"""Scale-out bookkeeping without a broker: a worker adopts an item, the coordinator merges the outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from operator_agent.batch import Journal, load_items
from operator_agent.batch._journal_remote import adopt, merge_remote
from operator_agent.batch.remote import RemoteItem, redis_keys
from operator_agent.errors import BatchError


def test_an_item_travels_to_a_worker_and_its_outcome_comes_back(tmp_path: Path) -> None:
    coordinator = Journal(path=tmp_path / "coordinator.db")
    coordinator.create_batch("b", task="invoices")
    coordinator.add_items("b", load_items([{"key": "INV-1"}], key="key"))
    claimed = coordinator.claim_key("b", "INV-1", owner="host:1:celery", lease_s=60)
    assert claimed is not None
    payload = RemoteItem(batch_id="b", task="m:t", item=claimed, check_first=True, redis_url="redis://x")
    sent = RemoteItem.model_validate(payload.model_dump(mode="json"))

    worker = Journal(path=tmp_path / "worker.db")
    worker.create_batch("b::INV-1", task="invoices")
    adopt(worker, "b::INV-1", sent.item, check_first=sent.check_first)
    copy = worker.item("b::INV-1", "INV-1")
    assert (copy.state, copy.needs_check) == ("pending", True)
    worker.claim_key("b::INV-1", "INV-1", owner="w:2", lease_s=60)
    worker.start_attempt("b::INV-1", "INV-1")
    worker.note_approval("b::INV-1", "INV-1", approved=True, human=True, wait_s=2.0, irreversible=True)
    finished = worker.finish("b::INV-1", "INV-1", state="completed", reason="entered", output={"id": 7},
                             work_s=3.5, usage={"requests": 1, "input_tokens": 10})  # fmt: skip

    merged = merge_remote(coordinator, "b", finished, worker="w:2")
    assert (merged.state, merged.output, merged.attempts, merged.human_approvals) == (
        "completed",
        {"id": 7},
        1,
        1,
    )
    assert merged.work_s == 3.5
    assert merged.artifacts["worker"] == "w:2"
    assert merged.irreversible_at is not None
    assert coordinator.counts("b")["running"] == 0
    with pytest.raises(BatchError, match="not a final one"):
        merge_remote(coordinator, "b", copy, worker="w:2")


def test_redis_keys_are_per_batch_and_item() -> None:
    keys = redis_keys("2026-10", "INV-1")
    assert keys.lock == "operator-agent:batch:2026-10:item:INV-1:lock"
    assert len({keys.lock, keys.started, keys.done}) == 3
    assert redis_keys("2026-11", "INV-1").done != keys.done
