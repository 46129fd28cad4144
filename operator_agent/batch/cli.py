"""Command-line parts for batches: ``batch run|resume|status|pause|cancel``, ``review list|show|resolve``
and ``report BATCH``.

:func:`add_parsers` adds them to the ``operator-agent`` command; :func:`main` runs them on their own
(``python -m operator_agent.batch.cli batch status --journal ops.db``). A task is named by its import
path, ``module:attribute``, where the attribute is an ``ItemTask``, a skill (run as a
:class:`~operator_agent.batch.SkillTask`) or a function without arguments returning one of those.
Exit codes: 0 when all went well, 1 when items wait for review, the batch stopped early or the
report raised an alert, 2 for usage errors, 3 for errors.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from operator_agent.errors import ConfigurationError, OperatorAgentError

__all__ = ["add_parsers", "load_task", "main"]

EXIT_OK = 0
EXIT_ATTENTION = 1
EXIT_USAGE = 2
EXIT_ERROR = 3


def load_task(spec: str) -> Any:
    """The task named by ``module:attribute`` (a task, a skill, or a factory of either).

    Raises:
        ConfigurationError: The spec is malformed, the module cannot be imported, or the attribute
            is missing or not a task.
    """
    from operator_agent.batch.tasks import ItemTask, SkillTask
    from operator_agent.skills import Skill

    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"--task must look like module:attribute, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import the task module {module_name!r}: {exc}") from exc
    try:
        value = getattr(module, attribute)
    except AttributeError:
        raise ConfigurationError(f"module {module_name!r} has no attribute {attribute!r}") from None
    if isinstance(value, Skill):
        return SkillTask(value)
    if not isinstance(value, ItemTask) and callable(value):
        try:
            value = value()
        except TypeError as exc:
            raise ConfigurationError(
                f"{spec} is not a batch task, nor a factory without arguments: {exc}"
            ) from None
        if isinstance(value, Skill):
            return SkillTask(value)
    if not isinstance(value, ItemTask):
        raise ConfigurationError(f"{spec} is not a batch task (it needs a name and an async run(ctx, item))")
    return value


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", required=True, metavar="PATH", help="the batch journal (SQLite file)")
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="warning")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", required=True, metavar="MODULE:ATTR", help="the task each item runs as")
    parser.add_argument("--concurrency", type=int, default=2, help="browser contexts at once (default 2)")
    parser.add_argument("--max-attempts", type=int, default=3, help="attempts per item (default 3)")
    parser.add_argument(
        "--backoff", type=float, default=1.0, metavar="S", help="first retry delay (default 1 s)"
    )
    parser.add_argument(
        "--approval",
        choices=["deny", "approve-all", "ask"],
        default="deny",
        help="how irreversible steps are decided when no --approval-queue is given: deny all (default), "
        "approve all (a batch approved as a whole by a supervisor), or ask on this terminal",
    )
    parser.add_argument("--approval-queue", metavar="PATH", help="wait for decisions in this approval queue")
    parser.add_argument(
        "--confidence-threshold", type=float, default=0.8, help="below it, items go to review"
    )
    parser.add_argument("--fresh-contexts", action="store_true", help="a new browser context for every item")
    parser.add_argument("--memory-ceiling-mb", type=float, default=None, help="open no context above this")
    parser.add_argument("--storage-state", metavar="FILE", help="a signed-in storage state to start from")
    parser.add_argument(
        "--verify", action="store_true", help="confirm each success with the idempotency check"
    )
    parser.add_argument(
        "--item-timeout", type=float, default=600.0, metavar="S", help="budget of one attempt"
    )
    parser.add_argument(
        "--events", metavar="FILE", help="write structured events as JSON lines ('-' for stdout)"
    )
    parser.add_argument("--headed", action="store_true", help="show the browser")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar, even on a terminal")


def add_parsers(subparsers: Any) -> None:
    """Add ``batch``, ``review`` and ``report`` to an ``argparse`` sub-parser collection.

    Each sub-command sets ``handler`` (a function of the parsed arguments returning the exit code).
    """
    batch = subparsers.add_parser("batch", help="run, resume and watch batches of items")
    batch_sub = batch.add_subparsers(dest="batch_command", required=True)
    run = batch_sub.add_parser("run", help="run a batch from a CSV or JSONL file (resumes it if it exists)")
    run.add_argument("--input", required=True, metavar="FILE", help="the items: .csv or .jsonl")
    run.add_argument("--key", metavar="FIELD", help="the field holding each item's idempotency key")
    run.add_argument("--batch-id", required=True, help="the batch's id, such as 2026-10-month-end")
    run.add_argument("--shadow", action="store_true", help="stop every item before its irreversible step")
    _run_options(run)
    _common(run)
    run.set_defaults(handler=_cmd_run)
    resume = batch_sub.add_parser("resume", help="continue a paused, cancelled or crashed batch")
    resume.add_argument("batch_id")
    _run_options(resume)
    _common(resume)
    resume.set_defaults(handler=_cmd_run)
    status = batch_sub.add_parser("status", help="items per state of a batch (or list the batches)")
    status.add_argument("batch_id", nargs="?")
    _common(status)
    status.set_defaults(handler=_cmd_status)
    for name, word in (("pause", "finish the items under way, then stop"), ("cancel", "stop now")):
        control = batch_sub.add_parser(name, help=f"ask the processes running a batch to {word}")
        control.add_argument("batch_id")
        _common(control)
        control.set_defaults(handler=_cmd_control, control=name)

    review = subparsers.add_parser("review", help="the items waiting for a person")
    review_sub = review.add_subparsers(dest="review_command", required=True)
    listing = review_sub.add_parser("list", help="list the review queue")
    listing.add_argument("--batch", dest="batch_id", default=None)
    _common(listing)
    listing.set_defaults(handler=_cmd_review_list)
    show = review_sub.add_parser("show", help="everything about one review item")
    show.add_argument("batch_id")
    show.add_argument("key")
    _common(show)
    show.set_defaults(handler=_cmd_review_show)
    resolve = review_sub.add_parser("resolve", help="record a decision on a review item")
    resolve.add_argument("batch_id")
    resolve.add_argument("key")
    resolve.add_argument("--as", dest="resolution", required=True,
                         choices=["accepted", "done_manually", "retry", "skipped"])  # fmt: skip
    resolve.add_argument("--by", required=True, help="who decides")
    resolve.add_argument("--note", default="", help="why")
    resolve.add_argument("--data", default=None, metavar="JSON", help="corrected input, with --as retry")
    _common(resolve)
    resolve.set_defaults(handler=_cmd_review_resolve)

    report = subparsers.add_parser("report", help="KPIs of a batch as JSON and a self-contained HTML page")
    report.add_argument("batch_id")
    report.add_argument(
        "--out", default=None, metavar="DIR", help="where to write (default: the batch's folder)"
    )
    report.add_argument("--earlier", type=int, default=5, help="earlier batches to compare with")
    report.add_argument(
        "--alert-below", type=float, default=0.9, help="completion rate that raises the alert"
    )
    report.add_argument(
        "--drift-tolerance", type=float, default=0.1, help="largest drop against earlier batches"
    )
    report.add_argument("--reference", metavar="FILE", help="human results to compare a shadow batch with")
    report.add_argument("--reference-key", metavar="FIELD", help="the reference's key column")
    report.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="REF=FIELD",
        help="a reference column and the submitted field it must equal (repeatable)",
    )
    _common(report)
    report.set_defaults(handler=_cmd_report)


def _journal(args: argparse.Namespace) -> Any:
    """The journal of a command that reads or steers existing batches (it must exist)."""
    from operator_agent.batch.journal import Journal

    if not Path(args.journal).is_file():
        raise ConfigurationError(f"no batch journal at {args.journal}")
    return Journal(path=args.journal)


def _out(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, default=str, ensure_ascii=False) if args.json else text)


def _errors(handler: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(handler(args))
        except ConfigurationError as exc:
            print(f"operator-agent: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except OperatorAgentError as exc:
            print(f"operator-agent: {type(exc).__name__}: {exc}", file=sys.stderr)
            return EXIT_ERROR

    return wrapped


def _approver(args: argparse.Namespace) -> Any:
    from operator_agent.guardrails.approval import approver_for_mode

    if args.approval_queue:
        from operator_agent.guardrails.queue import ApprovalQueue, QueueApprover

        return QueueApprover(queue=ApprovalQueue(path=args.approval_queue))
    return approver_for_mode(args.approval)


@_errors
def _cmd_run(args: argparse.Namespace) -> int:
    from operator_agent.batch.items import read_items
    from operator_agent.batch.progress import JsonLinesSink, ProgressBar
    from operator_agent.batch.runner import BatchRunner

    task = load_task(args.task)
    items = read_items(args.input, key=args.key) if getattr(args, "input", None) else None
    callbacks = []
    stream: IO[str] | None = None
    if args.events:
        stream = sys.stdout if args.events == "-" else open(args.events, "a", encoding="utf-8")  # noqa: SIM115
        callbacks.append(JsonLinesSink(stream))
    runner = BatchRunner(
        task=task,
        journal=args.journal,
        concurrency=args.concurrency,
        max_attempts=args.max_attempts,
        backoff_s=args.backoff,
        max_backoff_s=max(30.0, args.backoff),
        approver=_approver(args),
        confidence_threshold=args.confidence_threshold,
        reuse_contexts=not args.fresh_contexts,
        memory_ceiling_mb=args.memory_ceiling_mb,
        storage_state=args.storage_state,
        headless=not args.headed,
        item_timeout_s=args.item_timeout,
        verify_completion=args.verify,
        progress=None if args.no_progress else ProgressBar(),
        on_event=callbacks,
    )

    async def go() -> Any:
        loop = asyncio.get_running_loop()
        presses = 0

        def interrupted() -> None:
            nonlocal presses
            presses += 1
            (runner.pause if presses == 1 else runner.cancel)(args.batch_id)
            word = (
                "pausing after the items under way (Ctrl-C again to cancel)" if presses == 1 else "cancelling"
            )
            print(f"\noperator-agent: {word}", file=sys.stderr)

        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal.SIGINT, interrupted)
            loop.add_signal_handler(signal.SIGTERM, lambda: runner.cancel(args.batch_id))
        if items is not None:
            return await runner.run(items, batch_id=args.batch_id, mode="shadow" if args.shadow else "live")
        return await runner.resume(args.batch_id)

    try:
        summary = asyncio.run(go())
    finally:
        if stream is not None and stream is not sys.stdout:
            stream.close()
    counts = summary.counts
    text = (
        f"batch {summary.batch_id}: {summary.status} in {summary.duration_s:.0f} s — "
        + ", ".join(f"{state} {n}" for state, n in counts.items() if n)
        + (f"\n{summary.in_review} item(s) wait for review: operator-agent review list --batch "
           f"{summary.batch_id} --journal {args.journal}" if summary.in_review else "")
    )  # fmt: skip
    _out(args, summary.model_dump(mode="json"), text)
    return EXIT_OK if summary.status == "finished" and not summary.in_review else EXIT_ATTENTION


def _status_line(batch_id: str, status: str, mode: str, counts: dict[str, int]) -> str:
    review = counts["failed"] + counts["needs_review"]
    left = counts["pending"] + counts["running"] + counts["awaiting_approval"]
    done = counts["completed"]
    return f"{batch_id:<28} {status:<10} {mode:<7} done {done:>4}  review {review:>3}  left {left:>4}"


@_errors
def _cmd_status(args: argparse.Namespace) -> int:
    journal = _journal(args)
    if args.batch_id is None:
        batches = journal.batches()
        rows = [
            {"id": b.id, "task": b.task, "mode": b.mode, "status": b.status, "counts": journal.counts(b.id)}
            for b in batches
        ]
        text = (
            "\n".join(_status_line(b.id, b.status, b.mode, journal.counts(b.id)) for b in batches)
            or "no batches in this journal"
        )
        _out(args, {"batches": rows}, text)
        return EXIT_OK
    info = journal.batch(args.batch_id)
    counts = journal.counts(args.batch_id)
    text = f"batch {info.id} ({info.task}, {info.mode}): {info.status}" + (
        f", {info.control} requested" if info.control else ""
    )
    text += "\n" + "\n".join(f"  {state:<18} {n}" for state, n in counts.items())
    _out(args, {"batch": info.model_dump(mode="json"), "counts": counts}, text)
    return EXIT_OK


@_errors
def _cmd_control(args: argparse.Namespace) -> int:
    _journal(args).request(args.batch_id, args.control)
    _out(
        args,
        {"batch_id": args.batch_id, "requested": args.control},
        f"{args.control} requested for {args.batch_id}",
    )
    return EXIT_OK


@_errors
def _cmd_review_list(args: argparse.Namespace) -> int:
    from operator_agent.batch.review import ReviewQueue

    items = ReviewQueue(journal=_journal(args)).list(args.batch_id)
    text = (
        "\n".join(
            f"{i.batch_id:<20} {i.key:<24} {i.state:<13} {i.review_reason or '-':<18} {i.reason[:90]}"
            for i in items
        )
        or "the review queue is empty"
    )
    rows = [
        {
            "batch_id": i.batch_id,
            "key": i.key,
            "state": i.state,
            "review_reason": i.review_reason,
            "reason": i.reason,
        }
        for i in items
    ]
    _out(args, {"items": rows}, text)
    return EXIT_OK


@_errors
def _cmd_review_show(args: argparse.Namespace) -> int:
    from operator_agent.batch.review import ReviewQueue

    entry = ReviewQueue(journal=_journal(args)).show(args.batch_id, args.key)
    _out(args, entry.model_dump(mode="json"), entry.describe())
    return EXIT_OK


@_errors
def _cmd_review_resolve(args: argparse.Namespace) -> int:
    from operator_agent.batch.review import ReviewQueue

    data = None
    if args.data is not None:
        try:
            data = json.loads(args.data)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(f"--data is not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise ConfigurationError("--data must be a JSON object")
    record = ReviewQueue(journal=_journal(args)).resolve(
        args.batch_id, args.key, resolution=args.resolution, by=args.by, note=args.note, data=data
    )
    text = f"{record.key}: {args.resolution} by {args.by}; the item is now {record.state}"
    if args.resolution == "retry":
        text += f" (it runs at the next: operator-agent batch resume {args.batch_id} ...)"
    _out(args, record.model_dump(mode="json"), text)
    return EXIT_OK


@_errors
def _cmd_report(args: argparse.Namespace) -> int:
    from operator_agent.batch.report import write_report

    journal = _journal(args)
    shadow = None
    if args.reference:
        from operator_agent.batch.shadow import compare_shadow

        pairs = dict(pair.split("=", 1) for pair in args.compare if "=" in pair)
        if not pairs or not args.reference_key:
            raise ConfigurationError("--reference needs --reference-key and at least one --compare REF=FIELD")
        shadow = compare_shadow(
            journal, args.batch_id, reference=args.reference, key=args.reference_key, fields=pairs
        ).model_dump(mode="json")
    folder = Path(args.out) if args.out else journal.path.parent / "batches" / args.batch_id
    json_path, html_path, report = write_report(
        journal, args.batch_id, folder=folder, earlier=args.earlier, alert_below=args.alert_below,
        drift_tolerance=args.drift_tolerance, shadow=shadow,
    )  # fmt: skip
    k = report.kpis
    text = (
        f"batch {k.batch_id}: {k.items} items, completed {k.completion_rate:.1%}, without a person "
        f"{k.straight_through_rate:.1%}, review {k.review_rate:.1%}\nreport: {html_path}\njson:   {json_path}"
    )
    for alert in report.comparison.alerts:
        text += f"\nALERT: {alert}"
    payload = {"json": str(json_path), "html": str(html_path), "alerts": report.comparison.alerts}
    _out(args, payload, text)
    return EXIT_ATTENTION if report.comparison.alerts else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the batch, review and report commands on their own (without the rest of the CLI)."""
    from operator_agent.logs import configure_logging

    parser = argparse.ArgumentParser(prog="operator-agent", description="Batches, review queue and reports.")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    configure_logging(level=args.log_level, fmt="json" if args.json else "console")
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
