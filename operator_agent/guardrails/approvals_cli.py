"""``operator-agent approvals``: look at and decide queued approval requests.

::

    operator-agent approvals list [--status pending|approved|denied|expired|all]
    operator-agent approvals show ID
    operator-agent approvals approve ID [--reason TEXT]
    operator-agent approvals deny ID --reason TEXT

Every command takes ``--queue PATH`` (default: ``$OPERATOR_AGENT_QUEUE``, else
``.operator-agent/approvals.sqlite``) and ``--json`` (one JSON document on stdout, nothing else);
``approve`` and ``deny`` take ``--by NAME`` (default: the login name). Exit codes: 0 done; 1 the
request was already decided or has expired; 2 bad usage, unknown id or no queue at the path;
3 the queue could not be read or written.

The top-level command wires this in with :func:`add_parser` and :func:`run`; ``python -m
operator_agent.guardrails.approvals_cli approvals ...`` runs it on its own.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from operator_agent.errors import (
    ApprovalConflictError,
    ConfigurationError,
    OperatorAgentError,
    UnknownApprovalError,
)
from operator_agent.guardrails.audit import AuditEvent
from operator_agent.guardrails.queue import ApprovalQueue, QueuedApproval

__all__ = ["DEFAULT_QUEUE_PATH", "QUEUE_ENV_VAR", "add_parser", "main", "queue_path", "run"]

QUEUE_ENV_VAR = "OPERATOR_AGENT_QUEUE"
DEFAULT_QUEUE_PATH = ".operator-agent/approvals.sqlite"

EXIT_OK = 0
EXIT_CONFLICT = 1
EXIT_USAGE = 2
EXIT_ERROR = 3

_STATUSES = ("pending", "approved", "denied", "expired", "all")


def queue_path(explicit: str | None = None) -> Path:
    """The queue file: ``explicit`` if given, else ``$OPERATOR_AGENT_QUEUE``, else the default."""
    return Path(explicit or os.environ.get(QUEUE_ENV_VAR) or DEFAULT_QUEUE_PATH)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    """Add the ``approvals`` command to a parser's subcommands.

    The parsed namespace carries ``handler=run``, so a caller can dispatch with
    ``args.handler(args)``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.

    Returns:
        The ``approvals`` parser.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--queue",
        metavar="PATH",
        default=None,
        help=f"the approval queue file (default: ${QUEUE_ENV_VAR}, else {DEFAULT_QUEUE_PATH})",
    )
    common.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="warning")
    deciding = argparse.ArgumentParser(add_help=False)
    deciding.add_argument("id", help="the request id, as `approvals list` shows it")
    deciding.add_argument(
        "--by", metavar="NAME", default=None, help="who decides, for the audit log (default: login name)"
    )

    approvals = subparsers.add_parser(
        "approvals",
        help="list, show, approve or deny queued approval requests",
        description="Look at and decide the approval requests that runs are waiting on.",
    )
    approvals.set_defaults(handler=run)
    actions = approvals.add_subparsers(dest="approvals_command", required=True, metavar="COMMAND")
    listing = actions.add_parser("list", parents=[common], help="list requests (pending by default)")
    listing.add_argument("--status", choices=_STATUSES, default="pending", help="which requests")
    show = actions.add_parser("show", parents=[common], help="show one request and its history")
    show.add_argument("id", help="the request id")
    approve = actions.add_parser("approve", parents=[common, deciding], help="approve a pending request")
    approve.add_argument("--reason", default="", help="why (optional, kept in the audit log)")
    deny = actions.add_parser("deny", parents=[common, deciding], help="deny a pending request")
    deny.add_argument("--reason", required=True, help="why; the run is told")
    return approvals


def run(args: argparse.Namespace) -> int:
    """Carry out a parsed ``approvals`` command; returns the exit code.

    Args:
        args: What the parser built by :func:`add_parser` returned.
    """
    out, err = sys.stdout, sys.stderr
    path = queue_path(args.queue)
    try:
        if not path.is_file():
            raise ConfigurationError(
                f"no approval queue at {path} (pass --queue PATH or set ${QUEUE_ENV_VAR})"
            )
        queue = ApprovalQueue(path=path)
        command = args.approvals_command
        if command == "list":
            status = None if args.status == "all" else args.status
            items = queue.list(status=status)
            if args.json:
                _emit_json(out, [item.model_dump(mode="json") for item in items])
            else:
                _print_list(out, items, status=args.status, path=path)
            return EXIT_OK
        if command == "show":
            item = queue.get(args.id)
            events = queue.events(request_id=item.id)
            if args.json:
                _emit_json(
                    out,
                    {**item.model_dump(mode="json"), "events": [e.model_dump(mode="json") for e in events]},
                )
            else:
                _print_item(out, item, events)
            return EXIT_OK
        by = args.by or _login_name()
        if command == "approve":
            item = queue.approve(args.id, by=by, reason=args.reason)
        else:
            item = queue.deny(args.id, by=by, reason=args.reason)
        if args.json:
            _emit_json(out, item.model_dump(mode="json"))
        else:
            print(f"{item.status} {item.id} by {item.decided_by}: {item.request.summary()}", file=out)
        return EXIT_OK
    except (UnknownApprovalError, ConfigurationError) as exc:
        return _fail(exc, EXIT_USAGE, as_json=args.json, out=out, err=err)
    except ApprovalConflictError as exc:
        return _fail(exc, EXIT_CONFLICT, as_json=args.json, out=out, err=err)
    except OperatorAgentError as exc:
        return _fail(exc, EXIT_ERROR, as_json=args.json, out=out, err=err)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``approvals`` on its own: ``python -m operator_agent.guardrails.approvals_cli approvals ...``."""
    from operator_agent.logs import configure_logging

    parser = argparse.ArgumentParser(prog="operator-agent")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    configure_logging(level=args.log_level, fmt="json" if args.json else "console")
    code: int = args.handler(args)
    return code


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError) as exc:
        raise ConfigurationError("cannot tell who is deciding (no login name); pass --by NAME") from exc


def _fail(exc: OperatorAgentError, code: int, *, as_json: bool, out: TextIO, err: TextIO) -> int:
    if as_json:
        _emit_json(out, {"status": "error", "error": type(exc).__name__, "message": str(exc)})
    else:
        print(f"operator-agent approvals: {exc}", file=err)
    return code


def _emit_json(out: TextIO, data: Any) -> None:
    out.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _print_list(out: TextIO, items: list[QueuedApproval], *, status: str, path: Path) -> None:
    if not items:
        which = "" if status == "all" else f"{status} "
        print(f"no {which}approval requests in {path}", file=out)
        return
    now = datetime.now(UTC)
    for item in items:
        if item.status == "pending":
            left = max(0, int((item.expires_at - now).total_seconds()))
            state = f"pending ({left}s left)"
        elif item.status == "approved" and item.executed:
            state = "approved, executed"
        else:
            state = item.status
        print(
            f"{item.id}  {_when(item.created_at)}  {state:<20}  run {item.request.run_id} step "
            f"{item.request.step}  {item.request.summary()}",
            file=out,
        )


def _print_item(out: TextIO, item: QueuedApproval, events: list[AuditEvent]) -> None:
    request = item.request
    lines = [
        f"id          : {item.id}",
        f"status      : {item.status}" + (" (executed)" if item.executed else ""),
        f"run / step  : {request.run_id} / {request.step}",
        f"action      : {request.kind}",
        f"target      : {request.target or '-'}",
        f"page        : {request.url}",
        f"reason      : {request.reason}",
    ]
    lines += [
        f"argument    : {key} = {json.dumps(value, ensure_ascii=False)}"
        for key, value in request.arguments.items()
    ]
    lines += [f"value       : {key} = {value!r}" for key, value in item.values.items()]
    lines += [
        f"screenshot  : {request.screenshot or '-'}",
        f"fingerprint : {item.fingerprint}",
        f"created     : {_when(item.created_at)}",
        f"expires     : {_when(item.expires_at)}",
    ]
    if item.status != "pending":
        why = f" — {item.decision_reason}" if item.decision_reason else ""
        lines.append(f"decided     : {_when(item.decided_at)} by {item.decided_by}{why}")
    if item.executed_at is not None:
        lines.append(f"executed    : {_when(item.executed_at)}")
    lines.append("history     :")
    for event in events:
        why = f" — {event.reason}" if event.reason else ""
        lines.append(f"  {_when(event.at)}  {event.event:<9} by {event.by} ({event.origin}){why}")
    print("\n".join(lines), file=out)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
