"""An agent run recorded into a cassette replays against the back office with no model; when the site
changes, the replay stops at the first request that differs and says what changed."""

from __future__ import annotations

from pathlib import Path

from operator_agent.agent import Agent
from operator_agent.browser import BrowserSession
from operator_agent.models import Model, ModelRequest, ScriptedModel, reply, tool_call
from operator_agent.replay import CassetteModel
from operator_agent.replay.cassette import LOCAL_ORIGINS
from operator_agent.testing.backoffice import BackofficeSite
from operator_agent.testing.outline import find_ref

PASSWORD = "Northwind-Ops-2026!"


def script() -> ScriptedModel:
    def sign_in(r: ModelRequest) -> object:
        return [
            tool_call("fill", ref=find_ref(r, "Username"), text="ops.agent"),
            tool_call("fill", ref=find_ref(r, "Password"), secret="bo_password"),
            tool_call("click", ref=find_ref(r, "Sign in", role="button")),
        ]

    return ScriptedModel(
        [sign_in, reply(tool_call("done", output="in", confidence=0.9, summary="signed in"))]
    )


async def run(model: Model, site: BackofficeSite, session: BrowserSession, tmp_path: Path) -> object:
    agent = Agent(model=model, browser=session, secrets={"bo_password": PASSWORD}, trace_dir=tmp_path / "runs",
                  screenshots=False, playwright_trace=False)  # fmt: skip
    return await agent.run("Sign in", start_url=site.url + "/invoices/new")


async def test_a_recorded_run_replays_without_a_model_and_a_changed_site_is_caught(
    site: BackofficeSite, browser_session: BrowserSession, tmp_path: Path
) -> None:
    path = tmp_path / "sign_in.json"
    recorded = await run(
        CassetteModel(inner=script(), path=path, mode="record", volatile=[LOCAL_ORIGINS]), site, browser_session,
        tmp_path,
    )  # fmt: skip
    assert recorded.status == "completed"  # type: ignore[attr-defined]
    assert PASSWORD not in path.read_text()

    site.reset()
    cassette = CassetteModel(path=path, mode="replay", volatile=[LOCAL_ORIGINS])
    replayed = await run(cassette, site, browser_session, tmp_path)
    assert replayed.status == "completed", replayed.reason  # type: ignore[attr-defined]
    cassette.assert_complete()
    assert [(e.username, e.outcome) for e in site.state().logins] == [("ops.agent", "success")]

    site.reset()
    site.set_variant("v2")
    changed = await run(CassetteModel(path=path, mode="replay", volatile=[LOCAL_ORIGINS]), site, browser_session,
                        tmp_path)  # fmt: skip
    assert changed.status == "failed"  # type: ignore[attr-defined]
    reason = changed.reason  # type: ignore[attr-defined]
    assert "CassetteMismatchError: model request 1 does not match cassette" in reason
    assert "the page observation changed" in reason
    assert 'textbox "Username"' in reason
    assert 'textbox "User name"' in reason
    assert site.state().logins == ()
