"""Carrying out actions on the page through Playwright.

:class:`ActionExecutor` takes the actions of :mod:`operator_agent.actions` and the refs of the
latest observation, acts on the current tab, and returns one :class:`ActionOutcome` per action,
with a message written for the model.
"""

from __future__ import annotations

from operator_agent.act.executor import ActionExecutor
from operator_agent.act.outcome import NOT_EXECUTED, ActionOutcome
from operator_agent.act.tabs import ContextTabs, Tabs

__all__ = ["NOT_EXECUTED", "ActionExecutor", "ActionOutcome", "ContextTabs", "Tabs"]
