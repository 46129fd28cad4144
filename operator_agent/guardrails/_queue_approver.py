"""The :class:`~operator_agent.guardrails.approval.Approver` protocol on an approval queue.

See :mod:`operator_agent.guardrails.queue`, which exports :class:`QueueApprover`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from operator_agent.errors import OperatorAgentError
from operator_agent.guardrails._queue_records import QueuedApproval
from operator_agent.guardrails.approval import ApprovalDecision, ApprovalRequest
from operator_agent.guardrails.fingerprint import request_fingerprint
from operator_agent.logs import get_logger

if TYPE_CHECKING:
    from operator_agent.guardrails.queue import ApprovalQueue

__all__ = ["QueueApprover"]

# The queue's logger: its log lines read the same whichever module of the queue wrote them.
_log = get_logger("operator_agent.guardrails.queue")


class QueueApprover:
    """The :class:`~operator_agent.guardrails.approval.Approver` protocol on an :class:`ApprovalQueue`.

    Each request is queued and waited for; people decide with ``operator-agent approvals`` or any
    tool on the same queue. The approver fails closed: if the queue cannot be used, the action is
    denied and the reason says why.

    Args:
        queue: The queue to submit to.
        on_submit: Called with each queued request, for instance to notify somebody. If it raises,
            the error is logged and the request stays queued.
    """

    def __init__(
        self, *, queue: ApprovalQueue, on_submit: Callable[[QueuedApproval], None] | None = None
    ) -> None:
        self.queue = queue
        self._on_submit = on_submit
        self._ids: dict[tuple[str, int, str], str] = {}

    async def decide(
        self,
        request: ApprovalRequest,
        *,
        fingerprint: str | None = None,
        values: Mapping[str, str] | None = None,
    ) -> ApprovalDecision:
        """Queue the request and wait for a person's decision.

        Args:
            request: What needs approval.
            fingerprint: The action's fingerprint; by default computed from the request and values.
            values: The values about to be submitted, secrets masked.
        """
        try:
            fp = fingerprint or request_fingerprint(request, values=values)
            shown = values if values is not None else request.values
            request_id = await asyncio.to_thread(self.queue.submit, request, fingerprint=fp, values=shown)
            self._notify(request_id)
            decision = await self.queue.wait(request_id)
            if decision.approved:
                self._ids[_key(request)] = request_id
            return decision
        except OperatorAgentError as exc:
            _log.error("approval queue failed", error=str(exc), run_id=request.run_id, step=request.step)
            return ApprovalDecision(
                approved=False,
                reason=f"approval queue failed, so the action is denied: {exc}",
                decided_by="queue:error",
            )

    def _notify(self, request_id: str) -> None:
        if self._on_submit is None:
            return
        try:
            self._on_submit(self.queue.get(request_id))
        except Exception as exc:  # a broken notifier must not lose the request; it stays queued
            _log.error("approval on_submit callback failed", request_id=request_id, error=repr(exc))

    def request_id_for(self, request: ApprovalRequest) -> str | None:
        """The queue id of the approval this approver holds for ``request``, until it is consumed."""
        return self._ids.get(_key(request))

    def consume(
        self,
        request: ApprovalRequest,
        *,
        fingerprint: str | None = None,
        values: Mapping[str, str] | None = None,
    ) -> bool:
        """Claim the approval of ``request`` for execution (see :meth:`ApprovalQueue.consume`).

        Args:
            request: A request this approver decided.
            fingerprint: The fingerprint of what is about to run; by default computed from the
                request and values, which must then describe what is about to run.
            values: The values about to be submitted, secrets masked.

        Returns:
            ``True`` once, if the request was approved here for exactly this action.
        """
        request_id = self._ids.get(_key(request))
        if request_id is None:
            _log.warning("consume of a request this approver never queued", run_id=request.run_id)
            return False
        fp = fingerprint or request_fingerprint(request, values=values)
        if not self.queue.consume(request_id, fingerprint=fp):
            return False
        del self._ids[_key(request)]
        return True


def _key(request: ApprovalRequest) -> tuple[str, int, str]:
    return (request.run_id, request.step, request_fingerprint(request))
