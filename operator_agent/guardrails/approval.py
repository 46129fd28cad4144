"""Approvals: who decides whether an irreversible action may run.

The agent asks an :class:`Approver` before it executes an action that needs approval. Built-ins:

* :class:`PolicyApprover` decides by a fixed rule, for unattended runs and CI;
* :class:`CallbackApprover` wraps any sync or async callable, the integration point for BPO tools;
* :class:`ConsoleApprover` asks a person on a terminal and denies, saying why, when there is none.

Approvers fail closed: an approver that raises, or a console without a terminal, means *denied*.
"""

from __future__ import annotations

import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol, TextIO, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from operator_agent.logs import get_logger

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "Approver",
    "CallbackApprover",
    "ConsoleApprover",
    "PolicyApprover",
    "approver_for_mode",
]

_log = get_logger("operator_agent.guardrails")


class ApprovalRequest(BaseModel):
    """Everything a person needs to decide on one action.

    Attributes:
        run_id: The run asking.
        step: The loop step.
        kind: The action kind (``click``, ``fill`` ...).
        target: The element, as the observation described it (``button "Submit" [e12]``).
        url: The page the action would run on.
        reason: Why the action needs approval (the model's reason and the rule that fired).
        arguments: The action's arguments; secret values are never included.
        values: The values the action would submit (the fields of the form it submits), with
            password and secret fields masked.
        screenshot: Path of a screenshot of the page, when one was taken.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    step: int
    kind: str
    target: str | None
    url: str
    reason: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    values: dict[str, str] = Field(default_factory=dict)
    screenshot: str | None = None

    def summary(self) -> str:
        """One line for a person: what, where, why."""
        target = f" on {self.target}" if self.target else ""
        return f"{self.kind}{target} at {self.url} — {self.reason}"


class ApprovalDecision(BaseModel):
    """The answer to an :class:`ApprovalRequest`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approved: bool
    reason: str = ""
    decided_by: str


@runtime_checkable
class Approver(Protocol):
    """Decides on approval requests."""

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        """Approve or deny one action."""
        ...


class PolicyApprover:
    """Decides by a fixed rule, never asking anybody.

    Args:
        mode: ``deny`` refuses every action that needs approval (the safe default for CI);
            ``approve`` accepts every one (for mock sites only).
    """

    def __init__(self, *, mode: Literal["deny", "approve"] = "deny") -> None:
        self.mode = mode

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        approved = self.mode == "approve"
        verdict = "approves" if approved else "denies"
        return ApprovalDecision(
            approved=approved,
            reason=f"unattended policy {verdict} every action that needs approval",
            decided_by=f"policy:{self.mode}",
        )


DecisionLike = ApprovalDecision | bool


class CallbackApprover:
    """Adapts a function to the :class:`Approver` protocol.

    Args:
        callback: Called with the request; returns an :class:`ApprovalDecision` or a bool, directly
            or as an awaitable. If it raises, the action is denied.
        name: Shown as ``decided_by`` when the callback returns a bool.
    """

    def __init__(
        self,
        callback: Callable[[ApprovalRequest], DecisionLike | Awaitable[DecisionLike]],
        *,
        name: str = "callback",
    ) -> None:
        self._callback = callback
        self._name = name

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        try:
            result = self._callback(request)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # fail closed: a broken integration must not approve anything
            _log.error("approval callback failed", error=repr(exc), run_id=request.run_id)
            return ApprovalDecision(
                approved=False, reason=f"approval callback failed: {exc!r}", decided_by=self._name
            )
        if isinstance(result, ApprovalDecision):
            return result
        if isinstance(result, bool):
            return ApprovalDecision(approved=result, decided_by=self._name)
        return ApprovalDecision(
            approved=False,
            reason=f"approval callback returned {type(result).__name__}, not a bool or ApprovalDecision",
            decided_by=self._name,
        )


class ConsoleApprover:
    """Asks a person at a terminal; denies when there is no terminal (CI, pipes, cron).

    Args:
        stdin: Where answers are read from.
        stdout: Where the request is shown.
    """

    def __init__(self, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self._in = stdin if stdin is not None else sys.stdin
        self._out = stdout if stdout is not None else sys.stderr

    def _interactive(self) -> bool:
        try:
            return self._in.isatty()
        except (AttributeError, ValueError):
            return False

    async def decide(self, request: ApprovalRequest) -> ApprovalDecision:
        if not self._interactive():
            return ApprovalDecision(
                approved=False,
                reason="approval needed but there is no terminal to ask (stdin is not a TTY): denied",
                decided_by="console:no-tty",
            )
        return await asyncio.to_thread(self._ask, request)

    def _ask(self, request: ApprovalRequest) -> ApprovalDecision:
        lines = [
            "",
            "=== Approval needed ===",
            f"action : {request.kind}",
            f"target : {request.target or '-'}",
            f"page   : {request.url}",
            f"reason : {request.reason}",
        ]
        lines += [f"arg    : {key} = {value!r}" for key, value in request.arguments.items()]
        lines += [f"submits: {key} = {value!r}" for key, value in request.values.items()]
        if request.screenshot:
            lines.append(f"screenshot: {request.screenshot}")
        self._out.write("\n".join(lines) + "\nApprove? [y]es / [n]o: ")
        self._out.flush()
        answer = self._in.readline().strip().lower()
        if answer in {"y", "yes"}:
            return ApprovalDecision(approved=True, decided_by="console")
        self._out.write("Reason for denial (optional): ")
        self._out.flush()
        why = self._in.readline().strip()
        return ApprovalDecision(approved=False, reason=why or "denied at the console", decided_by="console")


def approver_for_mode(mode: Literal["ask", "deny", "approve-all"]) -> Approver:
    """The approver behind the CLI's ``--approval`` flag."""
    if mode == "ask":
        return ConsoleApprover()
    return PolicyApprover(mode="deny" if mode == "deny" else "approve")
