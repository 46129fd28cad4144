"""The operator-agent pytest plugin: fixtures for testing automations in your own suite.

Installed with operator-agent (entry point ``operator_agent``); every fixture starts with ``oa_``.
It reads pytest-playwright's options when that plugin is installed (``--headed``,
``--browser-channel``, ``--slowmo``, ``--output``, ``--tracing``, ``--screenshot``) and registers
them itself only when it is not, so the flags you know work the same.

Fixtures:

* ``oa_browser_session`` (session): one Chromium for the test session.
* ``oa_run_context`` / ``oa_page``: a fresh browser context (and its tab) per test, traced and
  screenshotted as ``--tracing`` and ``--screenshot`` say, artifacts in ``--output``.
* ``oa_site``: a local server for your fixture pages (ini ``oa_sites_dir``).
* ``oa_approver``: the approval policy for CI: denies every irreversible step unless the test is
  marked ``@pytest.mark.oa_approve_all`` (mock sites only) or overrides ``oa_approval``.
* ``oa_cassette`` / ``oa_model``: a :class:`~operator_agent.replay.CassetteModel` per test, replayed
  from ``<oa_cassette_dir>/<module>/<test>.json`` (or ``@pytest.mark.oa_cassette("name")``);
  ``--oa-cassette-mode=record`` records it with the model your ``oa_live_model`` fixture returns.
  Override ``oa_model`` with a ``ScriptedModel`` for fully scripted tests.
* ``oa_agent``: an :class:`~operator_agent.Agent` wired to all of the above.
* ``oa_skill_context`` and ``oa_replay``: run skills, or replay compiled ones, under the same policy.

Async fixtures need pytest-asyncio; the session-wide browser needs the session event loop
(``asyncio_default_fixture_loop_scope = "session"`` and ``asyncio_default_test_loop_scope =
"session"`` in your pytest configuration).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from operator_agent.agent import Agent
    from operator_agent.browser import BrowserSession, RunContext
    from operator_agent.guardrails.approval import Approver
    from operator_agent.models import Model
    from operator_agent.replay import CassetteModel, ReplayResult
    from operator_agent.skills import SkillContext
    from operator_agent.testing.site_server import LocalServer

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only where pytest-asyncio is missing
    pytest_asyncio = None  # type: ignore[assignment]

__all__ = [
    "CASSETTE_MODE_ENV",
    "oa_agent",
    "oa_approval",
    "oa_approver",
    "oa_browser_session",
    "oa_cassette",
    "oa_cassette_dir",
    "oa_cassette_mode",
    "oa_cassette_path",
    "oa_live_model",
    "oa_model",
    "oa_output_dir",
    "oa_page",
    "oa_replay",
    "oa_run_context",
    "oa_site",
    "oa_sites_dir",
    "oa_skill_context",
]

#: The environment variable that chooses the cassette mode when ``--oa-cassette-mode`` is not given.
CASSETTE_MODE_ENV = "OPERATOR_AGENT_CASSETTE_MODE"

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_PLAYWRIGHT_PLUGIN = "pytest_playwright"
# Where the branded browsers of each Playwright channel are installed, per platform.
_CHANNELS: dict[str, dict[str, tuple[str, ...]]] = {
    "linux": {
        "chrome": ("/opt/google/chrome/chrome",),
        "chrome-beta": ("/opt/google/chrome-beta/chrome",),
        "chrome-dev": ("/opt/google/chrome-unstable/chrome",),
        "msedge": ("/opt/microsoft/msedge/msedge",),
        "msedge-beta": ("/opt/microsoft/msedge-beta/msedge",),
        "msedge-dev": ("/opt/microsoft/msedge-dev/msedge",),
        "chromium": ("/usr/bin/chromium", "/usr/bin/chromium-browser"),
    },
    "darwin": {
        "chrome": ("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",),
        "chrome-beta": ("/Applications/Google Chrome Beta.app/Contents/MacOS/Google Chrome Beta",),
        "msedge": ("/Applications/Microsoft Edge.app/Contents/MacOS/Microsoft Edge",),
    },
    "win32": {
        "chrome": (r"C:\Program Files\Google\Chrome\Application\chrome.exe",),
        "msedge": (r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",),
    },
}


def _async_fixture(**kwargs: Any) -> Callable[[Any], Any]:
    """``pytest_asyncio.fixture`` when it is installed; otherwise a fixture that says what is missing."""
    if pytest_asyncio is not None:
        return pytest_asyncio.fixture(**kwargs)

    def missing(function: Any) -> Any:  # pragma: no cover - see above
        def fail() -> None:
            pytest.fail(
                f"fixture {function.__name__} of operator-agent needs pytest-asyncio (pip install it)"
            )

        fail.__name__ = function.__name__
        return pytest.fixture(scope=kwargs.get("scope", "function"), name=function.__name__)(fail)

    return missing


# -- options --------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add the ``--oa-*`` options, and pytest-playwright's when that plugin is not installed."""
    group = parser.getgroup("operator-agent", "operator-agent")
    group.addoption(
        "--oa-cassette-mode",
        choices=["replay", "record"],
        default=None,
        help="replay model cassettes (default) or record them with the oa_live_model fixture",
    )
    parser.addini(
        "oa_cassette_dir", "folder of model cassettes (default: tests/cassettes)", default="tests/cassettes"
    )
    parser.addini("oa_sites_dir", "folder of fixture pages served by the oa_site fixture", default="")
    if importlib.util.find_spec(_PLAYWRIGHT_PLUGIN) is None:
        # pytest-playwright is not installed: offer the same flags, so the same commands work.
        pw = parser.getgroup("playwright", "Playwright")
        pw.addoption("--headed", action="store_true", default=False, help="Run tests in headed mode.")
        pw.addoption("--browser-channel", default=None, help="Browser channel to be used.")
        pw.addoption("--slowmo", default=0, type=int, help="Run tests with slow mo")
        pw.addoption("--output", default="test-results", help="Directory for artifacts produced by tests.")
        pw.addoption("--tracing", default="off", choices=["on", "off", "retain-on-failure"])
        pw.addoption("--screenshot", default="off", choices=["on", "off", "only-on-failure"])


def pytest_configure(config: pytest.Config) -> None:
    """Register the plugin's markers."""
    config.addinivalue_line("markers", "oa_cassette(name): the model cassette of this test (a name or path)")
    config.addinivalue_line("markers", "oa_approve_all: approve every irreversible step (mock sites only)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    """Keep each phase's report, so fixtures know at teardown whether the test failed."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _option(config: pytest.Config, name: str, default: Any) -> Any:
    return config.getoption(name, default)


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(report.failed for report in reports.values())


def _slug(nodeid: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid).strip("-")
    return slug[-120:] if len(slug) > 120 else slug


def _channel_executable(channel: str) -> str:
    candidates = _CHANNELS.get(sys.platform, {}).get(channel)
    if candidates is None:
        known = ", ".join(sorted(_CHANNELS.get(sys.platform, {}))) or "none"
        raise pytest.UsageError(
            f"--browser-channel {channel!r} is not known on {sys.platform}; known: {known}"
        )
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise pytest.UsageError(
        f"--browser-channel {channel!r}: not installed; looked for {', '.join(candidates)}"
    )


# -- browser ----------------------------------------------------------------------------------------


@_async_fixture(scope="session", loop_scope="session")
async def oa_browser_session(pytestconfig: pytest.Config) -> AsyncIterator[BrowserSession]:
    """One Chromium for the test session (``--headed``, ``--slowmo``, ``--browser-channel`` apply)."""
    from operator_agent.browser import BrowserSession

    channel = _option(pytestconfig, "--browser-channel", None)
    session = BrowserSession(
        headless=not _option(pytestconfig, "--headed", False),
        slow_mo_ms=float(_option(pytestconfig, "--slowmo", 0) or 0),
        executable_path=_channel_executable(channel) if channel else None,
    )
    async with session:
        yield session


@pytest.fixture
def oa_output_dir(request: pytest.FixtureRequest, pytestconfig: pytest.Config) -> Iterator[Path]:
    """This test's artifact folder inside ``--output``; removed after a passing test unless
    ``--tracing on`` or ``--screenshot on`` asked to keep everything."""
    root = Path(_option(pytestconfig, "--output", "test-results"))
    if not root.is_absolute():
        root = pytestconfig.rootpath / root
    folder = root / _slug(request.node.nodeid)
    yield folder
    keep_all = "on" in (
        _option(pytestconfig, "--tracing", "off"),
        _option(pytestconfig, "--screenshot", "off"),
    )
    if not keep_all and not _failed(request) and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


@_async_fixture(loop_scope="session")
async def oa_run_context(
    oa_browser_session: BrowserSession, oa_output_dir: Path, request: pytest.FixtureRequest,
    pytestconfig: pytest.Config, tmp_path: Path,
) -> AsyncIterator[RunContext]:  # fmt: skip
    """A fresh browser context with one tab; traced and screenshotted per ``--tracing``/``--screenshot``."""
    tracing = _option(pytestconfig, "--tracing", "off")
    screenshot = _option(pytestconfig, "--screenshot", "off")
    async with await oa_browser_session.new_context(downloads_dir=tmp_path / "downloads") as run:
        if tracing != "off":
            await run.context.tracing.start(screenshots=True, snapshots=True, sources=False)
        try:
            yield run
        finally:
            failed = _failed(request)
            if screenshot == "on" or (screenshot == "only-on-failure" and failed):
                await asyncio.to_thread(oa_output_dir.mkdir, parents=True, exist_ok=True)
                status = "failed" if failed else "finished"
                for index, page in enumerate(p for p in run.context.pages if not p.is_closed()):
                    await page.screenshot(path=str(oa_output_dir / f"test-{status}-{index + 1}.png"))
            if tracing == "on" or (tracing == "retain-on-failure" and failed):
                await asyncio.to_thread(oa_output_dir.mkdir, parents=True, exist_ok=True)
                await run.context.tracing.stop(path=str(oa_output_dir / "trace.zip"))
            elif tracing != "off":
                await run.context.tracing.stop()


@pytest.fixture
def oa_page(oa_run_context: RunContext) -> Any:
    """The tab of ``oa_run_context``."""
    return oa_run_context.page


# -- sites ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def oa_sites_dir(pytestconfig: pytest.Config) -> Path:
    """The folder of fixture pages (ini ``oa_sites_dir``, relative to the root of the suite)."""
    value = str(pytestconfig.getini("oa_sites_dir") or "")
    if not value:
        pytest.fail("oa_site needs a folder of fixture pages: set oa_sites_dir in your pytest configuration")
    folder = Path(value)
    return folder if folder.is_absolute() else pytestconfig.rootpath / folder


@pytest.fixture(scope="session")
def oa_site(oa_sites_dir: Path) -> Iterator[LocalServer]:
    """Your fixture pages served on 127.0.0.1 for the session (``oa_site.url`` is the base URL)."""
    from operator_agent.testing.site_server import serve_directory

    with serve_directory(oa_sites_dir) as server:
        yield server


# -- approvals --------------------------------------------------------------------------------------


@pytest.fixture
def oa_approval(request: pytest.FixtureRequest) -> Literal["deny", "approve"]:
    """``deny`` (the CI default) unless the test is marked ``oa_approve_all``."""
    return "approve" if request.node.get_closest_marker("oa_approve_all") is not None else "deny"


@pytest.fixture
def oa_approver(oa_approval: Literal["deny", "approve"]) -> Approver:
    """Decides on irreversible steps without asking anybody: denies them unless approved by marker."""
    from operator_agent.guardrails.approval import PolicyApprover

    return PolicyApprover(mode=oa_approval)


# -- models -----------------------------------------------------------------------------------------


@pytest.fixture
def oa_cassette_mode(pytestconfig: pytest.Config) -> Literal["replay", "record"]:
    """``replay`` unless ``--oa-cassette-mode=record`` (or ``OPERATOR_AGENT_CASSETTE_MODE=record``)."""
    mode = _option(pytestconfig, "--oa-cassette-mode", None) or os.environ.get(CASSETTE_MODE_ENV) or "replay"
    if mode not in ("replay", "record"):
        raise pytest.UsageError(f"{CASSETTE_MODE_ENV} must be 'replay' or 'record', got {mode!r}")
    return "record" if mode == "record" else "replay"


@pytest.fixture
def oa_cassette_dir(pytestconfig: pytest.Config) -> Path:
    """The folder of cassettes (ini ``oa_cassette_dir``)."""
    folder = Path(str(pytestconfig.getini("oa_cassette_dir") or "tests/cassettes"))
    return folder if folder.is_absolute() else pytestconfig.rootpath / folder


@pytest.fixture
def oa_cassette_path(request: pytest.FixtureRequest, oa_cassette_dir: Path) -> Path:
    """This test's cassette: the ``oa_cassette`` marker's name, else ``<module>/<test>.json``."""
    marker = request.node.get_closest_marker("oa_cassette")
    if marker is not None and marker.args:
        name = str(marker.args[0])
        path = Path(name if name.endswith(".json") else name + ".json")
        return path if path.is_absolute() else oa_cassette_dir / path
    module = Path(str(request.node.path)).stem
    return oa_cassette_dir / module / (re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name) + ".json")


@pytest.fixture
def oa_live_model() -> Model:
    """The real model that records cassettes; override it in your conftest to record."""
    pytest.fail(
        "--oa-cassette-mode=record needs the model to record: define an `oa_live_model` fixture "
        "returning it (for example OpenAIModel(model=...))"
    )


@pytest.fixture
def oa_cassette(
    request: pytest.FixtureRequest, oa_cassette_mode: Literal["replay", "record"], oa_cassette_path: Path
) -> Iterator[CassetteModel]:
    """The test's model cassette. After a passing replay, every recorded request must have been used."""
    from operator_agent.replay import CassetteModel
    from operator_agent.replay.cassette import LOCAL_ORIGINS

    local_origins = LOCAL_ORIGINS
    if oa_cassette_mode == "record":
        inner = request.getfixturevalue("oa_live_model")
        cassette = CassetteModel(inner=inner, path=oa_cassette_path, mode="record", volatile=[local_origins])
    else:
        cassette = CassetteModel(path=oa_cassette_path, mode="replay", volatile=[local_origins])
    yield cassette
    if oa_cassette_mode == "replay" and not _failed(request):
        cassette.assert_complete()


@pytest.fixture
def oa_model(oa_cassette: CassetteModel) -> Model:
    """The model of ``oa_agent``: the test's cassette. Override with a ``ScriptedModel`` if you like."""
    return oa_cassette


# -- agent, skills, replays -------------------------------------------------------------------------


@pytest.fixture
def oa_agent(
    oa_model: Model, oa_browser_session: BrowserSession, oa_approver: Approver, oa_output_dir: Path,
    pytestconfig: pytest.Config,
) -> Agent:  # fmt: skip
    """An :class:`~operator_agent.Agent` on the session's browser, with the test's model and approver.

    Its run traces go to the test's ``--output`` folder (kept when the test fails); Playwright traces
    and per-step screenshots follow ``--tracing`` and ``--screenshot``.
    """
    from operator_agent.agent import Agent

    return Agent(
        model=oa_model,
        browser=oa_browser_session,
        approver=oa_approver,
        trace_dir=oa_output_dir / "runs",
        playwright_trace=_option(pytestconfig, "--tracing", "off") != "off",
        screenshots=_option(pytestconfig, "--screenshot", "off") != "off",
    )


@pytest.fixture
def oa_skill_context(oa_run_context: RunContext, oa_approver: Approver, tmp_path: Path) -> SkillContext:
    """A skill context on ``oa_page``: the engine's policy judges every step, and what it (or the skill)
    finds irreversible goes to ``oa_approver``."""
    from operator_agent.guardrails.policy import Policy
    from operator_agent.skills import SkillContext, approval_callback

    run_id = "test-" + tmp_path.name
    return SkillContext(
        tabs=oa_run_context,
        approve=approval_callback(oa_approver, run_id=run_id, tabs=oa_run_context),
        run_dir=tmp_path / "run",
        run_id=run_id,
        policy=Policy(),
    )


@pytest.fixture
def oa_replay(
    oa_browser_session: BrowserSession, oa_approver: Approver, oa_output_dir: Path
) -> Callable[..., Awaitable[ReplayResult]]:
    """``await oa_replay(skill_dir, params={...}, start_url=...)``: replay a compiled skill, no model.

    Keyword arguments are those of :func:`operator_agent.replay.replay_skill`; the browser, the
    approver and the trace folder default to the test's.
    """
    from operator_agent.replay import replay_skill

    async def replay(source: str | os.PathLike[str], **options: Any) -> ReplayResult:
        options.setdefault("browser", oa_browser_session)
        options.setdefault("approver", oa_approver)
        options.setdefault("trace_dir", oa_output_dir / "replays")
        return await replay_skill(source, **options)

    return replay
