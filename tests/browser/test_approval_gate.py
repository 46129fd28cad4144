"""Approvals are bound to the exact action: a value changed after approval needs a new approval,
an approved action runs once, and every step is in the run's audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from operator_agent import Agent, ApprovalRequest, BrowserSession, CallbackApprover, ScriptedModel, tool_call
from operator_agent.testing.outline import find_ref
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "agent"


@pytest.fixture(scope="module")
def pages() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


async def test_value_changed_after_approval_needs_a_new_approval(
    browser_session: BrowserSession, tmp_path: Path, pages: LocalServer
) -> None:
    requests: list[ApprovalRequest] = []

    async def approve(request: ApprovalRequest) -> bool:
        requests.append(request)
        if len(requests) == 1:
            # While the first request waits, the page changes what the form would submit.
            page = browser_session.contexts[-1].page
            await page.fill("#city", "Lyon")
        return True

    model = ScriptedModel(
        [
            lambda r: [
                tool_call("fill", ref=find_ref(r, "Name"), text="Ada"),
                tool_call("fill", ref=find_ref(r, "City"), text="Paris"),
                tool_call("click", ref=find_ref(r, "Greet"), irreversible=True, reason="send greeting"),
            ],
            lambda r: tool_call("done", output=r.messages[-1].content.split("Hello, ")[1].split("\n")[0]),
        ]
    )
    agent = Agent(
        model=model, browser=browser_session, approver=CallbackApprover(approve), trace_dir=tmp_path
    )
    result = await agent.run("greet", start_url=pages.url + "/index.html")

    assert result.status == "completed", result.reason
    assert [r.values for r in requests] == [{"name": "Ada", "city": "Paris"}, {"name": "Ada", "city": "Lyon"}]
    assert result.output == "Ada"  # the greeting was sent once, after the second approval

    assert result.trace_dir is not None
    events = [json.loads(line) for line in (result.trace_dir / "audit.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == [
        "requested",
        "approved",
        "refused",
        "requested",
        "approved",
        "executed",
    ]
    assert events[2]["reason"] == "changed after approval"
    assert events[0]["fingerprint"] != events[3]["fingerprint"]
    assert events[3]["fingerprint"] == events[5]["fingerprint"]


async def test_password_values_are_masked_in_the_request(
    browser_session: BrowserSession, tmp_path: Path, pages: LocalServer
) -> None:
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "pw.html").write_text(
        "<form onsubmit='event.preventDefault()'><label>User <input name=user></label>"
        "<label>Password <input type=password name=pw></label><button>Transfer</button></form>"
    )
    seen: list[ApprovalRequest] = []
    model = ScriptedModel(
        [
            lambda r: [
                tool_call("fill", ref=find_ref(r, "User"), text="ops"),
                tool_call("fill", ref=find_ref(r, "Password"), secret="pw"),
                tool_call("click", ref=find_ref(r, "Transfer"), irreversible=True),
            ],
            tool_call("done", output="ok"),
        ]
    )
    with serve_directory(tmp_path / "site") as site:
        agent = Agent(
            model=model,
            browser=browser_session,
            approver=CallbackApprover(lambda r: seen.append(r) is None),
            secrets={"pw": "correct-horse-battery"},
            trace_dir=tmp_path / "runs",
        )
        result = await agent.run("x", start_url=site.url + "/pw.html")
    assert result.status == "completed"
    assert seen[0].values == {"user": "ops", "pw": "•••"}
    for path in (tmp_path / "runs").rglob("*.jsonl"):
        assert "correct-horse-battery" not in path.read_text()
