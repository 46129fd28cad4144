"""Downloads land in the run's folder under safe, unique names, and a later step can use them."""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from operator_agent.browser import BrowserSession, RunContext
from operator_agent.errors import BrowserError
from operator_agent.testing.site_server import LocalServer, serve_directory

PAGES = Path(__file__).resolve().parents[2] / "fixtures" / "pages" / "browser"
REPORT = (PAGES / "report.csv").read_bytes()


def _names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _temp_root() -> Path:
    return Path(tempfile.gettempdir()).resolve()


@pytest.fixture(scope="module")
def site() -> Iterator[LocalServer]:
    with serve_directory(PAGES) as server:
        yield server


class _ExportServer(BaseHTTPRequestHandler):
    """Serves exports that take a while (or break off), and a page linking to them."""

    release: ClassVar[threading.Event] = threading.Event()
    body = b"x" * 4096

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/":
            page = b'<a id="slow" href="/slow.bin">slow</a> <a id="broken" href="/broken.bin">broken</a>'
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Disposition", 'attachment; filename="../../export.bin"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body[:1024])
        self.wfile.flush()
        if self.path == "/slow.bin" and self.release.wait(timeout=20):
            self.wfile.write(self.body[1024:])
        # /broken.bin stops here: the connection closes short of Content-Length.


@pytest.fixture(scope="module")
def exports() -> Iterator[LocalServer]:
    with LocalServer(handler=_ExportServer) as server:
        yield server


async def test_download_lands_in_the_folder_and_a_later_step_can_upload_it(
    run_context: RunContext, site: LocalServer
) -> None:
    page = run_context.page
    await page.goto(site.url + "/downloads.html")
    await page.click("#report")
    await run_context.wait_for_downloads(timeout_s=10, at_least=1)
    [record] = run_context.take_downloads()
    assert record.url == site.url + "/report.csv"
    assert record.suggested_filename == "report.csv"
    assert record.path == run_context.downloads_dir / "report.csv"
    assert record.path.read_bytes() == REPORT
    assert record.size == len(REPORT)
    assert run_context.take_downloads() == []

    await page.goto(site.url + "/upload.html")
    await page.set_input_files("#file", record.path)
    await page.wait_for_function("document.getElementById('out').textContent.length > 0")
    assert await page.text_content("#out") == "report.csv\n" + REPORT.decode()


async def test_same_names_get_unique_files_and_names_cannot_escape(
    run_context: RunContext, site: LocalServer, tmp_path: Path
) -> None:
    page = run_context.page
    await page.goto(site.url + "/downloads.html")
    await page.click("#report")
    await page.click("#report")
    await page.click("#sneaky")
    await page.click("#blob")
    await run_context.wait_for_downloads(timeout_s=10, at_least=4)
    records = run_context.take_downloads()
    folder = run_context.downloads_dir
    assert sorted(r.path.name for r in records) == sorted(
        ["report.csv", "report (1).csv", records[2].path.name, "notes.txt"]
    )
    assert len({r.path for r in records}) == 4
    for record in records:
        assert record.path.parent == folder
        assert record.path.stat().st_size == record.size
    notes = next(r for r in records if r.path.name == "notes.txt")
    assert notes.path.read_text() == "note 1\nnote 2\n"
    assert _names_in(folder) == sorted(r.path.name for r in records)
    # Nothing was written next to or above the downloads folder.
    assert _names_in(tmp_path) == ["downloads"]


async def test_waiting_for_a_slow_download_times_out_then_completes(
    run_context: RunContext, exports: LocalServer
) -> None:
    _ExportServer.release.clear()
    page = run_context.page
    await page.goto(exports.url + "/")
    await page.click("#slow")
    with pytest.raises(BrowserError, match=r"1 download\(s\) still running after 0.5s: .*/slow\.bin"):
        await run_context.wait_for_downloads(timeout_s=0.5, at_least=1)
    assert run_context.take_downloads() == []
    _ExportServer.release.set()
    await run_context.wait_for_downloads(timeout_s=10)
    [record] = run_context.take_downloads()
    assert record.suggested_filename.endswith("export.bin")
    assert record.path.parent == run_context.downloads_dir
    assert record.path.read_bytes() == _ExportServer.body


async def test_a_failed_download_is_reported_and_leaves_no_file(
    run_context: RunContext, exports: LocalServer
) -> None:
    page = run_context.page
    await page.goto(exports.url + "/")
    await page.click("#broken")
    with pytest.raises(BrowserError, match=r"download failed: .*/broken\.bin"):
        await run_context.wait_for_downloads(timeout_s=10, at_least=1)
    assert run_context.take_downloads() == []
    assert list(run_context.downloads_dir.iterdir()) == []
    # The failure is reported once.
    await run_context.wait_for_downloads(timeout_s=1)


async def test_waiting_for_a_download_that_never_starts_says_so(
    run_context: RunContext, site: LocalServer
) -> None:
    await run_context.page.goto(site.url + "/downloads.html")
    with pytest.raises(BrowserError, match=r"expected at least 1 download\(s\) within 0.2s, but 0 ended"):
        await run_context.wait_for_downloads(timeout_s=0.2, at_least=1)
    # Nothing in flight and nothing expected: returns at once.
    await run_context.wait_for_downloads(timeout_s=0.2)


async def test_default_downloads_folder_is_temporary_and_kept_only_with_downloads(
    browser_session: BrowserSession, site: LocalServer
) -> None:
    async with await browser_session.new_context() as empty_run:
        unused = empty_run.downloads_dir
        assert unused.is_dir()
        assert unused.parent == _temp_root()
    assert not unused.exists()

    async with await browser_session.new_context() as run:
        await run.page.goto(site.url + "/downloads.html")
        await run.page.click("#report")
        await run.wait_for_downloads(timeout_s=10, at_least=1)
        used = run.downloads_dir
    try:
        assert used != unused
        assert (used / "report.csv").read_bytes() == REPORT
    finally:
        shutil.rmtree(used, ignore_errors=True)
