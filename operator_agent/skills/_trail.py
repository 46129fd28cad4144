"""The bookkeeping behind a skill context: which skills are running, approvals, and the steps taken.

A :class:`Trail` is shared by every skill that runs on one context (skills call skills). It knows
which skills are in progress and whether an irreversible one was approved, asks the approval
callback (failing closed), numbers and logs each step, and counts the irreversible steps done so
a failure message can say that nothing irreversible happened.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from operator_agent.errors import ApprovalDeniedError
from operator_agent.guardrails.approval import ApprovalRequest, Approver
from operator_agent.logs import get_logger
from operator_agent.skills.result import SkillStep

__all__ = ["ApproveCallback", "Scope", "Trail", "approval_callback"]

if TYPE_CHECKING:
    from operator_agent.act import Tabs

ApproveCallback = Callable[[str, str | None, dict[str, Any]], Awaitable[bool]]
"""Asks whether a step may run: ``(kind, target description, arguments) -> approved``."""


def approval_callback(
    approver: Approver, *, run_id: str, tabs: Tabs, step: Callable[[], int] | None = None
) -> ApproveCallback:
    """Adapt an :class:`~operator_agent.guardrails.approval.Approver` to a skill context's ``approve``.

    Each question becomes an :class:`~operator_agent.guardrails.approval.ApprovalRequest` with the
    page's URL and a reason naming the skill; the approver's decision answers it.

    Args:
        approver: Who decides (a console, a policy, a callback into a BPO tool).
        run_id: The run, shown to the approver.
        tabs: The run's tabs; the request carries the current tab's URL.
        step: Returns the loop step the skill runs in (0 when not given).
    """

    async def approve(kind: str, target: str | None, arguments: dict[str, Any]) -> bool:
        skill = arguments.get("skill")
        if target == f"skill {kind}":
            reason = f"skill '{kind}' is irreversible: it asks once, before it starts"
        else:
            reason = f"skill '{skill}' marks this step irreversible" if skill else "the step is irreversible"
        request = ApprovalRequest(
            run_id=run_id,
            step=step() if step is not None else 0,
            kind=kind,
            target=target,
            url=tabs.page.url,
            reason=reason,
            arguments=arguments,
        )
        decision = await approver.decide(request)
        return decision.approved

    return approve


class Scope:
    """One skill call in progress."""

    def __init__(self, *, name: str, irreversible: bool) -> None:
        self.name = name
        self.irreversible = irreversible
        self.approved = False


class Trail:
    """Running skills, approvals and steps of one skill context.

    Args:
        approve: The approval callback; ``None`` allows every step.
        run_id: Bound into every log line.
        on_step: Called with each step as it is recorded.
    """

    def __init__(
        self,
        *,
        approve: ApproveCallback | None,
        run_id: str,
        on_step: Callable[[SkillStep], None] | None,
    ) -> None:
        self._approve = approve
        self.run_id = run_id
        self._on_step = on_step
        self.scopes: list[Scope] = []
        self.steps: list[SkillStep] = []
        self.irreversible_done = 0

    @property
    def skill_name(self) -> str | None:
        """The innermost skill running, if any."""
        return self.scopes[-1].name if self.scopes else None

    def log(self) -> Any:
        """A logger bound with the run id and the running skill."""
        return get_logger("operator_agent.skills", run_id=self.run_id, skill=self.skill_name)

    def push(self, *, name: str, irreversible: bool) -> Scope:
        """Note that a skill starts."""
        scope = Scope(name=name, irreversible=irreversible)
        self.scopes.append(scope)
        return scope

    def pop(self, scope: Scope) -> None:
        """Note that a skill ended."""
        if self.scopes and self.scopes[-1] is scope:
            self.scopes.pop()

    def covered(self) -> bool:
        """Whether an enclosing irreversible skill was approved as a whole."""
        return any(scope.irreversible and scope.approved for scope in self.scopes)

    async def gate(
        self, kind: str, target: str | None, arguments: dict[str, Any], *, irreversible: bool
    ) -> None:
        """Ask for approval if the step is irreversible (or inside an irreversible skill) and not
        already covered by the approval of its skill.

        Raises:
            ApprovalDeniedError: If the approver denied the step or failed.
        """
        needs = irreversible or any(scope.irreversible for scope in self.scopes)
        if not needs or self.covered():
            return
        await self.ask(kind, target, {**arguments, "skill": self.skill_name})

    async def approve_skill(self, scope: Scope, arguments: dict[str, Any]) -> None:
        """Ask once for a whole irreversible skill; its steps are then covered by that approval.

        Raises:
            ApprovalDeniedError: If the approver denied the skill or failed.
        """
        if not self.covered():
            await self.ask(scope.name, f"skill {scope.name}", arguments)
        scope.approved = True

    async def ask(self, kind: str, target: str | None, arguments: dict[str, Any]) -> None:
        """Ask the approval callback; a denial (or a failing callback) raises.

        Raises:
            ApprovalDeniedError: If the approver denied or failed.
        """
        log = self.log()
        if self._approve is None:
            log.info("approval not required: no approver configured", kind=kind, target=target)
            return
        started = time.perf_counter()
        log.info("approval requested", kind=kind, target=target)
        try:
            approved = bool(await self._approve(kind, target, arguments))
            problem = ""
        except Exception as exc:  # fail closed: a broken approver approves nothing
            approved, problem = False, f" (the approver failed: {exc!r})"
        log.info("approval decided", kind=kind, target=target, approved=approved)
        verdict = "approved" if approved else f"denied{problem}"
        self.record("approval", f"{kind} {target}" if target else kind, approved, verdict, started)
        if not approved:
            what = f"{kind} on {target}" if target else kind
            raise ApprovalDeniedError(
                f"approval denied for {what}{problem}; it was not carried out", kind=kind, target=target
            )

    def record(self, kind: str, target: str | None, ok: bool, message: str, started: float) -> SkillStep:
        """Add one step, log it and pass it to ``on_step``."""
        step = SkillStep(
            number=len(self.steps) + 1,
            skill=self.skill_name or "",
            kind=kind,
            target=target,
            ok=ok,
            message=message,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        self.steps.append(step)
        self.log().info(
            "skill step", step=step.number, kind=kind, target=target, ok=ok, duration_ms=step.duration_ms
        )
        if self._on_step is not None:
            self._on_step(step)
        return step
