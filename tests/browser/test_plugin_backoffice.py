"""The operator-agent pytest plugin used the way a user's suite uses it.

The agent here plans from a committed model cassette (``fixtures/cassettes/``), so the test runs
offline, at zero cost, exactly as recorded. To record it again::

    pytest tests/browser/test_plugin_backoffice.py --oa-cassette-mode=record

(with ``-p operator_agent.testing.pytest_plugin`` when the plugin is not installed, or with
``OPERATOR_AGENT_CASSETTE_MODE=record``), which asks ``oa_live_model`` (a script standing in for a
real model, below) and rewrites the file.
"""

from __future__ import annotations

import os
import shutil
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from operator_agent.agent import Agent
from operator_agent.browser import BrowserSession
from operator_agent.guardrails.approval import Approver
from operator_agent.models import Model, ModelRequest, ScriptedModel, reply, tool_call
from operator_agent.replay import CassetteModel, compile_trace
from operator_agent.testing.backoffice import BackofficeSite
from operator_agent.testing.outline import find_ref

PLUGIN = "operator_agent.testing.pytest_plugin"
ROOT = Path(__file__).resolve().parents[2]


def _autoloaded() -> bool:
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.value == PLUGIN for ep in entry_points(group="pytest11"))


# Installed, the plugin loads through its entry point; from a source tree without it, load it here.
pytest_plugins = ["pytester", *([] if _autoloaded() else [PLUGIN])]

PASSWORD = "Northwind-Ops-2026!"


@pytest.fixture
def oa_cassette_dir() -> Path:
    return ROOT / "fixtures" / "cassettes"


@pytest.fixture
def oa_output_dir(tmp_path: Path) -> Path:
    # Other suites sharing this checkout may clear ./test-results while these tests run.
    return tmp_path / "artifacts"


@pytest.fixture
def oa_live_model() -> ScriptedModel:
    """What recorded this module's cassette: a scripted stand-in for a real model."""

    def sign_in(r: ModelRequest) -> object:
        return [
            tool_call("fill", ref=find_ref(r, "Username"), text="ops.agent", reason="user name"),
            tool_call("fill", ref=find_ref(r, "Password"), secret="bo_password", reason="password"),
            tool_call("click", ref=find_ref(r, "Sign in", role="button"), reason="sign in"),
        ]

    def done(r: ModelRequest) -> object:
        assert find_ref(r, "Invoice number")  # the form the task is about is on the page
        return reply(tool_call("done", output={"signed_in": True}, confidence=0.95, summary="signed in"))

    return ScriptedModel([sign_in, done], name="stand-in-model")


@pytest.fixture
def oa_agent(
    oa_model: Model, oa_browser_session: BrowserSession, oa_approver: Approver, oa_output_dir: Path
) -> Agent:
    """The plugin's pieces, plus the back office's password: how a suite adds its own secrets."""
    return Agent(
        model=oa_model, browser=oa_browser_session, approver=oa_approver, secrets={"bo_password": PASSWORD},
        trace_dir=oa_output_dir / "runs",
    )  # fmt: skip


async def test_the_agent_replays_its_model_from_a_cassette(
    oa_agent: Agent, oa_model: CassetteModel, site: BackofficeSite
) -> None:
    result = await oa_agent.run("Sign in to the back office", start_url=site.url + "/invoices/new")

    assert result.status == "completed", result.reason
    assert result.output == {"signed_in": True}
    assert [(e.username, e.outcome) for e in site.state().logins] == [("ops.agent", "success")]
    if oa_model.mode == "replay":
        assert oa_model.calls == 2
        assert oa_model.name == "stand-in-model"
    assert PASSWORD not in oa_model.path.read_text()


async def test_replays_deny_irreversible_steps_by_default(
    oa_replay: Any, site: BackofficeSite, tmp_path: Path
) -> None:
    shutil.copytree(ROOT / "fixtures" / "traces" / "enter_invoice_v1", tmp_path / "run")
    skill = compile_trace(tmp_path / "run", name="enter_invoice", out=tmp_path / "skill")
    uploads = tmp_path / "uploads"
    uploads.mkdir()
    (uploads / "invoice.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")

    result = await oa_replay(
        skill.folder,
        params={"invoice_number": "INV-CI-1", "vendor": "Acme Office Supplies GmbH", "due_date": "2026-12-01",
                "notes": "from CI"},
        start_url=site.url + "/invoices/new", secrets={"bo_password": PASSWORD}, upload_dirs=[uploads],
    )  # fmt: skip

    assert result.status == "denied"
    assert "Submit for payment" in result.reason
    assert result.model_calls == 0
    assert site.state().count("invoice.submitted") == 0


def test_the_ci_policy_denies_by_default(oa_approver: Any) -> None:
    assert oa_approver.mode == "deny"


def test_cassettes_are_named_after_the_test(oa_cassette_path: Path) -> None:
    assert oa_cassette_path == (
        ROOT
        / "fixtures"
        / "cassettes"
        / "test_plugin_backoffice"
        / "test_cassettes_are_named_after_the_test.json"
    )


INNER_TEST = """
import pytest

async def test_page(oa_page, oa_site):
    await oa_page.goto(oa_site.url + "/index.html")
    assert await oa_page.title() == "Hello"

async def test_fails(oa_page, oa_site):
    await oa_page.goto(oa_site.url + "/index.html")
    assert await oa_page.title() == "Something else"

def test_missing_cassette(oa_cassette):
    pass

@pytest.mark.oa_approve_all
def test_marked_approve_all(oa_approver):
    assert oa_approver.mode == "approve"

@pytest.mark.oa_cassette("shared/login")
def test_marked_cassette(oa_cassette_path, oa_cassette_dir):
    assert oa_cassette_path == oa_cassette_dir / "shared" / "login.json"
"""


def test_playwright_options_drive_artifacts(pytester: pytest.Pytester) -> None:
    """--output, --tracing and --screenshot act as with pytest-playwright; markers switch the approval
    policy and name cassettes; a missing cassette says how to record it."""
    pytester.makeini(
        "[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = session\n"
        "asyncio_default_test_loop_scope = session\noa_sites_dir = pages\naddopts = --strict-markers\n"
    )
    pages = pytester.mkdir("pages")
    (pages / "index.html").write_text("<!doctype html><title>Hello</title><p>hi</p>")
    pytester.makepyfile(test_inner=INNER_TEST)
    plugin_args = [] if _autoloaded() else ["-p", PLUGIN]
    result = pytester.runpytest_subprocess(
        *plugin_args, "-p", "no:cacheprovider", "--output", "artifacts", "--tracing", "retain-on-failure",
        "--screenshot", "only-on-failure",
    )  # fmt: skip

    result.assert_outcomes(passed=3, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*no cassette at *test_missing_cassette.json: record it first*"])
    artifacts = pytester.path / "artifacts"
    folders = {p.name: p for p in artifacts.iterdir()}
    assert list(folders) == ["test_inner.py-test_fails"]  # the passing test left nothing behind
    kept = sorted(p.name for p in folders["test_inner.py-test_fails"].iterdir())
    assert kept == ["test-failed-1.png", "trace.zip"]
