"""wait_until_idle and dismiss_interruptions: get the page ready before working on it."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.skills import SkillContext, skill

from ._page import dismiss, settle

__all__ = ["IdleReport", "dismiss_interruptions", "wait_until_idle"]


class IdleReport(BaseModel):
    """Whether the page went quiet.

    Attributes:
        idle: The page finished loading, shows no loading indicator, and its DOM and network
            stayed quiet for a moment.
        waited_s: How long the wait took.
        busy: What still looked busy when the wait gave up.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    idle: bool
    waited_s: float
    busy: list[str] = Field(default_factory=list)


@skill
async def wait_until_idle(ctx: SkillContext, *, timeout_s: float = 10.0) -> IdleReport:
    """Wait until the page has finished loading: no spinner, no request in flight, no DOM changes.

    Use it after an action that loads data in the background. It never fails: if the page stays
    busy, the result says what was still busy.

    Args:
        timeout_s: The longest wait, in seconds.
    """
    state = await settle(ctx, timeout_s=max(0.1, min(timeout_s, 120.0)))
    return IdleReport(idle=state.idle, waited_s=state.waited_s, busy=state.busy)


@skill
async def dismiss_interruptions(ctx: SkillContext) -> list[str]:
    """Close what gets in the way of the task: cookie banners, "your session is about to expire"
    warnings (choosing to stay signed in) and what's-new popups.

    It never clicks anything that deletes, submits, pays, sends, confirms or signs out, and it
    leaves alone any dialog it does not recognise as an interruption. Returns what it closed.
    """
    await settle(ctx, timeout_s=5)
    closed = await dismiss(ctx)
    return [item.describe() for item in closed]
