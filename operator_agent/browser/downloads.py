"""Downloads: saved into one folder per run, under safe and unique names.

Every download a page starts is saved into the run's downloads folder as soon as it finishes.
The file name comes from the server (``Content-Disposition``) or the page (``<a download>``),
so it is untrusted: :func:`safe_filename` keeps only a plain base name, and a name already taken
gets a `` (1)``, `` (2)``... suffix. A file never lands outside the folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import unicodedata
from pathlib import Path

from playwright.async_api import Download, Page
from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict, Field

from operator_agent.errors import BrowserError, ConfigurationError
from operator_agent.logs import get_logger

__all__ = ["DownloadCollector", "DownloadRecord", "safe_filename"]

_MAX_NAME_BYTES = 180
_FORBIDDEN_CHARS = frozenset('<>:"|?*')
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)
_log = get_logger("operator_agent.browser")


class DownloadRecord(BaseModel):
    """A finished download.

    Attributes:
        url: The URL it was downloaded from.
        suggested_filename: The name the server or page proposed (untrusted, as received).
        path: Where it was saved; always inside the run's downloads folder.
        size: Its size in bytes.
        finished_at: When it was saved, in seconds since the epoch.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    suggested_filename: str
    path: Path
    size: int = Field(ge=0)
    finished_at: float = Field(ge=0)


def safe_filename(suggested: str) -> str:
    """A file name that is safe to create inside a folder, derived from an untrusted suggestion.

    Drops any directory part, control and reserved characters, and leading dots (no hidden
    files, no ``..``); shortens very long names while keeping the extension; falls back to
    ``download`` when nothing usable is left.

    Args:
        suggested: The name proposed by a server or page.
    """
    name = unicodedata.normalize("NFC", suggested).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in _FORBIDDEN_CHARS)
    name = name.strip().lstrip(".").rstrip(". ")
    if not name:
        return "download"
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    suffix = f".{extension}" if extension else ""
    if len(suffix.encode()) > _MAX_NAME_BYTES // 2:
        suffix = ""
    budget = _MAX_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:budget].decode(errors="ignore").rstrip(". ") or "download"
    return stem + suffix


def _reserve_unique(folder: Path, name: str) -> Path:
    """Create an empty file named ``name`` (or ``name (n)``) in ``folder`` and return its path.

    Creating the file with ``O_EXCL`` claims the name, so two downloads with the same name, in
    this run or in another process sharing the folder, never overwrite each other.
    """
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, dot, extension = name, "", ""
    for attempt in range(10_000):
        candidate = name if attempt == 0 else f"{stem} ({attempt}){dot}{extension}"
        path = folder / candidate
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise BrowserError(f"could not find a free file name for download {name!r} in {folder}")


class DownloadCollector:
    """Saves the downloads of the pages it is attached to into one folder.

    Args:
        folder: The downloads folder; created if missing.
    """

    def __init__(self, *, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder.resolve()
        self._finished: list[DownloadRecord] = []
        self._failures: list[str] = []
        self._in_flight: dict[asyncio.Task[None], str] = {}
        # Set (and replaced) whenever a download starts or ends.
        self._changed = asyncio.Event()

    def attach(self, page: Page) -> None:
        """Save every download that ``page`` starts."""
        page.on("download", self._on_download)

    def take(self) -> list[DownloadRecord]:
        """The downloads finished since the previous call, oldest first."""
        taken, self._finished = self._finished, []
        return taken

    @property
    def in_flight(self) -> int:
        """How many downloads are still being received or saved."""
        return len(self._in_flight)

    async def wait(self, *, timeout_s: float, at_least: int = 0) -> None:
        """Wait until no download is in flight and at least ``at_least`` have ended.

        A click that starts a download returns before the browser reports the download, so
        right after such a click pass ``at_least=1`` to wait for it to start and finish.

        Args:
            timeout_s: How long to wait at most.
            at_least: How many downloads must have finished (or failed) since the previous
                :meth:`take` (and the previous failure report).

        Raises:
            BrowserError: If the downloads are not done after ``timeout_s`` (those running keep
                running), or if a download failed since the previous wait.
        """
        if at_least < 0:
            raise ConfigurationError(f"wait_for_downloads at_least must be >= 0, got {at_least}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while self._in_flight or len(self._finished) + len(self._failures) < at_least:
            changed = self._changed
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0)):
                    await changed.wait()
            except TimeoutError:
                raise self._timeout_error(timeout_s, at_least) from None
        if self._failures:
            failures, self._failures = self._failures, []
            raise BrowserError("download failed: " + "; ".join(failures))

    def _timeout_error(self, timeout_s: float, at_least: int) -> BrowserError:
        if self._in_flight:
            urls = sorted(self._in_flight.values())
            return BrowserError(
                f"{len(urls)} download(s) still running after {timeout_s:g}s: " + ", ".join(urls)
            )
        ended = len(self._finished) + len(self._failures)
        return BrowserError(
            f"expected at least {at_least} download(s) within {timeout_s:g}s, but {ended} ended "
            f"(saved into {self.folder})"
        )

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def close(self) -> None:
        """Stop saving: cancel downloads still in flight and wait for them to unwind."""
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _on_download(self, download: Download) -> None:
        # A plain (not async) listener, so the download counts as in flight from the moment
        # the browser reports it.
        task = asyncio.ensure_future(self._save(download))
        self._in_flight[task] = download.url
        task.add_done_callback(self._forget)
        self._notify()

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            _log.error("download handler crashed", error=repr(task.exception()))
        self._notify()

    async def _save(self, download: Download) -> None:
        url = download.url
        suggested = download.suggested_filename
        path = _reserve_unique(self.folder, safe_filename(suggested))
        if path.resolve().parent != self.folder:
            # Cannot happen with a name from safe_filename; checked anyway because it is cheap.
            path.unlink(missing_ok=True)
            self._fail(url, f"refused to save {suggested!r} outside {self.folder}")
            return
        try:
            await download.save_as(path)
        except asyncio.CancelledError:
            path.unlink(missing_ok=True)
            raise
        except PlaywrightError as exc:
            path.unlink(missing_ok=True)
            reason: str | None = None
            with contextlib.suppress(PlaywrightError):
                reason = await download.failure()
            self._fail(url, reason or str(exc).splitlines()[0])
            return
        record = DownloadRecord(
            url=url,
            suggested_filename=suggested,
            path=path,
            size=path.stat().st_size,
            finished_at=time.time(),
        )
        self._finished.append(record)
        _log.info("download saved", url=url, path=str(path), size=record.size)

    def _fail(self, url: str, reason: str) -> None:
        self._failures.append(f"{url}: {reason}")
        _log.warning("download failed", url=url, reason=reason)
