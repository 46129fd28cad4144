"""What came of one action: the record the executor hands back to the agent loop."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from operator_agent.actions import Action

if TYPE_CHECKING:
    from operator_agent.act.watch import PageState

__all__ = ["NOT_EXECUTED", "ActionOutcome", "StepResult"]

#: The message of an action that a batch skipped because the page changed before its turn.
NOT_EXECUTED = "not executed: the page changed, observe again"


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """The result of carrying out (or trying to carry out) one action.

    Attributes:
        action: The action, as it was asked for.
        ok: Whether the action did what it was asked to do.
        message: What happened, written for the model and passed back to it as is; it never holds
            the value of a secret.
        error: The name of the error class when ``ok`` is false (``UnknownRefError``,
            ``StaleRefError``, ``InvalidActionError``, ``ActionFailedError``), else ``None``.
        navigated: Whether the tab now shows another page: its URL changed, a new document
            loaded, or another tab became the current one. Refs of the old page are gone.
        url_after: The URL of the current tab after the action.
        field_value: What the field shows after ``fill``, ``select_option`` or ``upload_file``;
            ``None`` for other actions and for fills from a secret.
        duration_ms: How long the action took, in milliseconds.
        executed: False when a batch skipped the action (the page changed under it, or an
            earlier action failed); such an outcome has ``ok`` false and ``error`` ``None``.
    """

    action: Action
    ok: bool
    message: str
    error: str | None
    navigated: bool
    url_after: str
    field_value: str | None
    duration_ms: float
    executed: bool = True


@dataclass(frozen=True, slots=True)
class StepResult:
    """What a handler reports; the executor adds timing, navigation and the page's URL.

    Attributes:
        message: What happened, for the model.
        field_value: What the field shows afterwards, for field actions.
        ok: False when the action ran but did not achieve its aim (a field that did not keep the
            text, a wait that timed out, an HTTP error page).
        error: The error class name when ``ok`` is false.
        settled: The page as the handler read it last, together with the element, after letting
            it run (see :mod:`operator_agent.act.readback`); the executor then does not read it
            again. ``None`` when the handler did not, or did something after that read.
    """

    message: str
    field_value: str | None = None
    ok: bool = True
    error: str | None = None
    settled: PageState | None = None

    def with_note(self, note: str) -> StepResult:
        """The same result with ``note`` put before the message."""
        if not note:
            return self
        return replace(self, message=f"{note}; {self.message}")

    def settled_as(self, settled: PageState | None) -> StepResult:
        """The same result with the page as the handler last read it (see ``settled``)."""
        return self if settled is None else replace(self, settled=settled)
