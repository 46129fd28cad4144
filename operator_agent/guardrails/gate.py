"""The approval gate: ask, bind the decision to the exact action, check it again, execute once.

For an action that needs approval the gate builds an :class:`ApprovalRequest` (with the values the
action would submit), asks the approver, and, if approved, reads the page again right before
execution: a different URL, target or value means the approval does not cover what would run, so
a new request is made (fail closed). An approver that can consume approvals (the durable queue)
is asked to claim it, so an approval executes exactly once. Every step lands in the run's audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Page

from operator_agent.actions import PageAction
from operator_agent.guardrails.approval import ApprovalDecision, ApprovalRequest, Approver
from operator_agent.guardrails.audit import AuditEvent, AuditEventKind, AuditLog
from operator_agent.guardrails.fingerprint import request_fingerprint
from operator_agent.guardrails.values import submitted_values
from operator_agent.logs import get_logger
from operator_agent.observe.refs import ElementRef

__all__ = ["ApprovalGate", "Clearance", "audit_log_for"]

_log = get_logger("operator_agent.guardrails")


@dataclass(frozen=True)
class Clearance:
    """The outcome of :meth:`ApprovalGate.clear`."""

    approved: bool
    message: str
    request: ApprovalRequest | None = None
    fingerprint: str | None = None


class ApprovalGate:
    """Clears actions that need approval, for one run.

    Args:
        approver: Who decides.
        run_id: The run.
        audit: The run's audit log, if it keeps one.
        max_rounds: How many times a changing action is re-asked before it is refused.
    """

    def __init__(
        self, *, approver: Approver, run_id: str, audit: AuditLog | None = None, max_rounds: int = 3
    ) -> None:
        self._approver = approver
        self._run_id = run_id
        self._audit = audit
        self._max_rounds = max_rounds

    async def _request(
        self,
        *,
        step: int,
        action: PageAction,
        element: ElementRef | None,
        why: str,
        page: Page,
        screenshot: str | None,
    ) -> ApprovalRequest:
        arguments = action.model_dump(exclude={"reason", "irreversible"})
        kind = str(arguments.pop("kind"))
        return ApprovalRequest(
            run_id=self._run_id,
            step=step,
            kind=kind,
            target=element.describe() if element is not None else None,
            url=page.url,
            reason=why,
            arguments=arguments,
            values=await submitted_values(element),
            screenshot=screenshot,
        )

    def _record(
        self,
        event: AuditEventKind,
        request: ApprovalRequest,
        fingerprint: str,
        *,
        by: str,
        decision: ApprovalDecision | None = None,
        reason: str = "",
    ) -> None:
        if self._audit is None:
            return
        verdict: Any = None if decision is None else ("approved" if decision.approved else "denied")
        self._audit.record(
            AuditEvent.for_request(
                event,
                request=request,
                fingerprint=fingerprint,
                by=by,
                values=request.values,
                decision=verdict,
                reason=reason,
            )
        )

    async def clear(
        self,
        *,
        step: int,
        action: PageAction,
        element: ElementRef | None,
        why: str,
        page: Page,
        screenshot: str | None = None,
    ) -> Clearance:
        """Ask for approval until the approved action is exactly the one about to run.

        Returns:
            A clearance: ``approved`` when the action may run now (once); otherwise its
            ``message`` says why not, for the model.
        """
        for round_number in range(1, self._max_rounds + 1):
            request = await self._request(
                step=step, action=action, element=element, why=why, page=page, screenshot=screenshot
            )
            fingerprint = request_fingerprint(request)
            self._record("requested", request, fingerprint, by="agent", reason=why)
            _log.info(
                "approval requested",
                run_id=self._run_id,
                step=step,
                action=request.kind,
                target=request.target,
            )
            decision = await self._approver.decide(request)
            _log.info(
                "approval decided",
                run_id=self._run_id,
                step=step,
                approved=decision.approved,
                by=decision.decided_by,
                why=decision.reason,
            )
            self._record(
                "approved" if decision.approved else "denied",
                request,
                fingerprint,
                by=decision.decided_by,
                decision=decision,
                reason=decision.reason,
            )
            if not decision.approved:
                why_not = decision.reason or "no reason given"
                return Clearance(
                    approved=False, message=f"denied by {decision.decided_by}: {why_not}; nothing was done"
                )
            now = await self._request(
                step=step, action=action, element=element, why=why, page=page, screenshot=screenshot
            )
            if request_fingerprint(now) != fingerprint:
                self._record(
                    "refused", now, request_fingerprint(now), by="agent", reason="changed after approval"
                )
                _log.warning(
                    "action changed after approval; asking again",
                    run_id=self._run_id,
                    step=step,
                    round=round_number,
                )
                continue
            consume = getattr(self._approver, "consume", None)
            if consume is not None and not consume(request, fingerprint=fingerprint):
                self._record(
                    "refused", request, fingerprint, by="agent", reason="approval already used or changed"
                )
                return Clearance(
                    approved=False,
                    message="the approval was already used or no longer matches; nothing was done",
                )
            return Clearance(approved=True, message="", request=request, fingerprint=fingerprint)
        return Clearance(
            approved=False,
            message=(
                f"the action kept changing between approval and execution ({self._max_rounds} approvals); "
                "nothing was done"
            ),
        )

    def executed(self, clearance: Clearance, *, ok: bool, message: str) -> None:
        """Record in the audit log that a cleared action ran (or failed while running)."""
        if clearance.request is not None and clearance.fingerprint is not None:
            self._record(
                "executed", clearance.request, clearance.fingerprint, by="agent", reason=message[:300]
            )
            if not ok:
                _log.warning("approved action failed", run_id=self._run_id, detail=message[:300])


def audit_log_for(run_dir: Path | None) -> AuditLog | None:
    """The per-run audit log, ``<run_dir>/audit.jsonl``."""
    return AuditLog(path=run_dir / "audit.jsonl") if run_dir is not None else None
