"""Small pieces of the loop: step records, summaries for the model, and loop detection."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import TypeAdapter

from operator_agent.act import ActionOutcome
from operator_agent.actions import Action, Click, Fill, PageAction, Press
from operator_agent.models import ToolCall
from operator_agent.observe.refs import ElementRef
from operator_agent.trace import ActionRecord

__all__ = [
    "LoopDetector",
    "action_record",
    "jsonable",
    "may_submit",
    "outcome_text",
    "signature",
    "summarize",
    "target_of",
    "tool_specs",
]


class LoopDetector:
    """Notices the same actions repeated while the page stays the same.

    Args:
        warn_after: Repeats after which the model is warned.
        stop_after: Repeats after which the run ends.
    """

    def __init__(self, *, warn_after: int, stop_after: int) -> None:
        self._warn_after = warn_after
        self._stop_after = stop_after
        self._prev_digest: str | None = None
        self._last: str | None = None
        self._repeating: str | None = None
        self._streak = 0

    def acted(self, signatures: Sequence[str]) -> None:
        """Remember what the latest step did (its page actions' signatures)."""
        self._last = "||".join(signatures) if signatures else None

    def observe(self, digest: str) -> tuple[str | None, str | None]:
        """Take the new observation's digest; returns (reason to stop, warning for the model)."""
        if self._prev_digest == digest and self._last is not None:
            if self._last == self._repeating:
                self._streak += 1
            else:
                self._repeating, self._streak = self._last, 1
        else:
            self._repeating, self._streak = None, 0
        self._prev_digest = digest
        if self._streak >= self._stop_after:
            return (
                f"stuck in a loop: the same actions were repeated {self._streak} times without any effect",
                None,
            )
        if self._streak >= self._warn_after:
            return None, (
                f"You repeated the same actions {self._streak} times and the page did not change. "
                "Try something different, or call `fail` if the task cannot be done."
            )
        return None, None


def target_of(action: Action, refs: Mapping[str, ElementRef]) -> ElementRef | None:
    ref = getattr(action, "ref", None)
    return refs.get(ref) if isinstance(ref, str) else None


def signature(action: Action, element: ElementRef | None) -> str:
    args = action.model_dump(exclude={"reason", "irreversible", "ref"})
    where = f"{element.role}:{element.name}" if element is not None else ""
    return f"{where}|{json.dumps(args, sort_keys=True, default=str)}"


def may_submit(action: PageAction) -> bool:
    """Actions whose effect depends on the page at the moment they run (they may submit)."""
    return isinstance(action, Click | Press) or (isinstance(action, Fill) and action.submit)


def tool_specs() -> list[dict[str, Any]]:
    from operator_agent.actions import action_tool_specs

    return action_tool_specs()


def action_record(
    call: ToolCall,
    element: ElementRef | None,
    *,
    outcome: ActionOutcome | None = None,
    ok: bool = False,
    message: str = "",
    error: str | None = None,
    locators: list[dict[str, str]] | None = None,
) -> ActionRecord:
    try:
        arguments = call.parsed_arguments()
    except Exception:
        arguments = {"_raw": call.arguments}
    return ActionRecord(
        tool_call_id=call.id,
        kind=call.name,
        arguments=arguments,
        target=element.describe() if element is not None else None,
        ok=outcome.ok if outcome is not None else ok,
        message=outcome.message if outcome is not None else message,
        error=outcome.error if outcome is not None else error,
        navigated=outcome.navigated if outcome is not None else False,
        url_after=outcome.url_after if outcome is not None else None,
        duration_ms=round(outcome.duration_ms, 1) if outcome is not None else 0.0,
        locators=locators or [],
    )


def outcome_text(outcome: ActionOutcome) -> str:
    prefix = "ok" if outcome.ok else f"error ({outcome.error})" if outcome.error else "skipped"
    return f"{prefix}: {outcome.message}"


def summarize(records: Sequence[ActionRecord], text: str) -> str:
    if not records:
        return f"replied without an action: {text[:120]!r}"
    parts = []
    for r in records:
        target = f" {r.target}" if r.target else ""
        state = "ok" if r.ok else "failed"
        parts.append(f"{r.kind}{target} → {state}: {r.message[:100]}")
    return "; ".join(parts)


def jsonable(value: Any) -> Any:
    return TypeAdapter(Any).dump_python(value, mode="json")
