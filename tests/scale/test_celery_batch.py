"""A batch fanned out over two Celery worker processes with a real Redis broker on loopback.

Redis (Debian's ``redis-server``) is started on an ephemeral port for this module and stopped
afterwards; the tests are skipped, saying why, only when ``redis-server`` or Celery is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples.batch_demo import sample_rows, write_csv
from operator_agent.batch import Journal, ReviewQueue, read_csv
from operator_agent.errors import MissingExtraError
from operator_agent.testing.backoffice import BackofficeSite, serve_backoffice

ROOT = Path(__file__).resolve().parents[2]
HAVE_REDIS = shutil.which("redis-server") is not None
HAVE_CELERY = importlib.util.find_spec("celery") is not None and importlib.util.find_spec("redis") is not None
needs_broker = pytest.mark.skipif(
    not (HAVE_REDIS and HAVE_CELERY),
    reason="needs redis-server (Debian package redis-server) and the 'scale' extra (celery, redis)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    folder = tmp_path_factory.mktemp("redis")
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.1)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=15)


@pytest.fixture(scope="module")
def scale_site() -> Iterator[BackofficeSite]:
    with serve_backoffice(invoice_count=30, seed=31) as site:
        yield site


@pytest.fixture(scope="module")
def workers(
    redis_url: str, scale_site: BackofficeSite, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[subprocess.Popen[bytes]]]:
    folder = tmp_path_factory.mktemp("workers")
    started = []
    for n in (1, 2):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env.update(
            OPERATOR_AGENT_BROKER_URL=redis_url,
            OPERATOR_AGENT_WORKER_DIR=str(folder / f"w{n}"),
            BACKOFFICE_URL=scale_site.url,
            BACKOFFICE_PDF_DIR=str(folder / "pdf"),
            PYTHONPATH=str(ROOT),
        )
        log = (folder / f"w{n}.log").open("wb")
        started.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "operator_agent.batch.celery_app",
                    "worker",
                    "--pool",
                    "solo",
                    "--hostname",
                    f"w{n}@%h",
                    "--loglevel",
                    "WARNING",
                    "--without-gossip",
                    "--without-mingle",
                ],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        )
    yield started
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


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


def test_without_the_scale_extra_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from operator_agent.batch.scale import CeleryBatchRunner, require_scale_extra

    monkeypatch.setitem(sys.modules, "celery", None)
    with pytest.raises(
        MissingExtraError, match=r"needs celery \(the 'scale' extra\): pip install 'operator-agent\[scale\]'"
    ):
        require_scale_extra()
    with pytest.raises(MissingExtraError):
        CeleryBatchRunner(task="examples.batch_demo:make_task", journal=":memory:", broker_url="redis://x")
