"""Session lifecycle: clean start and stop, clear launch errors, and no Chromium left behind.

These tests launch their own browsers (the shared session browser must survive them). Each one
tags its browser with a unique, harmless command-line switch, finds the process by that tag in
/proc, and checks that it and all its descendants are gone afterwards.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from operator_agent.browser import BrowserSession
from operator_agent.errors import BrowserError, BrowserNotFoundError, ConfigurationError
from operator_agent.testing.site_server import LocalServer, serve_directory

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "browser"


# -- processes -------------------------------------------------------------------------------


def _process_table() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state letter, command line) for every process we can read."""
    table: dict[int, tuple[int, str, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = (
                Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the fields after the last ")" do not.
        fields = stat.rsplit(")", 1)[1].split()
        table[int(entry)] = (int(fields[1]), fields[0], cmdline)
    return table


def _browser_tree(marker: str) -> set[int]:
    """The live processes started with ``marker`` on their command line, and all their descendants."""
    table = _process_table()
    tree = {pid for pid, (_, state, cmdline) in table.items() if marker in cmdline and state != "Z"}
    grew = True
    while grew:
        children = {pid for pid, (ppid, state, _) in table.items() if ppid in tree and state != "Z"}
        grew = not children <= tree
        tree |= children
    return tree


def _alive(pids: set[int]) -> set[int]:
    table = _process_table()
    return {pid for pid in pids if pid in table and table[pid][1] != "Z"}


def _drivers() -> set[int]:
    """The live Playwright driver processes started by this test process."""
    me = os.getpid()
    return {
        pid
        for pid, (ppid, state, cmdline) in _process_table().items()
        if ppid == me and state != "Z" and "run-driver" in cmdline
    }


async def _assert_all_exit(pids: set[int], *, drivers_before: set[int]) -> None:
    for _ in range(100):
        if not _alive(pids) and _drivers() <= drivers_before:
            return
        await asyncio.sleep(0.05)
    assert _alive(pids) == set(), "Chromium processes outlived their session"
    assert _drivers() <= drivers_before, "a Playwright driver outlived its session"


def _marker() -> str:
    # Chromium ignores switches it does not know; this one only labels the process.
    return f"--operator-agent-test-run={uuid.uuid4().hex}"


# -- servers ---------------------------------------------------------------------------------


class _HangingHandler(BaseHTTPRequestHandler):
    """Accepts a request and answers only when released: a navigation that never ends."""

    requested: ClassVar[threading.Event] = threading.Event()
    release: ClassVar[threading.Event] = threading.Event()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        type(self).requested.set()
        type(self).release.wait(timeout=30)
        body = b"<title>late</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


@pytest.fixture
def hanging() -> Iterator[LocalServer]:
    _HangingHandler.requested.clear()
    _HangingHandler.release.clear()
    with LocalServer(handler=_HangingHandler) as server:
        try:
            yield server
        finally:
            _HangingHandler.release.set()


# -- tests -----------------------------------------------------------------------------------


async def test_no_process_survives_an_exception_inside_the_session(site: LocalServer) -> None:
    marker = _marker()
    drivers_before = _drivers()
    seen: dict[str, Any] = {}

    async def failing_automation() -> None:
        async with BrowserSession(extra_args=[marker]) as session:
            seen["run"] = await session.new_context()
            await seen["run"].page.goto(site.url + "/second.html")
            seen["tree"] = _browser_tree(marker)
            raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        await failing_automation()
    # The browser process plus at least one renderer were running.
    assert len(seen["tree"]) >= 2
    assert seen["run"].closed
    await _assert_all_exit(seen["tree"], drivers_before=drivers_before)


async def test_no_process_survives_cancelling_a_task_mid_navigation(hanging: LocalServer) -> None:
    marker = _marker()
    drivers_before = _drivers()

    async def automation() -> None:
        async with BrowserSession(extra_args=[marker]) as session:
            run = await session.new_context()
            await run.page.goto(hanging.url + "/slow", timeout=60_000)

    task = asyncio.ensure_future(automation())
    assert await asyncio.to_thread(_HangingHandler.requested.wait, 30), "navigation never reached the server"
    tree = _browser_tree(marker)
    assert len(tree) >= 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _assert_all_exit(tree, drivers_before=drivers_before)


async def test_no_process_survives_cancelling_while_chromium_starts() -> None:
    marker = _marker()
    drivers_before = _drivers()
    session = BrowserSession(extra_args=[marker])
    task = asyncio.ensure_future(session.start())
    tree: set[int] = set()
    for _ in range(1000):
        tree = _browser_tree(marker)
        if tree or task.done():
            break
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not session.started
    await _assert_all_exit(tree | _browser_tree(marker), drivers_before=drivers_before)
    assert _browser_tree(marker) == set()


async def test_launch_failure_names_the_executable_and_chromium_stderr(tmp_path: Path) -> None:
    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\necho 'error while loading shared libraries: libnss3.so' >&2\nexit 127\n")
    fake.chmod(0o755)
    drivers_before = _drivers()
    session = BrowserSession(executable_path=fake, launch_timeout_s=20)
    with pytest.raises(BrowserError) as caught:
        await session.start()
    message = str(caught.value)
    assert f"could not launch Chromium at {fake}" in message
    assert "libnss3.so" in message
    assert "exited with code 127" in message
    assert not session.started
    await _assert_all_exit(set(), drivers_before=drivers_before)


async def test_headed_session_launches_chromium_without_headless_switches(tmp_path: Path) -> None:
    # No display here, so a stand-in executable records the command line it was given.
    argv_file = tmp_path / "argv"
    fake = tmp_path / "chrome"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{argv_file}"\nexit 1\n')
    fake.chmod(0o755)
    with pytest.raises(BrowserError):
        await BrowserSession(executable_path=fake, headless=False, launch_timeout_s=20).start()
    headed = argv_file.read_text().splitlines()
    assert "--disable-background-networking" in headed
    assert not [arg for arg in headed if arg.startswith("--headless")]
    with pytest.raises(BrowserError):
        await BrowserSession(executable_path=fake, headless=True, launch_timeout_s=20).start()
    assert "--headless" in argv_file.read_text().splitlines()


async def test_missing_executable_fails_before_anything_starts(tmp_path: Path) -> None:
    drivers_before = _drivers()
    with pytest.raises(BrowserNotFoundError, match="does not exist"):
        async with BrowserSession(executable_path=tmp_path / "no-chrome"):
            pass
    assert _drivers() == drivers_before


async def test_start_and_close_are_idempotent_and_close_closes_run_contexts(site: LocalServer) -> None:
    session = BrowserSession()
    with pytest.raises(BrowserError, match="not started"):
        _ = session.browser
    with pytest.raises(BrowserError, match="not started"):
        await session.new_context()
    await session.start()
    browser = session.browser
    assert await session.start() is session
    assert session.browser is browser
    run = await session.new_context()
    page = run.page
    await page.goto(site.url + "/second.html")
    assert session.contexts == [run]
    await session.close()
    assert run.closed
    assert page.is_closed()
    assert run.pages == []
    assert session.contexts == []
    assert not browser.is_connected()
    await session.close()
    with pytest.raises(BrowserError, match="not started"):
        _ = session.browser
    # A closed session can be started again.
    async with session:
        assert session.browser is not browser
        assert session.browser.is_connected()
    assert not session.started


def test_invalid_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="slow_mo_ms"):
        BrowserSession(slow_mo_ms=-1)
    with pytest.raises(ConfigurationError, match="launch_timeout_s"):
        BrowserSession(launch_timeout_s=0)
    with pytest.raises(ConfigurationError, match="extra_args"):
        BrowserSession(extra_args="--no-sandbox")
