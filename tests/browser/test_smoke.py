from __future__ import annotations

from playwright.async_api import Page

from operator_agent.testing.site_server import serve_directory


async def test_chromium_renders_a_local_page(page: Page, tmp_path) -> None:
    (tmp_path / "index.html").write_text("<title>hi</title><button>Go</button>")
    with serve_directory(tmp_path) as server:
        await page.goto(server.url + "/index.html")
        assert await page.title() == "hi"
        await page.get_by_role("button", name="Go").click()
