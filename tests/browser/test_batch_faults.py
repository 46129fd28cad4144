"""Fifty invoices against a faulty back office: 5xx answers, latency, interstitial modals and session
expiry. Every good invoice is submitted exactly once, none is lost, and the bad rows end in review
with the back office's own words, without stopping the batch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.batch_demo import make_task, sample_rows, write_csv
from operator_agent.batch import BatchRunner, ReviewQueue, batch_kpis, read_csv
from operator_agent.browser import BrowserSession
from operator_agent.guardrails import PolicyApprover
from operator_agent.testing.backoffice import BackofficeSite, FaultConfig, serve_backoffice

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
GOOD = 50
FAULTS = FaultConfig(
    seed=5, latency_ms=(10, 120), error_rate=0.04, interstitial_rate=0.12, session_expiry_after=100
)


@pytest.fixture(scope="module")
def faulty_site() -> Iterator[BackofficeSite]:
    with serve_backoffice(invoice_count=40, seed=23, faults=FAULTS) as site:
        yield site


async def test_fifty_invoices_on_a_faulty_site_are_each_submitted_exactly_once(
    faulty_site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    site = faulty_site
    vendors = [v.name for v in site.data().vendors][:8]
    rows = sample_rows(vendors, count=GOOD, bad=True, prefix="FLT")
    rows.append({**rows[2], "invoice_number": "FLT-NO-DATE", "due_date": ""})
    source = write_csv(tmp_path / "month-end.csv", rows)
    runner = BatchRunner(
        task=make_task(site.url, pdf_dir=tmp_path / "pdf"),
        journal=tmp_path / "journal.db",
        concurrency=3,
        max_attempts=4,
        backoff_s=0.3,
        max_backoff_s=2.0,
        approver=PolicyApprover(mode="approve"),
        browser=browser_session,
        verify_completion=True,
        progress=None,
    )
    summary = await runner.run(read_csv(source, key="invoice_number"), batch_id="faulty")

    state = site.state()
    submitted = {e.invoice.number: e.count for e in state.invoices.submitted}
    good = {row["invoice_number"] for row in rows[:GOOD]}
    assert {n: submitted.get(n, 0) for n in good} == dict.fromkeys(good, 1), "each exactly once, none lost"
    assert set(submitted) == good, "no bad row was submitted"
    # The faults really happened.
    kinds = {event.kind for event in state.fault_events}
    assert {"error", "interstitial", "session_expired"} <= kinds
    assert sum(1 for login in state.logins if login.outcome == "success") >= 2, "signed in again after expiry"

    assert summary.status == "finished"
    assert summary.counts["completed"] == GOOD
    review = {item.key: item for item in ReviewQueue(journal=runner.journal).list("faulty")}
    assert set(review) == {"FLT-BAD-VENDOR", "FLT-BAD-AMOUNT", "FLT-NO-DATE"}
    assert review["FLT-BAD-VENDOR"].review_reason == "rejected_by_site"
    assert "Unknown vendor “Nonexistent Supplies Ltd”" in review["FLT-BAD-VENDOR"].reason
    assert review["FLT-BAD-AMOUNT"].review_reason == "invalid_input"
    assert "unit_price: Input should be greater than 0" in review["FLT-BAD-AMOUNT"].reason
    assert "due_date" in review["FLT-NO-DATE"].reason
    kpis = batch_kpis(runner.journal, "faulty")
    assert kpis.retried >= 1, "transient faults were retried"
    assert kpis.completion_rate == pytest.approx(GOOD / len(rows), abs=1e-4)
