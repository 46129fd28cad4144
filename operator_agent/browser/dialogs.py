"""JavaScript dialogs (alert, confirm, prompt, beforeunload): answered by policy, never left hanging.

A page that opens a dialog blocks until someone answers it. :class:`DialogHandler` answers every
dialog of a browser context at once, as its :class:`DialogPolicy` says, and keeps a
:class:`DialogRecord` of what it saw and did. Dialog text comes from the page and is untrusted:
it is recorded and logged (shortened), never obeyed.
"""

from __future__ import annotations

import time
from typing import Literal

from playwright.async_api import Dialog
from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict, Field

from operator_agent.logs import get_logger

__all__ = ["DialogAction", "DialogHandler", "DialogKind", "DialogPolicy", "DialogRecord"]

DialogKind = Literal["alert", "confirm", "prompt", "beforeunload"]
DialogAction = Literal["accept", "dismiss"]

_LOG_MESSAGE_CHARS = 200
_log = get_logger("operator_agent.browser")


class DialogPolicy(BaseModel):
    """How each kind of JavaScript dialog is answered.

    The defaults fail closed: a ``confirm`` ("Delete this invoice?") is dismissed, a ``prompt``
    is dismissed, an ``alert`` is acknowledged, and ``beforeunload`` ("Leave site?") is
    accepted so that navigation the run asked for goes ahead.

    Attributes:
        alert: What to do with ``alert()``. Both answers just close it.
        confirm: ``accept`` clicks OK (``confirm()`` returns true); ``dismiss`` clicks Cancel.
        prompt: ``accept`` submits ``prompt_text``; ``dismiss`` cancels (``prompt()`` returns null).
        prompt_text: The text submitted when a prompt is accepted; ``None`` submits the
            prompt's own default value.
        beforeunload: ``accept`` leaves the page; ``dismiss`` stays on it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alert: DialogAction = "accept"
    confirm: DialogAction = "dismiss"
    prompt: DialogAction = "dismiss"
    prompt_text: str | None = None
    beforeunload: DialogAction = "accept"

    def action_for(self, kind: DialogKind) -> DialogAction:
        """The answer this policy gives to a dialog of ``kind``."""
        answer: DialogAction = getattr(self, kind)
        return answer


class DialogRecord(BaseModel):
    """One JavaScript dialog that was opened during a run, and how it was answered.

    Attributes:
        kind: The dialog's kind.
        message: The text the page showed (untrusted page content).
        default_value: A prompt's default text; empty for other kinds.
        url: The URL of the page that opened it; empty when the page was unknown.
        action: What the policy said to do.
        prompt_text: The text submitted, for an accepted prompt; otherwise ``None``.
        error: Why answering failed (for instance, the page closed first); ``None`` on success.
        at: When the dialog opened, in seconds since the epoch.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: DialogKind
    message: str
    default_value: str = ""
    url: str
    action: DialogAction
    prompt_text: str | None = None
    error: str | None = None
    at: float = Field(ge=0)


_KINDS: dict[str, DialogKind] = {
    "alert": "alert",
    "confirm": "confirm",
    "prompt": "prompt",
    "beforeunload": "beforeunload",
}


def _kind_of(dialog: Dialog) -> DialogKind:
    # Playwright documents exactly these four; anything else is handled like a confirm (fail closed).
    return _KINDS.get(dialog.type, "confirm")


class DialogHandler:
    """Answers the dialogs of one browser context by policy and records them.

    Register :meth:`handle` as the context's ``dialog`` listener. Answering happens in the
    listener itself, so the page is never left waiting.

    Args:
        policy: How to answer each kind of dialog.
    """

    def __init__(self, *, policy: DialogPolicy) -> None:
        self.policy = policy
        self._records: list[DialogRecord] = []

    def take(self) -> list[DialogRecord]:
        """The dialogs recorded since the previous call, oldest first."""
        taken, self._records = self._records, []
        return taken

    async def handle(self, dialog: Dialog) -> None:
        """Answer ``dialog`` as the policy says and record it; never raises."""
        kind = _kind_of(dialog)
        action = self.policy.action_for(kind)
        page = dialog.page
        url = page.url if page is not None else ""
        prompt_text: str | None = None
        if action == "accept" and kind == "prompt":
            prompt_text = self.policy.prompt_text
            if prompt_text is None:
                prompt_text = dialog.default_value
        record = DialogRecord(
            kind=kind,
            message=dialog.message,
            default_value=dialog.default_value,
            url=url,
            action=action,
            prompt_text=prompt_text,
            at=time.time(),
        )
        # Recorded before answering: the answer lets the page go on at once, and whoever
        # observes what it did next must find the dialog already in the record.
        self._records.append(record)
        try:
            if action == "dismiss":
                await dialog.dismiss()
            elif prompt_text is not None:
                await dialog.accept(prompt_text)
            else:
                await dialog.accept()
        except PlaywrightError as exc:
            error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            for i, kept in enumerate(self._records):
                if kept is record:
                    self._records[i] = record.model_copy(update={"error": error})
            _log.warning("dialog could not be answered", kind=kind, action=action, url=url, error=error)
            return
        _log.info(
            "dialog answered",
            kind=kind,
            action=action,
            url=url,
            message=dialog.message[:_LOG_MESSAGE_CHARS],
        )
