"""Run budgets: every run ends, at the latest when one of these runs out."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.models import Usage

__all__ = ["Budget"]


class Budget(BaseModel):
    """Limits for one run. ``None`` means no limit (steps and time always have one).

    Attributes:
        max_steps: Loop steps (one observation and one model reply each).
        max_tokens: Input plus output tokens over all model requests.
        max_cost_usd: Model cost, when the model's price is known.
        timeout_s: Wall-clock time for the whole run, browser start included.
        max_invalid_replies: Consecutive model replies without a usable tool call before the run fails.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: int = Field(default=40, ge=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_cost_usd: float | None = Field(default=None, gt=0)
    timeout_s: float = Field(default=900.0, gt=0)
    max_invalid_replies: int = Field(default=3, ge=1)

    def exceeded(self, *, usage: Usage, steps: int) -> str | None:
        """Which budget is used up, in words, or ``None`` while all remain."""
        if steps >= self.max_steps:
            return f"step budget used up: {steps} of {self.max_steps} steps"
        tokens = usage.input_tokens + usage.output_tokens
        if self.max_tokens is not None and tokens >= self.max_tokens:
            return f"token budget used up: {tokens} of {self.max_tokens} tokens"
        if (
            self.max_cost_usd is not None
            and usage.cost_usd is not None
            and usage.cost_usd >= self.max_cost_usd
        ):
            return f"cost budget used up: ${usage.cost_usd:.4f} of ${self.max_cost_usd:.4f}"
        return None
