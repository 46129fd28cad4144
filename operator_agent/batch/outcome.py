"""What one item's run produced, and how a failure is classified: retried, or sent to a person.

The rule: an error that may go away on its own (the site answered 500, an element had not shown
up yet, the session expired, the browser crashed, the model endpoint was down) is *transient* and
retried with backoff. An error that says the item itself is wrong (a missing field, an invalid
amount, a vendor the site does not know) is *rejected* and goes to review at once: retrying it
would only repeat the refusal. A denial goes to review too. Anything else is a bug in the task: it
is not retried either.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Error as PlaywrightError
from pydantic import ValidationError

from operator_agent.errors import (
    ActionError,
    ApprovalDeniedError,
    BrowserError,
    BudgetExhaustedError,
    ConfigurationError,
    ItemRejectedError,
    ModelUnavailableError,
    OutputValidationError,
    ReplayError,
    SkillFailedError,
)
from operator_agent.models import Usage

__all__ = ["ErrorClass", "ItemOutcome", "SessionExpiredError", "TransientItemError", "classify_error"]

ErrorClass = Literal["transient", "rejected", "denied", "budget", "bug"]


class TransientItemError(Exception):
    """Raised by a task (or the runner) for a failure worth another attempt.

    Attributes:
        kind: The class name of the underlying error, for the journal.
    """

    def __init__(self, message: str, *, kind: str = "TransientItemError") -> None:
        super().__init__(message)
        self.kind = kind


class SessionExpiredError(TransientItemError):
    """Raised by a task when the site signed it out (sent to the sign-in page): the pool signs in
    again before the next attempt, instead of reusing the stale session."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="SessionExpired")


def classify_error(exc: BaseException) -> ErrorClass:
    """How the runner treats an error raised while an item ran.

    * ``rejected``: :class:`~operator_agent.errors.ItemRejectedError`, invalid skill arguments
      (:class:`~operator_agent.errors.ConfigurationError`), a pydantic ``ValidationError`` on the
      input, an output that does not validate;
    * ``denied``: :class:`~operator_agent.errors.ApprovalDeniedError`;
    * ``budget``: :class:`~operator_agent.errors.BudgetExhaustedError`;
    * ``transient``: actions and skills that failed on the page, browser and Playwright errors,
      timeouts, connection errors, an unreachable model, a replay that could not heal;
    * ``bug``: anything else.
    """
    if isinstance(exc, ItemRejectedError | ValidationError | ConfigurationError | OutputValidationError):
        return "rejected"
    if isinstance(exc, ApprovalDeniedError):
        return "denied"
    if isinstance(exc, BudgetExhaustedError):
        return "budget"
    transient = (
        TransientItemError,
        ActionError,
        SkillFailedError,
        BrowserError,
        PlaywrightError,
        ModelUnavailableError,
        ReplayError,
        TimeoutError,
        asyncio.TimeoutError,
        ConnectionError,
    )
    if isinstance(exc, transient):
        return "transient"
    return "bug"


@dataclass
class ItemOutcome:
    """How one item's run ended, as a task reports it.

    Attributes:
        status: ``completed``; ``needs_review`` (low confidence, the model asked for a person, a
            denial); or ``failed`` (a failure that is not worth retrying, such as a budget).
        output: What the task produced (JSON-compatible, or a pydantic model).
        reason: How it ended, in words.
        confidence: The confidence of the result, when the task has one (a skill's deterministic
            result has none: it is trusted).
        review_reason: Why a person must look, for ``needs_review``.
        usage: Model usage not already counted with ``ctx.add_usage``.
        trace_dirs: Trace folders written by the run.
        screenshots: Screenshots a person may look at.
        steps: What was done, one line per step.
        reasoning: The model's own words about the run, if a model was involved.
        used_fallback: The model took over from a compiled skill that could not finish.
    """

    status: Literal["completed", "needs_review", "failed"]
    output: Any = None
    reason: str = ""
    confidence: float | None = None
    review_reason: (
        Literal["low_confidence", "asked_for_human", "denied", "budget_exhausted", "rejected_by_site"] | None
    ) = None
    usage: Usage = field(default_factory=Usage)
    trace_dirs: list[Path] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    reasoning: str = ""
    used_fallback: bool = False
