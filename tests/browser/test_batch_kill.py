"""A batch killed with SIGKILL at six different points, then resumed: every invoice entered exactly once.

The batch runs in a subprocess (the ``operator-agent batch`` command) against a back office served by
this test process, which watches the journal and kills the subprocess's whole process group (Python,
the Playwright driver and Chromium, as a crash would) at moments chosen to hurt: during start-up,
right after an irreversible step was approved and before its click could finish, and between items.
The truth is read from the site's own server state.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from examples.batch_demo import sample_rows, write_csv
from operator_agent.batch import Journal
from operator_agent.testing.backoffice import BackofficeSite, serve_backoffice

ROOT = Path(__file__).resolve().parents[2]
COUNT = 10
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def kill_site() -> Iterator[BackofficeSite]:
    with serve_backoffice(invoice_count=30, seed=11) as site:
        yield site


def _command(journal: Path, csv_path: Path, *, first: bool) -> list[str]:
    head = [sys.executable, "-m", "operator_agent.batch.cli", "batch"]
    if first:
        head += ["run", "--input", str(csv_path), "--key", "invoice_number", "--batch-id", "kill"]
    else:
        head += ["resume", "kill"]
    return [
        *head,
        "--task", "examples.batch_demo:make_task",
        "--journal", str(journal),
        "--concurrency", "2",
        "--max-attempts", "8",
        "--backoff", "0.2",
        "--approval", "approve-all",
        "--no-progress",
    ]  # fmt: skip


def _events(journal: Path) -> list[str]:
    if not journal.exists():
        return []
    try:
        return [e.event for e in Journal(path=journal).events("kill")]
    except Exception:  # the subprocess may be creating the schema right now
        return []


def _completed(journal: Path) -> int:
    return sum(1 for e in _events(journal) if e == "completed")


def _launch(
    journal: Path, csv_path: Path, site: BackofficeSite, *, first: bool, log: Path
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["BACKOFFICE_URL"] = site.url
    env["BACKOFFICE_PDF_DIR"] = str(journal.parent / "pdf")
    env["PYTHONPATH"] = str(ROOT)
    with log.open("ab") as out:
        return subprocess.Popen(
            _command(journal, csv_path, first=first),
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # its own process group: the kill takes Chromium down with it
        )


def _kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if ready():
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
            return True
        time.sleep(0.05)
    raise AssertionError("the kill point was never reached")


def test_batch_killed_at_six_points_enters_every_invoice_exactly_once(
    kill_site: BackofficeSite, tmp_path: Path
) -> None:
    site = kill_site
    vendors = [v.name for v in site.data().vendors][:6]
    rows = sample_rows(vendors, count=COUNT, bad=False, prefix="KILL")
    csv_path = write_csv(tmp_path / "invoices.csv", rows)
    journal = tmp_path / "journal.db"
    log = tmp_path / "batch.log"
    started_at = time.monotonic()

    def approvals() -> int:
        return sum(1 for e in _events(journal) if e == "irreversible_approved")

    kill_points: list[tuple[str, Callable[[], bool]]] = [
        ("during start-up, before any item ran", lambda: time.monotonic() - launched > 1.5),
        ("right after the first irreversible approval", lambda: approvals() >= 1),
        ("with two invoices done", lambda: _completed(journal) >= 2),
        ("right after another irreversible approval", lambda: approvals() >= approvals_before + 1),
        ("with five invoices done", lambda: _completed(journal) >= 5),
        ("right after a later irreversible approval", lambda: approvals() >= approvals_before + 1),
    ]
    killed = []
    first = True
    process: subprocess.Popen[bytes] | None = None
    try:
        for label, ready in kill_points:
            approvals_before = approvals()
            launched = time.monotonic()
            process = _launch(journal, csv_path, site, first=first, log=log)
            first = first and "batch_created" not in _events(journal)
            if _kill_when(process, ready, timeout_s=150):
                killed.append(label)
        assert len(killed) >= 5, f"only {len(killed)} kills landed: {killed}\n{log.read_text()[-3000:]}"

        # The last run goes to the end.
        first = "batch_created" not in _events(journal)
        process = _launch(journal, csv_path, site, first=first, log=log)
        assert process.wait(timeout=240) == 0, log.read_text()[-4000:]
    finally:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    # The server's truth: every invoice submitted exactly once, nothing else submitted.
    submitted = {e.invoice.number: e.count for e in site.state().invoices.submitted}
    expected = {row["invoice_number"] for row in rows}
    assert {n: submitted.get(n, 0) for n in expected} == dict.fromkeys(expected, 1)
    assert set(submitted) == expected
    # The journal agrees, and shows the crash recovery at work.
    record = Journal(path=journal)
    items = record.items("kill")
    assert {i.key: i.state for i in items} == dict.fromkeys(expected, "completed")
    events = [e.event for e in record.events("kill")]
    assert events.count("orphaned") >= 3, "interrupted items are handed back after each kill"
    assert "idempotency_check" in events, "interrupted items are checked on the site before a retry"
    assert time.monotonic() - started_at < 600
