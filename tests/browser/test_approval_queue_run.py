"""A run waits on the durable approval queue while a person decides from the CLI in another process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from operator_agent import Agent, ApprovalQueue, BrowserSession, QueueApprover, ScriptedModel, tool_call
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "agent"


@pytest.fixture(scope="module")
def pages() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "operator_agent.cli", "approvals", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


async def _decide_from_another_process(queue: Path, verdict: str, *extra: str) -> dict[str, object]:
    for _ in range(200):
        listed = await asyncio.to_thread(_cli, "list", "--queue", str(queue), "--json")
        if listed.returncode == 0:
            pending = json.loads(listed.stdout)
            items = pending["requests"] if isinstance(pending, dict) else pending
            if items:
                item = items[0]
                done = await asyncio.to_thread(
                    _cli, verdict, item["id"], "--queue", str(queue), "--by", "dana", *extra
                )
                assert done.returncode == 0, done.stderr
                return dict(item)
        await asyncio.sleep(0.2)
    raise AssertionError("the run never queued a request")


@pytest.mark.parametrize(("verdict", "expected"), [("approve", "1"), ("deny", "0")])
async def test_run_waits_for_a_decision_made_with_the_cli(
    browser_session: BrowserSession, tmp_path: Path, pages: LocalServer, verdict: str, expected: str
) -> None:
    queue_path = tmp_path / "approvals.sqlite"
    queue = ApprovalQueue(path=queue_path, poll_interval_s=0.1, timeout_s=120)
    model = ScriptedModel(
        [
            tool_call("click", ref="e1", irreversible=True, reason="count up"),
            lambda r: tool_call("done", output=r.messages[-1].content.split("Count: ")[1][:1]),
        ]
    )
    agent = Agent(
        model=model, browser=browser_session, approver=QueueApprover(queue=queue), trace_dir=tmp_path
    )
    extra = ("--reason", "not this month") if verdict == "deny" else ()
    run, item = await asyncio.gather(
        agent.run("count", start_url=pages.url + "/index.html"),
        _decide_from_another_process(queue_path, verdict, *extra),
    )
    assert run.status == "completed", run.reason
    assert run.output == expected
    assert 'button "Increment"' in str(item)
    if verdict == "deny":
        feedback = next(m.content for m in model.calls[1].messages if m.role == "tool")
        assert "not this month" in feedback
        assert "dana" in feedback
    else:
        assert queue.get(str(item["id"])).executed
