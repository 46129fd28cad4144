"""The exceptions operator-agent raises.

Every error the library raises on purpose derives from :class:`OperatorAgentError`, so a
caller can catch the whole family in one place. Each subclass names one kind of failure; the
message says what failed and where, so it can be shown to a person (or a model) as it is.
"""

from __future__ import annotations

__all__ = [
    "ActionError",
    "ActionFailedError",
    "ApprovalConflictError",
    "ApprovalDeniedError",
    "ApprovalError",
    "BatchError",
    "BrowserError",
    "BrowserNotFoundError",
    "BudgetExhaustedError",
    "CassetteMismatchError",
    "CompileError",
    "ConfigurationError",
    "ElementNotFoundError",
    "HealingFailedError",
    "InvalidActionError",
    "ItemRejectedError",
    "MissingExtraError",
    "ModelError",
    "ModelResponseError",
    "ModelUnavailableError",
    "OperatorAgentError",
    "OutputValidationError",
    "PolicyBlockedError",
    "ReplayError",
    "ReviewConflictError",
    "ScriptExhaustedError",
    "SiteError",
    "SkillDefinitionError",
    "SkillError",
    "SkillFailedError",
    "SkillLoadError",
    "StaleRefError",
    "SyncInAsyncError",
    "TraceError",
    "UnexpectedModelRequestError",
    "UnknownApprovalError",
    "UnknownBatchItemError",
    "UnknownRefError",
    "ValueNotOfferedError",
]


class OperatorAgentError(Exception):
    """Base class of every error raised by operator-agent."""


class ConfigurationError(OperatorAgentError, ValueError):
    """A setting or argument given by the caller is invalid or inconsistent."""


class SyncInAsyncError(OperatorAgentError, RuntimeError):
    """A synchronous facade (such as ``Agent.run_sync``) was called inside a running event loop."""


class BrowserError(OperatorAgentError):
    """The browser could not be started, or failed while the library was driving it."""


class BrowserNotFoundError(BrowserError):
    """No Chromium executable was found; the message lists every place that was tried."""

    def __init__(self, message: str, *, tried: list[str]) -> None:
        super().__init__(message)
        self.tried = tried


class SiteError(OperatorAgentError):
    """A local fixture site could not be found or started."""


class ModelError(OperatorAgentError):
    """The model could not produce a usable reply."""


class ModelUnavailableError(ModelError):
    """The model endpoint kept failing (connection errors, timeouts, 429 or 5xx) after bounded retries."""


class ModelResponseError(ModelError):
    """The model replied, but the reply could not be used (malformed tool call, wrong shape)."""


class UnexpectedModelRequestError(ModelError):
    """A real model endpoint was about to be called where that is forbidden (tests, offline runs)."""


class ScriptExhaustedError(ModelError):
    """A ``ScriptedModel`` was asked for more replies than its script holds."""


class ActionError(OperatorAgentError):
    """An action could not be carried out. The message is suitable to report back to the model."""


class UnknownRefError(ActionError):
    """An action named an element ref that the current observation does not contain."""


class StaleRefError(ActionError):
    """An action named an element ref that existed, but whose element has left the page."""


class InvalidActionError(ActionError):
    """An action's arguments do not fit its target (say, ``select_option`` on a text box)."""


class ActionFailedError(ActionError):
    """Playwright could not carry out an otherwise valid action within its bounded retries."""


class PolicyBlockedError(InvalidActionError):
    """The guardrail policy blocks this action outright (no approval can allow it); nothing was done."""


class BudgetExhaustedError(OperatorAgentError):
    """A run used up one of its budgets (steps, tokens, cost or time)."""


class OutputValidationError(OperatorAgentError):
    """The final answer did not validate against the run's ``output_type``."""


class TraceError(OperatorAgentError):
    """A trace directory or record is missing, corrupt or of an unknown schema version."""


class ApprovalError(OperatorAgentError):
    """The approval queue could not be read or written (missing, corrupt or locked database)."""


class UnknownApprovalError(ApprovalError):
    """An approval request id does not exist in the queue."""


class ApprovalConflictError(ApprovalError):
    """An approval request cannot be decided: it was already approved, denied or has expired."""


class ElementNotFoundError(ActionError):
    """No single visible element matched a lookup; the message lists every strategy tried.

    Attributes:
        tried: One line per strategy, such as ``role=button name="Save": 2 visible elements``.
    """

    def __init__(self, message: str, *, tried: list[str]) -> None:
        super().__init__(message)
        self.tried = tried


class ApprovalDeniedError(OperatorAgentError):
    """A step that needs approval was denied (or the approver failed), so it was not carried out.

    Attributes:
        kind: What was to be done (an action kind, or a skill name).
        target: The element or skill it concerned, if any.
    """

    def __init__(self, message: str, *, kind: str, target: str | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.target = target


class SkillError(OperatorAgentError):
    """A skill could not be defined, loaded or run; the message names the skill and the problem."""


class SkillDefinitionError(SkillError):
    """A function cannot become a skill (untyped parameter, ``*args``, schema that cannot be built)."""


class SkillLoadError(SkillError):
    """A skill source could not be loaded (import error, duplicate name, missing ``SKILL.md``)."""


class SkillFailedError(SkillError):
    """A skill ran but could not do its job; ``step`` names the step that failed.

    Attributes:
        step: The failing step, such as ``"submit"`` or ``'click button "Sign in"'``; empty if unknown.
    """

    def __init__(self, message: str, *, step: str = "") -> None:
        super().__init__(message)
        self.step = step


class ReplayError(OperatorAgentError):
    """Recording, compiling or replaying a run failed (bad skill folder, missing parameter, cassette)."""


class CompileError(ReplayError):
    """A trace cannot become a skill (run not completed, step without a target, invalid name)."""


class HealingFailedError(ReplayError):
    """A replayed step could not find its element, or its postcondition failed, and no heal worked.

    Attributes:
        step: The step number in the compiled skill.
        intent: What the step does, as recorded (``click button "Save draft"``).
        tried: One line per strategy tried and what it found.
        screenshot: A screenshot of the page when the step failed, if one could be taken.
    """

    def __init__(
        self, message: str, *, step: int, intent: str, tried: list[str], screenshot: str | None = None
    ) -> None:
        super().__init__(message)
        self.step = step
        self.intent = intent
        self.tried = tried
        self.screenshot = screenshot


class CassetteMismatchError(ReplayError):
    """A model request does not match the recorded cassette; the message holds a diff of what changed.

    Attributes:
        index: The 1-based number of the request that did not match.
        diff: A unified diff between the recorded request and this one (empty if it was not recorded).
    """

    def __init__(self, message: str, *, index: int, diff: str = "") -> None:
        super().__init__(message)
        self.index = index
        self.diff = diff


class BatchError(OperatorAgentError):
    """A batch journal could not be read or written, or a batch operation does not fit its state."""


class UnknownBatchItemError(BatchError):
    """A batch or an item key does not exist in the journal."""


class ReviewConflictError(BatchError):
    """A review item cannot be resolved this way: it is not awaiting review, or was resolved already."""


class ItemRejectedError(OperatorAgentError):
    """A batch item's data was refused (invalid input, the site's own validation): retrying cannot help.

    Attributes:
        fields: The fields at fault, when known (``["vendor"]``).
    """

    def __init__(self, message: str, *, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.fields = list(fields or [])


class MissingExtraError(OperatorAgentError, ImportError):
    """An optional feature needs packages that are not installed; the message names the extra."""


class ValueNotOfferedError(SkillFailedError, ItemRejectedError):
    """A value does not fit its field: no such option, not a yes/no, not a date.

    Both a :class:`SkillFailedError` (a skill could not do its job, with the step) and an
    :class:`ItemRejectedError` (the input is at fault, so retrying cannot help: a batch sends the
    item to review instead of trying again).

    Attributes:
        step: The failing step, such as ``'choose "Vendor"'``.
        fields: The fields at fault (the field's label as the page shows it).
    """

    def __init__(self, message: str, *, step: str = "", fields: list[str] | None = None) -> None:
        super().__init__(message, step=step)
        self.fields = list(fields or [])
