"""Reading Playwright's errors: which ones are worth another try, and what to tell the model.

Playwright already waits for an element to be visible, enabled, stable and not covered before it
acts, and says in its call log why it kept waiting. This module turns that log into one sentence a
model can act on, and decides whether a failed attempt may be retried: only when nothing can have
happened on the page yet.
"""

from __future__ import annotations

import re

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

__all__ = [
    "action_delivered",
    "describe_playwright_error",
    "is_retryable",
    "may_have_acted",
    "merge_call_logs",
]

# Call-log lines Playwright writes once the input event has been sent to the page.
_ACTED_MARKERS = ("click action done", "performing click action", "performing tap action")
_DETACHED_MARKERS = (
    "element is not attached to the dom",
    "element was detached from the dom",
    "element is detached",
    "node is detached from document",
)
_INTERCEPT = re.compile(r"^\s*-\s*(?P<element><.*?>.*?) intercepts pointer events", re.MULTILINE)
_SUBTREE_INTERCEPT = re.compile(
    r"^\s*-\s*(?P<element><.*?>.*?) from (?P<owner><.*?>.*?) subtree intercepts pointer events", re.MULTILINE
)


def _call_log(error: PlaywrightError) -> str:
    return error.message.partition("Call log:")[2]


def may_have_acted(error: PlaywrightError) -> bool:
    """Whether the page may already have received the input (so repeating it is unsafe)."""
    log = _call_log(error).lower()
    return any(marker in log for marker in _ACTED_MARKERS)


def action_delivered(error: PlaywrightError) -> bool:
    """Whether Playwright timed out only after the input was delivered.

    Playwright reports ``click action done`` and then waits for a navigation the click started;
    a slow next page makes that wait time out although the click itself happened.
    """
    return (
        isinstance(error, PlaywrightTimeoutError)
        and re.search(r"\b\w+ action done", _call_log(error)) is not None
    )


def is_retryable(error: BaseException) -> bool:
    """Whether a failed attempt can simply be tried again.

    Timeouts (the element was hidden, covered, moving or missing for the whole attempt) and
    elements detached while acting are retried; anything that may already have reached the page,
    and every other error (bad arguments, closed page), is not.
    """
    if not isinstance(error, PlaywrightError) or may_have_acted(error):
        return False
    if isinstance(error, PlaywrightTimeoutError):
        return True
    message = error.message.lower()
    return any(marker in message for marker in _DETACHED_MARKERS)


def merge_call_logs(errors: list[PlaywrightError]) -> PlaywrightError:
    """One error carrying the call logs of every attempt, the last attempt's error first.

    A short last attempt may end before Playwright logs why it waits (say, an overlay that covers
    the element); the earlier attempts' logs keep that reason for the model.
    """
    last = errors[-1]
    if len(errors) == 1:
        return last
    head = last.message.partition("Call log:")[0].rstrip()
    logs = "".join(_call_log(error) for error in errors)
    merged = type(last)(f"{head}\nCall log:{logs}")
    return merged


def _first_line(error: PlaywrightError) -> str:
    line = error.message.partition("Call log:")[0].strip().splitlines()[0] if error.message.strip() else ""
    # "Locator.click: Error: Not a checkbox" -> "Not a checkbox"
    line = re.sub(r"^[A-Za-z]+\.[A-Za-z]+: ", "", line)
    return line.removeprefix("Error: ").strip()


def _shorten(html: str, limit: int = 90) -> str:
    return html if len(html) <= limit else html[: limit - 3] + "..."


def describe_playwright_error(error: PlaywrightError, *, what: str, timeout_s: float) -> str:
    """One sentence for the model about why Playwright could not act.

    Args:
        error: The Playwright error.
        what: What was being attempted, such as ``click button "Save" [e3]``.
        timeout_s: How long the action was allowed, for timeout messages.
    """
    log = _call_log(error)
    lower = log.lower()
    if isinstance(error, PlaywrightTimeoutError):
        subtree = _SUBTREE_INTERCEPT.findall(log)
        intercept = _INTERCEPT.findall(log)
        if subtree:
            element, owner = subtree[-1]
            return (
                f"could not {what}: {_shorten(element)} inside {_shorten(owner)} covers it for "
                f"{timeout_s:g} s; close or finish that first (a dialog or overlay?)"
            )
        if intercept:
            return (
                f"could not {what}: another element, {_shorten(intercept[-1])}, covers it for "
                f"{timeout_s:g} s; close or finish that first (a dialog or overlay?)"
            )
        reasons = [
            (
                "element is not visible",
                "it is not visible (hidden, collapsed or scrolled away in a closed area)",
            ),
            ("element is not enabled", "it is disabled"),
            ("element is disabled", "it is disabled"),
            ("element is not editable", "it is read-only"),
            ("element is not stable", "it kept moving (an animation?)"),
            ("element is outside of the viewport", "it stays outside of the visible area"),
        ]
        # The log repeats each attempt; the last reason written is the one that still held.
        latest = max(reasons, key=lambda pair: lower.rfind(pair[0]))
        if latest[0] in lower:
            return f"could not {what} within {timeout_s:g} s: {latest[1]}"
        if "locator resolved to" not in lower and "waiting for" in lower:
            return f"could not {what}: the element did not appear within {timeout_s:g} s"
        return f"could not {what}: it did not complete within {timeout_s:g} s"
    if "target page, context or browser has been closed" in error.message.lower():
        return f"could not {what}: the tab was closed"
    if "execution context was destroyed" in error.message.lower():
        return f"could not finish {what}: the page navigated away meanwhile"
    return f"could not {what}: {_first_line(error) or 'Playwright reported an unknown error'}"
