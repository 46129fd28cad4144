"""The browser: finding Chromium, launching it, and isolated run contexts with tabs, dialogs and downloads.

``BrowserSession`` owns one Chromium process; each ``RunContext`` it opens is an isolated
browser context for one run, which tracks its tabs, answers JavaScript dialogs by policy and
saves downloads into a folder of its own.
"""

from __future__ import annotations

from operator_agent.browser.context import RunContext
from operator_agent.browser.dialogs import DialogAction, DialogKind, DialogPolicy, DialogRecord
from operator_agent.browser.discovery import ENV_VAR, chromium_args, find_chromium
from operator_agent.browser.downloads import DownloadRecord, safe_filename
from operator_agent.browser.session import BrowserSession
from operator_agent.browser.tabs import TabInfo

__all__ = [
    "ENV_VAR",
    "BrowserSession",
    "DialogAction",
    "DialogKind",
    "DialogPolicy",
    "DialogRecord",
    "DownloadRecord",
    "RunContext",
    "TabInfo",
    "chromium_args",
    "find_chromium",
    "safe_filename",
]
