"""Helpers of the scale-out tests: a Redis server and Celery worker processes on loopback.

Redis is Debian's ``redis-server`` on an ephemeral port; each worker is a real
``celery -A operator_agent.batch.celery_app worker`` process in its own process group, with its own
scratch folder, logging to a file the tests can show when something goes wrong.
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
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest

from operator_agent.testing.backoffice import BackofficeSite

ROOT = Path(__file__).resolve().parents[2]
HAVE_REDIS = shutil.which("redis-server") is not None
HAVE_CELERY = importlib.util.find_spec("celery") is not None and importlib.util.find_spec("redis") is not None
needs_broker = pytest.mark.skipif(
    not (HAVE_REDIS and HAVE_CELERY),
    reason="needs redis-server (Debian package redis-server) and the 'scale' extra (celery, redis)",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Run a throw-away redis-server (no persistence) and yield its URL."""
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
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
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def start_worker(
    name: str,
    *,
    redis_url: str,
    site: BackofficeSite,
    folder: Path,
    pool: Literal["solo", "prefork"] = "solo",
) -> subprocess.Popen[bytes]:
    """Start one Celery batch worker; with ``prefork`` it runs its items in one pool child process.

    Its scratch journal is ``folder/<name>/worker-journal.db``; its log is ``folder/<name>.log``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(
        OPERATOR_AGENT_BROKER_URL=redis_url,
        OPERATOR_AGENT_WORKER_DIR=str(folder / name),
        BACKOFFICE_URL=site.url,
        BACKOFFICE_PDF_DIR=str(folder / "pdf"),
        PYTHONPATH=str(ROOT),
    )
    with (folder / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "operator_agent.batch.celery_app", "worker",
             "--pool", pool, "--concurrency", "1", "--hostname", f"{name}@%h", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: the pool child and its browser included
        )  # fmt: skip


def stop_workers(processes: Iterable[subprocess.Popen[bytes]]) -> None:
    """Stop workers (warm shutdown), killing those that do not stop in time."""
    processes = list(processes)
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def pool_children(pid: int) -> list[int]:
    """The child processes of a process (a prefork worker's pool children), from ``/proc``."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (pool children, the Playwright driver, the browser's processes)."""
    found = []
    for child in pool_children(pid):
        found += [child, *descendants(child)]
    return found


def worker_logs(folder: Path) -> str:
    """The tail of every worker log in ``folder``, to explain a failure."""
    parts = []
    for log in sorted(folder.glob("*.log")):
        parts.append(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
    return "\n".join(parts)
