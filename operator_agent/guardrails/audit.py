"""The approval audit log: one JSON line per event, appended, never rewritten.

Every step in the life of an approval request is one :class:`AuditEvent`: ``requested``,
``approved``, ``denied``, ``expired``, ``executed`` and ``refused`` (an execution attempt turned
down, for instance because the action no longer matches the approved fingerprint). Each line says
who, when (UTC, ISO 8601), which run and step, which exact action (fingerprint, kind, target, URL,
arguments and submitted values, with secrets masked), the screenshot the person saw, the decision
and the reason. The format is documented in ``docs/guardrails.md``.

:class:`AuditLog` only ever opens its file for appending. Each event is written with a single
``write`` under an exclusive lock and synced to disk, so several processes can share one log.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer, field_validator

from operator_agent.errors import TraceError
from operator_agent.guardrails.approval import ApprovalRequest
from operator_agent.logs import get_logger, redact_text

if sys.platform != "win32":
    import fcntl

__all__ = [
    "AUDIT_SCHEMA_VERSION",
    "AuditEvent",
    "AuditEventKind",
    "AuditLog",
    "mask_secrets",
    "origin_of_this_process",
]

AUDIT_SCHEMA_VERSION = 1

AuditEventKind = Literal["requested", "approved", "denied", "expired", "executed", "refused"]

_log = get_logger("operator_agent.guardrails.audit")


def mask_secrets(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Replace secret values with ``[REDACTED]`` in every string inside ``value``.

    Args:
        value: Plain JSON data (strings, numbers, lists, str-keyed dicts).
        secrets: Secret values to hide, on top of those registered with
            :func:`operator_agent.logs.register_secret_values` in the current context.
    """
    hidden = frozenset(s for s in secrets if s)
    return _mask(value, hidden)


def _mask(value: Any, extra: frozenset[str]) -> Any:
    if isinstance(value, str):
        text = redact_text(value)
        return redact_text(text, extra) if extra else text
    if isinstance(value, Mapping):
        return {key: _mask(item, extra) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(item, extra) for item in value]
    return value


def origin_of_this_process() -> str:
    """``user@host pid N``: which operating-system account and process wrote an event.

    The ``by`` of a decision is whatever name the person gave; the origin is what the machine knows.
    """
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry (some containers)
        user = f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


class AuditEvent(BaseModel):
    """One line of the audit log.

    Attributes:
        v: Schema version of the line.
        event: What happened.
        at: When, in UTC.
        request_id: The approval request (``None`` for events outside a queue).
        run_id: The run that asked.
        step: The loop step of the action.
        fingerprint: The action fingerprint the event is about; for ``refused`` the one presented.
        kind: The action kind.
        target: The target element as shown to the person.
        url: The page of the action.
        arguments: The action's arguments, secrets masked.
        values: The values about to be submitted, secrets masked.
        screenshot: Path of the screenshot the person saw, if any.
        by: Who acted: the person for decisions, ``queue:timeout`` for expiry, ``run:<id>`` for the
            run's own requests and executions.
        origin: The operating-system user, host and process that wrote the event.
        decision: ``approved`` or ``denied`` for decisions (expiry is a denial), else ``None``.
        reason: Why: the request's reason, the person's reason, or why execution was refused.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    event: AuditEventKind
    at: datetime
    request_id: str | None
    run_id: str
    step: int
    fingerprint: str
    kind: str
    target: str | None
    url: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    values: dict[str, str] = Field(default_factory=dict)
    screenshot: str | None = None
    by: str
    origin: str
    decision: Literal["approved", "denied"] | None = None
    reason: str = ""

    @field_validator("at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("'at' must carry a time zone (UTC)")
        return value.astimezone(UTC)

    @field_serializer("at")
    def _iso(self, value: datetime) -> str:
        return value.isoformat(timespec="microseconds")

    @classmethod
    def for_request(
        cls,
        event: AuditEventKind,
        *,
        request: ApprovalRequest,
        fingerprint: str,
        by: str,
        request_id: str | None = None,
        values: Mapping[str, str] | None = None,
        decision: Literal["approved", "denied"] | None = None,
        reason: str = "",
        at: datetime | None = None,
    ) -> AuditEvent:
        """Build an event about ``request``, masking registered secrets.

        Args:
            event: What happened.
            request: The approval request the event is about.
            fingerprint: The fingerprint of the action.
            by: Who acted.
            request_id: The queue's id for the request.
            values: The values about to be submitted.
            decision: The decision this event records, if any.
            reason: Why.
            at: When; now by default.
        """
        return cls(
            event=event,
            at=at or datetime.now(UTC),
            request_id=request_id,
            run_id=request.run_id,
            step=request.step,
            fingerprint=fingerprint,
            kind=request.kind,
            target=mask_secrets(request.target),
            url=mask_secrets(request.url),
            arguments=mask_secrets(dict(request.arguments)),
            values=mask_secrets(dict(values or {})),
            screenshot=request.screenshot,
            by=by,
            origin=origin_of_this_process(),
            decision=decision,
            reason=mask_secrets(reason),
        )


class AuditLog:
    """An append-only JSONL file of :class:`AuditEvent` lines, safe to share between processes.

    Args:
        path: The log file; it and its folder are created on the first event.
        secrets: Secret values masked in every event, on top of the ones registered with
            :func:`operator_agent.logs.register_secret_values`.
    """

    def __init__(self, *, path: str | os.PathLike[str], secrets: Iterable[str] = ()) -> None:
        self.path = Path(path)
        self.secrets = frozenset(s for s in secrets if s)

    def record(self, event: AuditEvent) -> None:
        """Append one event as one line, synced to disk before returning.

        Raises:
            TraceError: The file cannot be written.
        """
        data = mask_secrets(event.model_dump(mode="json"), self.secrets)
        line = json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n"
        payload = line.encode("utf-8")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TraceError(f"cannot open audit log {self.path} for appending: {exc}") from exc
        try:
            if sys.platform != "win32":
                fcntl.flock(fd, fcntl.LOCK_EX)
            size = os.fstat(fd).st_size
            # A writer that died mid-line must not swallow this event into its torn line.
            if size and os.pread(fd, 1, size - 1) != b"\n":
                payload = b"\n" + payload
            view = memoryview(payload)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except OSError as exc:
            raise TraceError(f"cannot append to audit log {self.path}: {exc}") from exc
        finally:
            os.close(fd)  # also releases the lock
        _log.debug("audit event recorded", audit_event=event.event, request_id=event.request_id)

    def read(self, *, request_id: str | None = None) -> list[AuditEvent]:
        """Every event in the log, oldest first; an absent file is an empty log.

        Args:
            request_id: Only the events of this approval request.

        Raises:
            TraceError: A line is not a valid event (the message names the file and line), or the
                file cannot be read.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as exc:
            raise TraceError(f"cannot read audit log {self.path}: {exc}") from exc
        events: list[AuditEvent] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise TraceError(f"{self.path}:{number}: not a JSON line ({exc.msg})") from exc
            if isinstance(raw, dict) and raw.get("v") != AUDIT_SCHEMA_VERSION:
                raise TraceError(
                    f"{self.path}:{number}: audit schema version {raw.get('v')!r} is not supported "
                    f"(this version of operator-agent reads version {AUDIT_SCHEMA_VERSION})"
                )
            try:
                event = AuditEvent.model_validate(raw)
            except ValidationError as exc:
                raise TraceError(f"{self.path}:{number}: not a valid audit event: {exc}") from exc
            if request_id is None or event.request_id == request_id:
                events.append(event)
        return events
