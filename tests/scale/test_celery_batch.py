"""A batch fanned out over two Celery worker processes with a real Redis broker on loopback.

Redis (Debian's ``redis-server``) is started on an ephemeral port for this module and stopped
afterwards (``tests/scale/conftest.py``); the tests are skipped, saying why, only when
``redis-server`` or Celery is missing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.batch_demo import sample_rows, write_csv
from operator_agent.batch import Journal, ReviewQueue, read_csv
from operator_agent.errors import MissingExtraError
from operator_agent.testing.backoffice import BackofficeSite, serve_backoffice
from tests.scale.workers import needs_broker, start_worker, stop_workers


@pytest.fixture(scope="module")
def scale_site() -> Iterator[BackofficeSite]:
    with serve_backoffice(invoice_count=30, seed=31) as site:
        yield site


@pytest.fixture(scope="module")
def workers(
    redis_url: str, scale_site: BackofficeSite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[subprocess.Popen[bytes]]]:
    folder = tmp_path_factory.mktemp("workers")
    started = [start_worker(f"w{n}", redis_url=redis_url, site=scale_site, folder=folder) for n in (1, 2)]
    yield started
    stop_workers(started)


@needs_broker
@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_two_workers_share_a_batch_and_enter_each_invoice_once(
    redis_url: str,
    scale_site: BackofficeSite,
    workers: list[subprocess.Popen[bytes]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from operator_agent.batch.remote import RUN_ITEM
    from operator_agent.batch.scale import CeleryBatchRunner

    monkeypatch.setenv("BACKOFFICE_URL", scale_site.url)
    vendors = [v.name for v in scale_site.data().vendors][:4]
    rows = sample_rows(vendors, count=6, bad=True, prefix="CEL")
    source = write_csv(tmp_path / "invoices.csv", rows)
    journal = Journal(path=tmp_path / "coordinator.db")
    runner = CeleryBatchRunner(
        task="examples.batch_demo:make_task",
        journal=journal,
        broker_url=redis_url,
        approval="approve",
        verify_completion=True,
        backoff_s=0.3,
        artifacts_dir=tmp_path / "artifacts",
        poll_s=0.2,
    )
    summary = await runner.run(read_csv(source, key="invoice_number"), batch_id="celery")

    assert all(w.poll() is None for w in workers), "both workers are still up"
    submitted = {e.invoice.number: e.count for e in scale_site.state().invoices.submitted}
    good = {row["invoice_number"] for row in rows if "BAD" not in row["invoice_number"]}
    assert submitted == dict.fromkeys(good, 1)
    assert summary.status == "finished"
    assert summary.counts["completed"] == 6
    items = journal.items("celery")
    by_worker = {i.artifacts.get("worker") for i in items if i.state == "completed"}
    assert len(by_worker) == 2, f"both worker processes took items: {by_worker}"
    review = {i.key: i.review_reason for i in ReviewQueue(journal=journal).list("celery")}
    assert review == {"CEL-BAD-VENDOR": "rejected_by_site", "CEL-BAD-AMOUNT": "invalid_input"}

    # A duplicate message for a finished item (a redelivery) gets the outcome back, and runs nothing.
    done = next(i for i in items if i.state == "completed")
    payload = runner._payload("celery", "live", done)
    again = runner._celery.send_task(RUN_ITEM, args=[payload]).get(timeout=60)
    assert again["status"] == "done"
    assert again["record"]["key"] == done.key
    assert {e.invoice.number: e.count for e in scale_site.state().invoices.submitted} == dict.fromkeys(
        good, 1
    )

    # A person corrects the vendor of the row the site refused and sends it back: it runs again on
    # a worker (the outcome of its first run, kept in Redis, is not taken for the new run).
    refused = next(row for row in rows if row["invoice_number"] == "CEL-BAD-VENDOR")
    ReviewQueue(journal=journal).resolve(
        "celery", "CEL-BAD-VENDOR", resolution="retry", by="dana", data={**refused, "vendor": vendors[0]}
    )
    resumed = await runner.resume("celery")
    assert resumed.status == "finished"
    assert journal.item("celery", "CEL-BAD-VENDOR").state == "completed"
    assert {e.invoice.number: e.count for e in scale_site.state().invoices.submitted} == dict.fromkeys(
        {*good, "CEL-BAD-VENDOR"}, 1
    )


def test_without_the_scale_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from operator_agent.batch.scale import CeleryBatchRunner, require_scale_extra

    monkeypatch.setitem(sys.modules, "celery", None)
    with pytest.raises(
        MissingExtraError, match=r"needs celery \(the 'scale' extra\): pip install 'operator-agent\[scale\]'"
    ):
        require_scale_extra()
    with pytest.raises(MissingExtraError):
        CeleryBatchRunner(task="examples.batch_demo:make_task", journal=":memory:", broker_url="redis://x")
