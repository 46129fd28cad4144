"""What a skill run reports: the steps it took and a result written for the model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SkillResult", "SkillStep"]


class SkillStep(BaseModel):
    """One step a skill took through its context (a click, a fill, an approval, a model call...).

    Attributes:
        number: The step's position in the run, from 1.
        skill: The skill that took it (nested skills report their own name).
        kind: What was done: an action kind (``click``, ``fill``...), ``approval``, ``act``,
            ``extract`` or ``skill`` (a nested skill call).
        target: The element or skill it concerned, such as ``button "Save draft"``.
        ok: Whether it did what it was asked to.
        message: What happened, as the executor reported it (never a secret value).
        duration_ms: How long it took.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: int = Field(ge=1)
    skill: str
    kind: str
    target: str | None = None
    ok: bool
    message: str = ""
    duration_ms: float = Field(default=0.0, ge=0)

    def describe(self) -> str:
        """The step in a few words, such as ``step 3 (click button "Save")``."""
        target = f" {self.target}" if self.target else ""
        return f"step {self.number} ({self.kind}{target})"


class SkillResult(BaseModel):
    """The outcome of one skill call, for a script or for the model that called the skill as a tool.

    Attributes:
        skill: The skill's name.
        ok: Whether the skill did its job.
        value: What the skill returned, as JSON-compatible data (``None`` on failure).
        message: A short account written for the model: what was done, or what failed and where.
        error: The error class name when ``ok`` is false (``SkillFailedError``,
            ``ElementNotFoundError``, ``ApprovalDeniedError``, ``InvalidArguments``...).
        failed_step: The step that failed, such as ``step 4 (click button "Submit")``, if known.
        steps: Every step taken, in order.
        duration_ms: The whole call, in milliseconds.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    skill: str
    ok: bool
    value: Any = None
    message: str
    error: str | None = None
    failed_step: str | None = None
    steps: tuple[SkillStep, ...] = ()
    duration_ms: float = Field(default=0.0, ge=0)

    @property
    def denied(self) -> bool:
        """Whether the skill stopped because an approval was denied."""
        return self.error == "ApprovalDeniedError"
