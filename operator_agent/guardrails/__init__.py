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
from operator_agent.guardrails.domains import DomainAllowlist

__all__ = [
    "ApprovalDecision",
    "ApprovalRequest",
    "Approver",
    "CallbackApprover",
    "ConsoleApprover",
    "DomainAllowlist",
    "PolicyApprover",
    "approver_for_mode",
]
