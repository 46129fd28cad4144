"""The ``compile`` and ``replay`` commands of ``operator-agent``.

``operator-agent compile TRACE_DIR --name NAME --out DIR`` turns a completed run into a skill folder.
``operator-agent replay SKILL_DIR --param k=v ...`` replays it with no model; ``--model`` allows one
model-assisted re-targeting per unhealable step, ``--write-heals`` prints the proposed locator
updates as a unified diff (the skill file is never rewritten). Exit codes: 0 the replay completed,
1 it failed or an approval was denied, 2 the parameters or options are wrong, 3 an error (missing
or corrupt trace, unknown skill).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from operator_agent.errors import ConfigurationError, OperatorAgentError

__all__ = ["add_parsers", "parse_params"]

EXIT_OK = 0
EXIT_NOT_COMPLETED = 1
EXIT_USAGE = 2
EXIT_ERROR = 3


def add_parsers(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``compile`` and ``replay`` commands to a parser's subcommands.

    Each parsed namespace carries ``handler``, so a caller dispatches with ``args.handler(args)``.

    Args:
        subparsers: What ``ArgumentParser.add_subparsers()`` returned.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default="warning")

    compile_ = subparsers.add_parser(
        "compile",
        parents=[common],
        help="turn a completed run's trace into a reviewable skill",
        description="Compile a completed run into a skill folder (Python code and SKILL.md) that replays "
        "without a model.",
    )
    compile_.add_argument("trace_dir", metavar="TRACE_DIR", help="the run's trace folder (with trace.jsonl)")
    compile_.add_argument("--name", required=True, help="the skill's name, a Python identifier")
    compile_.add_argument("--out", required=True, metavar="DIR", help="the skill folder to write")
    compile_.add_argument("--force", action="store_true", help="overwrite the files of an existing folder")
    compile_.add_argument("--line-length", type=int, default=88, help="line length of the code (default 88)")
    compile_.set_defaults(handler=run_compile)

    replay = subparsers.add_parser(
        "replay",
        parents=[common],
        help="replay a compiled skill without a model",
        description="Replay a compiled skill. Steps whose element moved heal through their locator "
        "chain's fallbacks; with --model, through one model-assisted re-targeting each.",
    )
    replay.add_argument("skill_dir", metavar="SKILL_DIR", help="the skill folder")
    replay.add_argument("--skill", default=None, help="which skill, when the folder holds several")
    replay.add_argument(
        "--param", action="append", default=[], metavar="NAME=VALUE",
        help="a skill parameter (repeatable); JSON values for lists, numbers and booleans",
    )  # fmt: skip
    replay.add_argument(
        "--start-url", default=None, help="the page to open first (default: the recorded one)"
    )
    replay.add_argument("--trace-dir", default="runs", help="where the replay's trace goes (default: ./runs)")
    replay.add_argument(
        "--write-heals", nargs="?", const="-", default=None, metavar="PATH",
        help="write the proposed locator updates as a unified diff to PATH (stdout without PATH)",
    )  # fmt: skip
    replay.add_argument(
        "--model", default=None, help="a model for re-targeting (default: none, no model calls)"
    )
    replay.add_argument("--base-url", default=None, help="its OpenAI-compatible endpoint")
    replay.add_argument(
        "--approval", choices=["ask", "deny", "approve-all"], default="ask",
        help="how irreversible steps are decided (ask on this terminal, denied without one)",
    )  # fmt: skip
    replay.add_argument(
        "--secret-env", action="append", default=[], metavar="NAME=ENV_VAR",
        help="a secret the skill fills by name, read from an environment variable (repeatable)",
    )  # fmt: skip
    replay.add_argument(
        "--upload-dir", action="append", default=[], metavar="DIR", help="a folder of uploads"
    )
    replay.add_argument(
        "--storage-state", default=None, metavar="FILE", help="start logged in from this file"
    )
    replay.add_argument("--headed", action="store_true", help="show the browser window")
    replay.set_defaults(handler=run_replay)


def parse_params(pairs: list[str], schema: dict[str, Any]) -> dict[str, Any]:
    """``NAME=VALUE`` pairs as skill arguments; non-string parameters take JSON values.

    Raises:
        ConfigurationError: If a pair has no ``=``, or a name repeats.
    """
    properties: dict[str, Any] = schema.get("properties", {})
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ConfigurationError(f"--param {pair!r}: write it as NAME=VALUE")
        if name in params:
            raise ConfigurationError(f"--param {name} is given twice")
        kind = properties.get(name, {}).get("type")
        value: Any = raw
        if kind not in ("string", None):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        params[name] = value
    return params


def _secrets(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        name, sep, variable = pair.partition("=")
        if not sep or not name or not variable:
            raise ConfigurationError(f"--secret-env {pair!r}: write it as NAME=ENV_VAR")
        value = os.environ.get(variable)
        if not value:
            raise ConfigurationError(f"--secret-env {name}: environment variable {variable} is not set")
        found[name] = value
    return found


def _report(args: argparse.Namespace, payload: dict[str, Any], text: list[str]) -> None:
    if args.json:
        print(json.dumps(payload, default=str))
    else:
        print("\n".join(text))


def _error(args: argparse.Namespace, exc: BaseException, code: int) -> int:
    if args.json:
        print(json.dumps({"status": "error", "error": type(exc).__name__, "message": str(exc)}))
    else:
        print(f"operator-agent: {type(exc).__name__}: {exc}", file=sys.stderr)
    return code


def run_compile(args: argparse.Namespace) -> int:
    """The ``compile`` command; returns the exit code."""
    from operator_agent.replay.compiler import compile_trace

    try:
        compiled = compile_trace(
            args.trace_dir, name=args.name, out=args.out, overwrite=args.force, line_length=args.line_length
        )
    except OperatorAgentError as exc:
        return _error(args, exc, EXIT_ERROR)
    payload = {
        "status": "compiled",
        "skill": compiled.name,
        "folder": str(compiled.folder),
        "module": str(compiled.module),
        "steps": len(compiled.steps),
        "params": {p.name: p.annotation for p in compiled.params},
        "skipped": compiled.skipped,
        "run_id": compiled.run_id,
    }
    text = [
        f"compiled {compiled.name} from run {compiled.run_id}: {len(compiled.steps)} steps",
        f"code: {compiled.module}",
        f"doc:  {compiled.doc}",
        "params: " + (", ".join(f"{p.name}: {p.annotation}" for p in compiled.params) or "none"),
        *[f"not compiled: {line}" for line in compiled.skipped],
    ]
    _report(args, payload, text)
    return EXIT_OK


def run_replay(args: argparse.Namespace) -> int:
    """The ``replay`` command; returns the exit code."""
    from operator_agent.guardrails.approval import approver_for_mode
    from operator_agent.replay.run import find_skill, replay_skill

    try:
        skill = find_skill(Path(args.skill_dir), name=args.skill)
    except OperatorAgentError as exc:
        return _error(args, exc, EXIT_ERROR)
    try:
        params = parse_params(args.param, skill.parameters_schema)
        secrets = _secrets(args.secret_env)
        skill.validate_arguments(params)
    except ConfigurationError as exc:
        return _error(args, exc, EXIT_USAGE)
    model = None
    if args.model is not None or args.base_url is not None:
        from operator_agent.models import OpenAIModel

        model = OpenAIModel(model=args.model, base_url=args.base_url)
    try:
        result = asyncio.run(
            replay_skill(
                skill, params=params, start_url=args.start_url, model=model,
                approver=approver_for_mode(args.approval), secrets=secrets, upload_dirs=args.upload_dir,
                trace_dir=args.trace_dir, headless=not args.headed, storage_state=args.storage_state,
            )
        )  # fmt: skip
    except ConfigurationError as exc:
        return _error(args, exc, EXIT_USAGE)
    except OperatorAgentError as exc:
        return _error(args, exc, EXIT_ERROR)
    except KeyboardInterrupt:
        return 130
    if args.write_heals not in (None, "-") and result.diff:
        Path(args.write_heals).write_text(result.diff, encoding="utf-8")
    payload = {
        "status": result.status,
        "skill": result.skill,
        "reason": result.reason,
        "value": result.value,
        "steps": len(result.steps),
        "heals": [heal.model_dump(mode="json") for heal in result.heals],
        "model_calls": result.model_calls,
        "trace_dir": str(result.trace_dir) if result.trace_dir else None,
        "duration_s": result.duration_s,
    }
    if args.write_heals == "-":
        payload["diff"] = result.diff
    text = [
        f"status: {result.status}",
        *([f"reason: {result.reason}"] if result.reason else []),
        f"steps: {len(result.steps)}  heals: {len(result.heals)} ({result.healed_by_fallback} by fallback, "
        f"{result.healed_by_model} by model)  model calls: {result.model_calls}",
        *[f"healed: {heal.describe()}" for heal in result.heals],
    ]
    if result.trace_dir:
        text.append(f"trace: {result.trace_dir}")
    if args.write_heals == "-" and result.diff:
        text += ["", result.diff.rstrip("\n")]
    elif args.write_heals and result.diff:
        text.append(f"proposed locator updates: {args.write_heals}")
    _report(args, payload, text)
    return EXIT_OK if result.status == "completed" else EXIT_NOT_COMPLETED
