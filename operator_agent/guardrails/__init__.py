"""Guardrails: approvals before irreversible actions, domain limits, audit.

Nothing read from a page can grant approval, widen the allowlist or change the policy.
"""

from __future__ import annotations

from operator_agent.guardrails.approval import (
    ApprovalDecision,
    ApprovalRequest,
    Approver,
    CallbackApprover,
    ConsoleApprover,
    PolicyApprover,
    approver_for_mode,
)
from operator_agent.guardrails.audit import AuditEvent, AuditLog
from operator_agent.guardrails.domains import DomainAllowlist
from operator_agent.guardrails.fingerprint import action_fingerprint, request_fingerprint
from operator_agent.guardrails.policy import Policy, Verdict
from operator_agent.guardrails.queue import ApprovalQueue, QueueApprover, QueuedApproval

__all__ = [
    "ApprovalDecision",
    "ApprovalQueue",
    "ApprovalRequest",
    "Approver",
    "AuditEvent",
    "AuditLog",
    "CallbackApprover",
    "ConsoleApprover",
    "DomainAllowlist",
    "Policy",
    "PolicyApprover",
    "QueueApprover",
    "QueuedApproval",
    "Verdict",
    "action_fingerprint",
    "approver_for_mode",
    "request_fingerprint",
]
