"""The review queue, KPIs, the drift alert, the HTML/JSON report and the shadow comparison."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from operator_agent.batch import (
    Journal,
    ReviewQueue,
    batch_kpis,
    compare_batches,
    compare_shadow,
    load_items,
    write_report,
)
from operator_agent.batch.kpis import percentile
from operator_agent.batch.shadow import normalise
from operator_agent.errors import BatchError, ConfigurationError, ReviewConflictError, UnknownBatchItemError


def _batch(journal: Journal, batch_id: str, outcomes: dict[str, str], *, mode: str = "live") -> None:
    """A finished batch: ``outcomes`` maps each key to completed / failed / needs_review / pending."""
    journal.create_batch(batch_id, task="invoices", mode=mode)  # type: ignore[arg-type]
    journal.add_items(batch_id, load_items([{"key": k} for k in outcomes], key="key"))
    for n, (key, state) in enumerate(outcomes.items()):
        if state == "pending":
            continue
        journal.claim_key(batch_id, key, owner="h:1", lease_s=60)
        journal.start_attempt(batch_id, key)
        review = {"failed": "retries_exhausted", "needs_review": "rejected_by_site"}.get(state)
        journal.finish(
            batch_id, key, state=state, reason=f"{state} reason", output={"n": n} if state != "failed" else None,
            error="Unknown vendor" if state == "needs_review" else ("503" if state == "failed" else ""),
            error_kind={"failed": "SiteError", "needs_review": "ItemRejectedError"}.get(state, ""),
            review_reason=review, work_s=float(n + 1),  # type: ignore[arg-type]
            usage={"requests": 2, "input_tokens": 100, "output_tokens": 10, "cost_usd": 0.01},
        )  # fmt: skip


def test_the_queue_lists_unresolved_items_and_resolutions_are_journalled(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "j.db")
    _batch(journal, "b", {"a": "completed", "b": "needs_review", "c": "failed", "d": "needs_review"})
    queue = ReviewQueue(journal=journal)
    assert [i.key for i in queue.list("b")] == ["b", "c", "d"]
    entry = queue.show("b", "b")
    text = entry.describe()
    assert "review reason: rejected_by_site" in text
    assert "error     : ItemRejectedError: Unknown vendor" in text
    accepted = queue.resolve("b", "b", resolution="accepted", by="dana", note="checked the PDF")
    assert (accepted.state, accepted.resolution, accepted.resolved_by) == ("completed", "accepted", "dana")
    retried = queue.resolve("b", "c", resolution="retry", by="dana", data={"key": "c", "vendor": "Acme"})
    assert (retried.state, retried.attempts, retried.data["vendor"]) == ("pending", 0, "Acme")
    skipped = queue.resolve("b", "d", resolution="skipped", by="lee", note="duplicate of last month")
    assert skipped.state == "needs_review"
    assert not skipped.in_review
    assert queue.list("b") == []
    events = [e for e in journal.events("b") if e.event == "resolved"]
    assert [(e.key, e.detail["resolution"], e.detail["by"]) for e in events] == [
        ("b", "accepted", "dana"), ("c", "retry", "dana"), ("d", "skipped", "lee"),
    ]  # fmt: skip


def test_resolutions_are_checked(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "j.db")
    _batch(journal, "b", {"a": "completed", "c": "failed", "d": "needs_review"})
    queue = ReviewQueue(journal=journal)
    with pytest.raises(
        ReviewConflictError, match=r"item 'a' of batch 'b' is completed, not waiting for review"
    ):
        queue.resolve("b", "a", resolution="done_manually", by="dana")
    with pytest.raises(ReviewConflictError, match=r"has no result to accept"):
        queue.resolve("b", "c", resolution="accepted", by="dana")
    with pytest.raises(ConfigurationError, match=r"skipping 'c' needs a note"):
        queue.resolve("b", "c", resolution="skipped", by="dana")
    with pytest.raises(ConfigurationError, match=r"corrected data can only come with a retry"):
        queue.resolve("b", "c", resolution="done_manually", by="dana", data={"x": 1})
    with pytest.raises(UnknownBatchItemError, match=r"has no item 'zz'"):
        queue.resolve("b", "zz", resolution="done_manually", by="dana")
    queue.resolve("b", "c", resolution="done_manually", by="dana", note="typed it in")
    with pytest.raises(ReviewConflictError, match=r"already resolved \(done_manually by dana\)"):
        queue.resolve("b", "c", resolution="done_manually", by="lee")


def test_the_journal_refuses_to_rerun_a_completed_item_and_keeps_events_append_only(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "j.db")
    _batch(journal, "b", {"a": "completed"})
    with (
        sqlite3.connect(journal.path) as conn,
        pytest.raises(sqlite3.IntegrityError, match="never run again"),
    ):
        conn.execute("UPDATE items SET state = 'pending' WHERE key = 'a'")
    with sqlite3.connect(journal.path) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM item_events")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(BatchError, match=r"SQLite database of something else \(tables: invoices\)"):
        Journal(path=other)


def test_kpis_count_outcomes_times_and_model_use(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "j.db")
    _batch(
        journal, "b", {"a": "completed", "b": "completed", "c": "needs_review", "d": "failed", "e": "pending"}
    )
    k = batch_kpis(journal, "b")
    assert (k.items, k.completed, k.needs_review, k.failed, k.left) == (5, 2, 1, 1, 1)
    assert (k.completion_rate, k.straight_through_rate, k.review_rate, k.error_rate) == (0.4, 0.4, 0.4, 0.2)
    assert k.review_reasons == {"rejected_by_site": 1, "retries_exhausted": 1}
    assert k.errors_by_kind == {"ItemRejectedError": 1, "SiteError": 1}
    assert (k.time_p50_s, k.time_p95_s) == (2.5, 3.85)
    assert (k.model_requests, k.model_requests_per_item, k.tokens_per_item) == (8, 1.6, 88.0)
    assert k.cost_usd == pytest.approx(0.04)
    assert k.cost_per_item_usd == pytest.approx(0.008)
    ReviewQueue(journal=journal).resolve("b", "c", resolution="accepted", by="dana")
    k = batch_kpis(journal, "b")
    assert (k.completed, k.completed_without_person, k.straight_through_rate) == (3, 2, 0.4)


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([4.0], 0.95) == 4.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5


def test_a_drop_in_completion_raises_the_drift_alert(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "j.db")
    _batch(journal, "2026-08", dict.fromkeys("abcdefghij", "completed"))
    _batch(journal, "2026-09", {**dict.fromkeys("abcdefghi", "completed"), "j": "needs_review"})
    _batch(
        journal,
        "2026-10",
        {**dict.fromkeys("abcdefg", "completed"), "h": "failed", "i": "failed", "j": "failed"},
    )
    calm = compare_batches(journal, "2026-09", alert_below=0.85)
    assert calm.alerts == []
    assert [b.batch_id for b in calm.earlier] == ["2026-08"]
    drift = compare_batches(journal, "2026-10", alert_below=0.85, drift_tolerance=0.1)
    assert drift.completion_rate_change == pytest.approx(-0.25)
    assert drift.alerts == [
        "completion rate 70.0% is below the threshold of 85.0%",
        "completion rate dropped by 25.0% against the mean of the last 2 batches (95.0%): accuracy drift; "
        "check the site and the input",
    ]


def test_the_report_is_json_and_one_self_contained_html_page(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "j.db")
    _batch(journal, "2026-09", dict.fromkeys("abcd", "completed"))
    _batch(journal, "2026-10", {"a": "completed", "b": "needs_review", "c": "failed", "d": "completed"})
    json_path, html_path, report = write_report(journal, "2026-10", folder=tmp_path / "out", alert_below=0.9)
    payload = json.loads(json_path.read_text())
    assert payload["kpis"]["completion_rate"] == 0.5
    assert payload["alerts"][0] == "completion rate 50.0% is below the threshold of 90.0%"
    assert [r["key"] for r in payload["review"]] == ["b", "c"]
    html = html_path.read_text()
    assert html.count("<svg") == 5, "outcomes, time histogram, review reasons, errors, trend"
    assert 'role="alert"' in html
    assert "Completion rate by batch" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html), "no external asset"
    assert "<script" not in html
    assert report.kpis.batch_id == "2026-10"


def test_shadow_results_are_compared_with_human_results_after_normalising(tmp_path: Path) -> None:
    journal = Journal(path=tmp_path / "j.db")
    journal.create_batch("s", task="invoices", mode="shadow")
    journal.add_items("s", load_items([{"key": k} for k in ("A", "B", "C")], key="key"))
    captured = {
        "A": {"number": "A", "vendor": "Acme GmbH", "line_unit_price": "1,250.50", "due_date": "31/10/2026"},
        "B": {"number": "B", "vendor": "Globex", "line_unit_price": "99.00", "due_date": "30/11/2026"},
    }
    for key, values in captured.items():
        journal.claim_key("s", key, owner="h:1", lease_s=60)
        journal.finish(
            "s", key, state="completed", reason="shadow", output={"shadow": True, "would_submit": values}
        )
    reference = [
        {"invoice": "A", "vendor": "ACME  GmbH", "amount": "1250.5", "due": "2026-10-31"},
        {"invoice": "B", "vendor": "Globex", "amount": "98.00", "due": "2026-11-30"},
        {"invoice": "C", "vendor": "Initech", "amount": "5", "due": "2026-11-30"},
    ]
    result = compare_shadow(
        journal, "s", reference=reference, key="invoice",
        fields={"vendor": "vendor", "amount": "line_unit_price", "due": "due_date"},
    )  # fmt: skip
    assert (result.compared, result.matched, result.agreement_rate) == (2, 1, 0.5)
    assert result.mismatches == [
        {"key": "B", "differences": {"amount": {"machine": "99.00", "reference": "98.00"}}}
    ]
    assert result.missing == ["C"]
    assert result.extra == []


def test_normalise() -> None:
    assert normalise(" 1,250.50 ") == normalise("1250.5") == "1250.5"
    assert normalise("31.10.2026") == normalise("2026-10-31") == "2026-10-31"
    assert normalise("ACME  GmbH") == "acme gmbh"
    assert normalise(None) == ""
