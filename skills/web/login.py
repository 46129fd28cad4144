"""login: sign in with a username and a password secret, and a TOTP code when the site asks for one."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict

from operator_agent.errors import SkillFailedError
from operator_agent.skills import SkillContext, skill

from ._page import dismiss, script, settle

__all__ = ["LoginResult", "login"]

LOGIN_ATTR = "data-oa-login"

_FAILURE = re.compile(
    r"incorrect|invalid|wrong|not valid|failed|not recognized|unknown|denied|locked|try again|too many", re.I
)


class LoginResult(BaseModel):
    """How the sign-in went.

    Attributes:
        username: Who signed in.
        url: The page reached after signing in.
        second_factor: Whether a TOTP code was asked for and given.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str
    url: str
    second_factor: bool


async def _state(ctx: SkillContext) -> dict[str, Any]:
    for _ in range(20):
        try:
            state: dict[str, Any] = await ctx.page.evaluate(script("login"), LOGIN_ATTR)
            return state
        except PlaywrightError:
            await asyncio.sleep(0.1)
    raise SkillFailedError(
        f"the sign-in page did not finish loading ({ctx.page.url})", step="read sign-in page"
    )


def _failure_message(state: dict[str, Any]) -> str | None:
    return next((m for m in state["messages"] if _FAILURE.search(m)), None)


async def _submit(ctx: SkillContext, state: dict[str, Any], field: str) -> None:
    if state["submit"]:
        await ctx.click(ctx.page.locator(f'[{LOGIN_ATTR}="submit"]'))
    else:
        await ctx.press("Enter", target=ctx.page.locator(f'[{LOGIN_ATTR}="{field}"]'))
    await settle(ctx, timeout_s=15)
    # The next step's page may greet us with a banner or pop-up of its own.
    await dismiss(ctx)


async def _after(ctx: SkillContext, step: str, *, leaving: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The page state once the step's field is gone, or a failure message shows (bounded wait)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = await _state(ctx)
        message = _failure_message(state)
        if message is not None and state[leaving]:
            raise SkillFailedError(f"sign-in failed: {message}", step=step)
        if not state[leaving] or time.monotonic() >= deadline:
            return state
        await asyncio.sleep(0.2)


@skill
async def login(
    ctx: SkillContext, *, username: str, password_secret: str, totp_secret: str | None = None
) -> LoginResult:
    """Sign in on the page's login form, with a second-factor (TOTP) code if the site asks for one.

    Detects a rejected password or code and fails with the site's own message instead of waiting.

    Args:
        username: The user name (or email) to sign in with.
        password_secret: The name of the secret that holds the password.
        totp_secret: The name of the secret that holds the TOTP seed (base32), for sites with a
            second step asking for a 6-digit code.
    """
    await settle(ctx, timeout_s=10)
    await dismiss(ctx)
    state = await _state(ctx)
    if not state["password"] and state["user"]:
        # Username first, password on the next step.
        await ctx.fill(ctx.page.locator(f'[{LOGIN_ATTR}="user"]'), username)
        await _submit(ctx, state, "user")
        state = await _after(ctx, "submit the username", leaving="user")
    if not state["password"]:
        if state["code"] or state["user"]:
            raise SkillFailedError(f"no password field on {state['url']}", step="find the login form")
        raise SkillFailedError(f"no login form on {state['url']}", step="find the login form")
    if state["user"]:
        await ctx.fill(ctx.page.locator(f'[{LOGIN_ATTR}="user"]'), username)
    await ctx.fill(ctx.page.locator(f'[{LOGIN_ATTR}="password"]'), secret=password_secret)
    await _submit(ctx, state, "password")
    state = await _after(ctx, "submit the password", leaving="password")
    if state["password"]:
        shown = "; ".join(state["messages"]) or "the page shows no message"
        raise SkillFailedError(
            f"still on the sign-in form after submitting ({shown})", step="submit the password"
        )
    second = False
    if state["code"]:
        if totp_secret is None:
            raise SkillFailedError(
                "the site asks for a verification code, but no totp_secret was given", step="second factor"
            )
        await ctx.fill_totp(ctx.page.locator(f'[{LOGIN_ATTR}="code"]'), secret=totp_secret)
        await _submit(ctx, state, "code")
        state = await _after(ctx, "submit the verification code", leaving="code")
        if state["code"]:
            shown = "; ".join(state["messages"]) or "the page shows no message"
            raise SkillFailedError(f"the verification code was not accepted ({shown})", step="second factor")
        second = True
    await dismiss(ctx)
    return LoginResult(username=username, url=ctx.page.url, second_factor=second)
