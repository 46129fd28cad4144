"""The ``operator-agent`` command.

``operator-agent run "TASK" --start-url URL [options]`` runs one task with an OpenAI-compatible
model. With ``--json`` it prints one JSON object on stdout (status, output, steps, usage,
trace_dir) and nothing else; logs go to stderr. The exit code is 0 only for ``completed``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import Any

from operator_agent.batch import cli as batch_cli
from operator_agent.errors import OperatorAgentError
from operator_agent.guardrails import approvals_cli
from operator_agent.guardrails.approval import Approver, approver_for_mode
from operator_agent.replay import cli as replay_cli

__all__ = ["main"]

EXIT_OK = 0
EXIT_NOT_COMPLETED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="operator-agent",
        description="Trustworthy LLM-driven browser automation for back-office web work.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="carry out one task in a browser")
    run.add_argument("task", help="what to do, in plain language")
    run.add_argument("--start-url", required=True, help="the http(s) page to start from")
    run.add_argument("--model", default=None, help="model name (default: $OPENAI_MODEL)")
    run.add_argument(
        "--base-url", default=None, help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)"
    )
    run.add_argument("--max-steps", type=int, default=40, help="step budget (default: 40)")
    run.add_argument(
        "--timeout", type=float, default=900.0, help="wall-clock budget in seconds (default: 900)"
    )
    run.add_argument(
        "--allowed-domain",
        action="append",
        default=[],
        metavar="HOST",
        help=(
            "a host the run may reach, subdomains included (repeatable); every other request is "
            "blocked in the browser. Default: no restriction"
        ),
    )
    run.add_argument(
        "--approval",
        choices=["ask", "deny", "approve-all"],
        default="ask",
        help=(
            "how actions that need approval are decided: ask a person on this terminal (denied when "
            "there is no terminal), deny all, or approve all (mock sites only). The engine's policy "
            "decides which actions need approval."
        ),
    )
    run.add_argument("--trace-dir", default="runs", help="where run traces are written (default: ./runs)")
    run.add_argument("--headed", action="store_true", help="show the browser window")
    run.add_argument("--json", action="store_true", help="print one JSON object with the result on stdout")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="warning")
    run.add_argument(
        "--approval-queue",
        metavar="PATH",
        default=None,
        help=(
            "wait for decisions in this approval queue (decided with `operator-agent approvals`) "
            "instead of --approval"
        ),
    )
    approvals_cli.add_parser(sub)
    replay_cli.add_parsers(sub)
    batch_cli.add_parsers(sub)
    return parser


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from operator_agent.agent import Agent
    from operator_agent.budget import Budget
    from operator_agent.models import OpenAIModel

    model = OpenAIModel(model=args.model, base_url=args.base_url)
    agent = Agent(
        model=model,
        budget=Budget(max_steps=args.max_steps, timeout_s=args.timeout),
        approver=_approver(args),
        trace_dir=args.trace_dir,
        headless=not args.headed,
        allowed_domains=args.allowed_domain or None,
    )
    result = await agent.run(args.task, start_url=args.start_url)
    return {
        "status": result.status,
        "output": result.output,
        "reason": result.reason,
        "steps": len(result.steps),
        "usage": result.usage.model_dump(mode="json"),
        "trace_dir": str(result.trace_dir) if result.trace_dir else None,
        "run_id": result.run_id,
    }


def _approver(args: argparse.Namespace) -> Approver:
    if args.approval_queue is None:
        return approver_for_mode(args.approval)
    from operator_agent.guardrails.queue import ApprovalQueue, QueueApprover

    return QueueApprover(queue=ApprovalQueue(path=args.approval_queue))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``operator-agent`` command; returns the exit code."""
    from operator_agent.logs import configure_logging

    args = _parser().parse_args(argv)
    configure_logging(level=args.log_level, fmt="json" if getattr(args, "json", False) else "console")
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))
    try:
        summary = asyncio.run(_run(args))
    except OperatorAgentError as exc:
        if args.json:
            print(json.dumps({"status": "error", "error": type(exc).__name__, "message": str(exc)}))
        else:
            print(f"operator-agent: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    if args.json:
        print(json.dumps(summary, default=str))
    else:
        print(f"status: {summary['status']}")
        print(f"reason: {summary['reason']}")
        if summary["output"] is not None:
            print("output: " + json.dumps(summary["output"], indent=2, default=str))
        print(
            f"steps: {summary['steps']}  tokens: {summary['usage'].get('input_tokens', 0)} in / "
            f"{summary['usage'].get('output_tokens', 0)} out"
        )
        if summary["trace_dir"]:
            print(f"trace: {summary['trace_dir']}")
    return EXIT_OK if summary["status"] == "completed" else EXIT_NOT_COMPLETED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
