"""Storage state: cookies and local storage saved from one context are there in the next."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from operator_agent.browser import BrowserSession, RunContext
from operator_agent.errors import BrowserError, ConfigurationError
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "browser"


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


async def test_storage_state_round_trip(
    browser_session: BrowserSession, run_context: RunContext, site: LocalServer, tmp_path: Path
) -> None:
    await run_context.page.goto(site.url + "/storage.html")
    await run_context.page.click("#login")
    state_file = await run_context.save_storage_state(tmp_path / "state" / "login.json")
    assert state_file == tmp_path / "state" / "login.json"
    # It holds a session cookie: only its owner may read it.
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    saved = json.loads(state_file.read_text())
    assert [c["name"] for c in saved["cookies"]] == ["session"]

    async with await browser_session.new_context(
        storage_state=state_file, downloads_dir=tmp_path
    ) as restored:
        await restored.page.goto(site.url + "/storage.html")
        assert await restored.page.text_content("#out") == "cookie=session=abc123;draft=refund for invoice 42"

    # A context started without the file is a clean slate.
    async with await browser_session.new_context(downloads_dir=tmp_path) as fresh:
        await fresh.page.goto(site.url + "/storage.html")
        assert await fresh.page.text_content("#out") == "cookie=;draft=null"


async def test_missing_storage_state_file_is_a_configuration_error(
    browser_session: BrowserSession, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError, match=r"storage_state file not found: .*nope\.json"):
        await browser_session.new_context(storage_state=missing)


async def test_corrupt_storage_state_file_is_a_browser_error(
    browser_session: BrowserSession, tmp_path: Path
) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text("{not json")
    contexts_before = len(browser_session.browser.contexts)
    with pytest.raises(BrowserError, match="could not create a browser context"):
        await browser_session.new_context(storage_state=corrupt)
    assert len(browser_session.browser.contexts) == contexts_before
