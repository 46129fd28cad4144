"""The browser session: Playwright, one Chromium process, and the run contexts opened in it."""

from __future__ import annotations

import asyncio
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from playwright.async_api import Browser, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from operator_agent.browser._shutdown import run_to_completion
from operator_agent.browser.context import RunContext
from operator_agent.browser.dialogs import DialogPolicy
from operator_agent.browser.discovery import chromium_args, find_chromium
from operator_agent.errors import BrowserError, ConfigurationError
from operator_agent.logs import get_logger

__all__ = ["BrowserSession", "launch_error_gist"]

_CLOSE_TIMEOUT_S = 10.0
_GIST_MAX_CHARS = 1200
_STDERR_LINE = re.compile(r"^(?:\s*-\s*)?\[pid=\d+\]\[err\]\s?(.*)$")
_EXIT_LINE = re.compile(r"<process did exit: exitCode=(\w+), signal=(\w+)>")

if TYPE_CHECKING:
    from operator_agent.guardrails.domains import DomainAllowlist
    from operator_agent.guardrails.proxy import DomainProxy

_log = get_logger("operator_agent.browser")


def launch_error_gist(message: str) -> str:
    """The useful part of a Playwright launch error: Chromium's stderr and how it exited.

    Playwright's message repeats the full command line and a call log; what a person needs is
    what Chromium printed on stderr, its exit code, or else the first line of the error.

    Args:
        message: The text of the Playwright error.
    """
    stderr: list[str] = []
    for line in message.splitlines():
        match = _STDERR_LINE.match(line)
        if match and match.group(1).strip() and match.group(1) not in stderr:
            stderr.append(match.group(1).strip())
    exit_match = _EXIT_LINE.search(message)
    first = message.strip().splitlines()[0] if message.strip() else "unknown error"
    first = first.split(": ", 1)[1] if first.startswith("BrowserType.launch: ") else first
    parts = [first]
    if exit_match:
        code, signal = exit_match.groups()
        parts.append(
            f"Chromium exited with code {code}" if code != "null" else f"Chromium killed by {signal}"
        )
    if stderr:
        tail = "\n".join(stderr[-12:])
        parts.append("Chromium stderr:\n" + tail)
    gist = "; ".join(parts[:2]) + ("\n" + parts[2] if len(parts) > 2 else "")
    if any("sandbox" in line.lower() for line in stderr):
        gist += (
            "\nHint: Chromium's sandbox could not start here; pass extra_args=['--no-sandbox'] "
            "if this host cannot provide one."
        )
    return gist if len(gist) <= _GIST_MAX_CHARS else gist[: _GIST_MAX_CHARS - 3] + "..."


class BrowserSession:
    """Owns Playwright, one Chromium browser and the run contexts opened in it.

    Use it as an async context manager; leaving the block (normally, on an error, or by task
    cancellation) closes every context, the browser and Playwright, so no Chromium process is
    left behind.

    Args:
        executable_path: The Chromium executable; found with :func:`find_chromium` when ``None``.
        headless: Run without a window.
        slow_mo_ms: Delay each browser operation by this many milliseconds (for watching a run).
        extra_args: More Chromium switches, appended after :func:`chromium_args`.
        launch_timeout_s: How long Chromium may take to start.

    Example:
        >>> async with BrowserSession() as session:  # doctest: +SKIP
        ...     async with await session.new_context() as run:
        ...         await run.page.goto("http://127.0.0.1:8000/")
    """

    def __init__(
        self,
        *,
        executable_path: str | os.PathLike[str] | None = None,
        headless: bool = True,
        slow_mo_ms: float = 0,
        extra_args: Sequence[str] = (),
        launch_timeout_s: float = 30,
    ) -> None:
        if not math.isfinite(slow_mo_ms) or slow_mo_ms < 0:
            raise ConfigurationError(f"BrowserSession slow_mo_ms must be >= 0, got {slow_mo_ms}")
        if not math.isfinite(launch_timeout_s) or launch_timeout_s <= 0:
            raise ConfigurationError(f"BrowserSession launch_timeout_s must be > 0, got {launch_timeout_s}")
        if isinstance(extra_args, str):
            raise ConfigurationError(
                "BrowserSession extra_args must be a sequence of switches, not one string"
            )
        self._executable_path = executable_path
        self.headless = headless
        self.slow_mo_ms = slow_mo_ms
        self.extra_args = tuple(extra_args)
        self.launch_timeout_s = launch_timeout_s
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._executable: Path | None = None
        self._contexts: dict[RunContext, None] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> BrowserSession:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def started(self) -> bool:
        """Whether the browser is running and connected."""
        return self._browser is not None and self._browser.is_connected()

    @property
    def executable(self) -> Path | None:
        """The Chromium executable in use, once started."""
        return self._executable

    @property
    def browser(self) -> Browser:
        """The Playwright ``Browser``.

        Raises:
            BrowserError: If the session is not started, or the browser has exited.
        """
        if self._browser is None:
            raise BrowserError(
                "the browser session is not started; use `async with BrowserSession()` or start()"
            )
        if not self._browser.is_connected():
            raise BrowserError(
                f"the browser ({self._executable}) has exited or crashed; start() launches a new one"
            )
        return self._browser

    async def start(self) -> BrowserSession:
        """Launch Chromium; does nothing if it is already running.

        Raises:
            BrowserNotFoundError: No Chromium executable was found.
            BrowserError: Chromium could not be launched; the message names the executable and
                gives what Chromium printed on stderr.
        """
        async with self._lock:
            if self.started:
                return self
            if self._playwright is not None:
                # The browser died on its own: let go of the old driver before starting afresh.
                await run_to_completion(self._shutdown())
            executable = find_chromium(explicit=self._executable_path)
            args = chromium_args(headless=self.headless) + list(self.extra_args)
            playwright = await self._start_playwright()
            try:
                browser = await playwright.chromium.launch(
                    executable_path=executable,
                    headless=self.headless,
                    args=args,
                    # Playwright adds --no-sandbox itself unless asked to keep the sandbox.
                    chromium_sandbox="--no-sandbox" not in args,
                    slow_mo=self.slow_mo_ms,
                    timeout=self.launch_timeout_s * 1000,
                )
            except BaseException as exc:
                await run_to_completion(_stop_playwright(playwright))
                if isinstance(exc, PlaywrightError):
                    raise BrowserError(
                        f"could not launch Chromium at {executable}: {launch_error_gist(str(exc))}"
                    ) from exc
                raise
            self._playwright = playwright
            self._browser = browser
            self._executable = executable
            _log.info(
                "browser started",
                executable=str(executable),
                version=browser.version,
                headless=self.headless,
            )
            return self

    async def close(self) -> None:
        """Close every run context, the browser and Playwright; idempotent.

        Runs to the end even when the calling task is cancelled (the cancellation is raised
        afterwards), and every step is bounded by a timeout.
        """
        await run_to_completion(self._close_under_lock())

    async def _close_under_lock(self) -> None:
        async with self._lock:
            await self._shutdown()

    async def _shutdown(self) -> None:
        for run_context in list(self._contexts):
            try:
                await run_context.close()
            except Exception as exc:
                _log.warning("run context did not close cleanly", run_context=run_context.id, error=repr(exc))
        self._contexts.clear()
        browser, self._browser = self._browser, None
        playwright, self._playwright = self._playwright, None
        if browser is not None:
            try:
                async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                    await browser.close()
            except TimeoutError:
                _log.warning(
                    "browser did not close in time; stopping Playwright kills it", timeout_s=_CLOSE_TIMEOUT_S
                )
            except PlaywrightError as exc:
                _log.debug("browser already gone", error=str(exc).splitlines()[0] if str(exc) else "")
        if playwright is not None:
            await _stop_playwright(playwright)
            _log.info("browser closed", executable=str(self._executable))

    async def _start_playwright(self) -> Playwright:
        starting = asyncio.ensure_future(async_playwright().start())
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Let the driver finish starting, then stop it, so that no process outlives us.
            await run_to_completion(_stop_when_started(starting))
            raise
        except PlaywrightError as exc:
            raise BrowserError(f"could not start the Playwright driver: {exc}") from exc

    # -- contexts ----------------------------------------------------------------------------

    @property
    def contexts(self) -> list[RunContext]:
        """The run contexts open in this session, oldest first."""
        return list(self._contexts)

    async def new_context(
        self,
        *,
        viewport: tuple[int, int] = (1280, 800),
        locale: str = "en-US",
        timezone_id: str = "UTC",
        downloads_dir: str | os.PathLike[str] | None = None,
        storage_state: str | os.PathLike[str] | None = None,
        dialog_policy: DialogPolicy | None = None,
        allowlist: DomainAllowlist | None = None,
    ) -> RunContext:
        """Open an isolated browser context with one blank tab.

        Args:
            viewport: Width and height of each tab, in CSS pixels.
            locale: The browser locale (``navigator.language``, ``Accept-Language``).
            timezone_id: The IANA time zone pages see.
            downloads_dir: Where downloads are saved; a new temporary folder when ``None``.
            storage_state: A file written by :meth:`RunContext.save_storage_state` to start from
                (cookies and local storage).
            dialog_policy: How JavaScript dialogs are answered; fail-closed defaults when ``None``.
            allowlist: The only hosts the context may reach. The context is created with a
                filtering proxy of the allowlist (:meth:`DomainAllowlist.proxy`), through which
                the browser makes every connection, and the allowlist is installed on it
                (:meth:`DomainAllowlist.install`) once the first tab is open. Whatever is refused
                is recorded in ``allowlist.blocked``. The proxy stops when the context closes.

        Raises:
            ConfigurationError: The viewport is not two positive integers, or the storage state
                file does not exist.
            BrowserError: The session is not started, the browser refused the context, or the
                allowlist's proxy could not listen.
        """
        width, height = viewport
        if width <= 0 or height <= 0:
            raise ConfigurationError(f"new_context viewport must be two positive sizes, got {viewport}")
        if storage_state is not None and not await asyncio.to_thread(os.path.isfile, storage_state):
            raise ConfigurationError(f"new_context storage_state file not found: {storage_state}")
        browser = self.browser
        proxy: DomainProxy | None = None
        if allowlist is not None:
            proxy = await allowlist.proxy().start()
        try:
            context = await browser.new_context(
                viewport={"width": width, "height": height},
                locale=locale,
                timezone_id=timezone_id,
                accept_downloads=True,
                storage_state=None if storage_state is None else os.fspath(storage_state),
                proxy=None if proxy is None else proxy.settings(),
            )
        except BaseException as exc:
            if proxy is not None:
                await run_to_completion(proxy.close())
            if isinstance(exc, PlaywrightError):
                raise BrowserError(f"could not create a browser context: {str(exc).strip()}") from exc
            raise
        run_context = RunContext(
            context=context,
            downloads_dir=downloads_dir,
            dialog_policy=dialog_policy,
            on_close=self._forget,
            allowlist=allowlist,
            proxy=proxy,
        )
        self._contexts[run_context] = None
        try:
            await run_context.new_tab()
            if allowlist is not None:
                # After the first tab: the DevTools guard attaches to the pages there are.
                await allowlist.install(context)
        except BaseException:
            await run_context.close()
            raise
        _log.debug(
            "run context opened", run_context=run_context.id, downloads_dir=str(run_context.downloads_dir)
        )
        return run_context

    def _forget(self, run_context: RunContext) -> None:
        self._contexts.pop(run_context, None)


async def _stop_playwright(playwright: Playwright) -> None:
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            await playwright.stop()
    except TimeoutError:
        _log.warning("Playwright driver did not stop in time", timeout_s=_CLOSE_TIMEOUT_S)
    except PlaywrightError as exc:
        _log.debug("Playwright driver already stopped", error=str(exc))


async def _stop_when_started(starting: asyncio.Future[Playwright]) -> None:
    try:
        async with asyncio.timeout(_CLOSE_TIMEOUT_S):
            playwright = await starting
    except (Exception, asyncio.CancelledError):
        return
    await _stop_playwright(playwright)
