"""Where a download a skill started ends up: the run context's copy, or one saved in the run folder."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from playwright.async_api import Download
from playwright.async_api import Error as PlaywrightError

from operator_agent.act import Tabs
from operator_agent.browser.downloads import safe_filename
from operator_agent.errors import OperatorAgentError, SkillError
from operator_agent.skills._trail import Trail

__all__ = ["keep_download"]


async def _saved_by_run(tabs: Tabs, url: str, *, timeout_s: float, trail: Trail) -> Path | None:
    """The copy a run context saved itself (it saves every download), if ``tabs`` is one."""
    wait = getattr(tabs, "wait_for_downloads", None)
    take = getattr(tabs, "take_downloads", None)
    if wait is None or take is None:
        return None
    try:
        await wait(timeout_s=timeout_s)
    except OperatorAgentError as exc:
        trail.log().warning("the run did not save the download", error=str(exc))
        return None
    found: Path | None = None
    for record in take():
        if found is None and record.url == url:
            found = Path(record.path)
        else:
            # Taken from the run's list, so reported here instead of being lost.
            message = f"also saved {record.path}"
            trail.record("download", record.suggested_filename, True, message, time.perf_counter())
    return found


def _unique(folder: Path, name: str) -> Path:
    candidate = folder / name
    stem, suffix = candidate.stem, candidate.suffix
    number = 1
    while candidate.exists():
        candidate = folder / f"{stem} ({number}){suffix}"
        number += 1
    return candidate


async def keep_download(
    download: Download, *, tabs: Tabs, folder: Path, timeout_s: float, trail: Trail
) -> Path:
    """The file of a finished download: the run context's copy if there is one, else a copy in ``folder``.

    Raises:
        SkillError: If the file could not be saved.
    """
    saved = await _saved_by_run(tabs, download.url, timeout_s=timeout_s, trail=trail)
    if saved is not None:
        return saved
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    path = _unique(folder, safe_filename(download.suggested_filename))
    try:
        await download.save_as(path)
    except PlaywrightError as exc:
        raise SkillError(
            f"the download of {download.url} could not be saved: {str(exc).splitlines()[0]}"
        ) from None
    return path
