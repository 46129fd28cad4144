"""Compile a successful run into a skill folder: reviewable Python code and its ``SKILL.md``.

:func:`compile_trace` reads a run's trace and writes one skill that does what the run did, step by
step, through :class:`~operator_agent.replay.Replayer`, with no model:

* values that came from the run's declared inputs (``agent.run(..., inputs={...})``) become typed
  parameters (a date typed as ``31/10/2026`` becomes ``f"{due_date:%d/%m/%Y}"``); other literals stay
  literals;
* each step targets its element through the locator chain captured when the run recorded, and
  carries a postcondition (the URL it led to) so a replay notices drift;
* waits are explicit waits on conditions; steps the run flagged irreversible, or that needed an
  approval, stay flagged, so the guardrails ask before them again;
* failed, blocked and denied actions are left out; ``extract`` and the final answer are not
  compiled (they need a model) and ``SKILL.md`` says so.

The code is laid out the way ruff format keeps it, typed, and short enough to review in a pull
request.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from operator_agent.actions import ActionKind
from operator_agent.errors import CompileError, TraceError
from operator_agent.logs import get_logger
from operator_agent.replay._source import (
    Layout,
    Param,
    Substitution,
    call,
    chain_source,
    identifier,
    keyword_arg,
    quote,
    seq,
)
from operator_agent.replay.locators import postcondition, validate_chain
from operator_agent.skills.decorator import ACTION_KINDS
from operator_agent.skills.loader import SKILL_DOC
from operator_agent.skills.model import RESERVED_PARAMETERS
from operator_agent.trace import ActionRecord, RunEndRecord, RunStartRecord, StepRecord, read_trace

__all__ = ["CompiledSkill", "CompiledStep", "compile_trace"]

_log = get_logger("operator_agent.replay")

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
# Actions that need a model, or end the run: a replay cannot do them and they change nothing.
_NOT_COMPILED: Final[frozenset[str]] = frozenset({"extract", "done", "ask_human", "fail"})
_NEEDS_TARGET: Final[frozenset[str]] = frozenset(
    {"click", "fill", "select_option", "check", "uncheck", "hover", "upload_file"}
)
_METHOD: Final[dict[str, str]] = {"select_option": "select", "upload_file": "upload", "navigate": "goto"}
_TARGET = re.compile(r'^(?P<role>[\w-]+)(?: "(?P<name>.*)")?(?: \[[^\]]*\])?$')


@dataclass
class CompiledStep:
    """One step of a compiled skill.

    Attributes:
        number: The step's number in the skill (from 1).
        kind: The action kind it replays.
        intent: What it does, in words (``click button "Save draft"``); a model reads it to heal.
        locators: The locator chain of its element (empty for steps without one).
        arguments: The action's own arguments, as recorded.
        expect: The postcondition, such as ``{"url": "/invoices/*"}``.
        irreversible: Whether it asks for approval before it runs.
        chain_recorded: False when the run recorded no chain and one was made from the target's
            role and name.
    """

    number: int
    kind: str
    intent: str
    locators: list[dict[str, str]]
    arguments: dict[str, Any]
    expect: dict[str, str] | None
    irreversible: bool
    chain_recorded: bool = True


@dataclass
class CompiledSkill:
    """What :func:`compile_trace` wrote.

    Attributes:
        name: The skill's name.
        folder: The skill folder.
        module: The Python file.
        doc: The ``SKILL.md`` file.
        params: The skill's parameters, in the order of the run's inputs.
        steps: The compiled steps.
        skipped: One line per recorded action that was not compiled, and why.
        run_id: The recorded run.
    """

    name: str
    folder: Path
    module: Path
    doc: Path
    params: list[Param]
    steps: list[CompiledStep]
    skipped: list[str] = field(default_factory=list)
    run_id: str = ""


def _check_name(name: str) -> None:
    if not _NAME.match(name) or name in RESERVED_PARAMETERS:
        raise CompileError(
            f"skill name {name!r} must be 1-64 lower-case letters, digits or '_', not starting with a digit"
        )
    if name in ACTION_KINDS:
        raise CompileError(f"skill name {name!r} is an action kind; choose another name")
    import keyword

    if keyword.iskeyword(name):
        raise CompileError(f"skill name {name!r} is a Python keyword; choose another name")


def _split(records: Sequence[Any], where: Path) -> tuple[RunStartRecord, list[StepRecord], RunEndRecord]:
    if not records or not isinstance(records[0], RunStartRecord):
        raise CompileError(f"{where}: the trace does not start with a run_start record")
    end = records[-1]
    if not isinstance(end, RunEndRecord):
        raise CompileError(
            f"{where}: the trace has no run_end record (the run was interrupted); only a finished, "
            "successful run compiles"
        )
    if end.status != "completed":
        raise CompileError(
            f"{where}: run {end.run_id} ended {end.status!r} ({end.reason}); only a completed run compiles"
        )
    steps = [r for r in records if isinstance(r, StepRecord)]
    return records[0], steps, end


def _approved_targets(folder: Path) -> set[tuple[int, str]]:
    """(step, target) of every action an approval was asked for, from the run's audit log."""
    path = folder / "audit.jsonl"
    found: set[tuple[int, str]] = set()
    if not path.is_file():
        return found
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and event.get("event") == "requested":
            found.add((int(event.get("step", 0)), str(event.get("target") or event.get("kind") or "")))
    return found


def _chain_from_target(target: str | None) -> list[dict[str, str]]:
    if not target:
        return []
    match = _TARGET.match(target)
    if match is None:
        return []
    from operator_agent.skills.locate import ARIA_ROLES

    role, name = match["role"], match["name"]
    if role not in ARIA_ROLES:
        return [{"text": name}] if name else []
    return [{"role": role, "name": name.replace('\\"', '"')}] if name else []


def _intent(record: ActionRecord) -> str:
    target = (record.target or "").split(" [")[0]
    words = record.kind.replace("_", " ")
    if record.kind == "press":
        words = f"press {record.arguments.get('keys', '')}"
    if record.kind == "navigate":
        words = f"open {record.arguments.get('url', '')}"
    reason = str(record.arguments.get("reason") or "").strip()
    text = f"{words} {target}".strip()
    return f"{text} ({reason})" if reason else text


def _relative(url: str, start_url: str) -> str:
    parts, base = urlsplit(url), urlsplit(start_url)
    if (parts.scheme, parts.netloc) == (base.scheme, base.netloc):
        rest = parts.path or "/"
        if parts.query:
            rest += "?" + parts.query
        if parts.fragment:
            rest += "#" + parts.fragment
        return rest
    return url


def _params(inputs: Mapping[str, Any]) -> list[Param]:
    params: list[Param] = []
    taken = set(RESERVED_PARAMETERS) | {"steps"}
    for key, value in inputs.items():
        name = identifier(str(key))
        while name in taken:
            name += "_value"
        taken.add(name)
        params.append(Param.of(name, str(key), value))
    return params


def _steps(
    start: RunStartRecord, records: Sequence[StepRecord], approvals: set[tuple[int, str]]
) -> tuple[list[CompiledStep], list[str]]:
    steps: list[CompiledStep] = []
    skipped: list[str] = []
    path = urlsplit(start.start_url).path or "/"
    steps.append(
        CompiledStep(
            number=1,
            kind="navigate",
            intent=f"open {path}",
            locators=[],
            arguments={"url": _relative(start.start_url, start.start_url)},
            expect=None,
            irreversible=False,
        )
    )
    for record in records:
        current = record.url
        for index, action in enumerate(record.actions, start=1):
            where = f"step {record.step} action {index} ({action.kind})"
            if action.kind in _NOT_COMPILED:
                if action.kind == "extract":
                    skipped.append(f"{where}: extract needs a model and was not compiled")
                continue
            if not action.ok or action.error is not None:
                skipped.append(
                    f"{where}: left out, it did not succeed ({action.error or action.message[:80]})"
                )
                continue
            if action.kind not in _KINDS:
                skipped.append(f"{where}: unknown action kind, left out")
                continue
            arguments = {
                key: value
                for key, value in action.arguments.items()
                if key not in ("reason", "irreversible", "ref", "kind")
            }
            chain = [dict(entry) for entry in action.locators]
            recorded = bool(chain)
            if not chain and "ref" in action.arguments:
                chain = _chain_from_target(action.target)
            if not chain and (action.kind in _NEEDS_TARGET or action.arguments.get("ref")):
                raise CompileError(
                    f"{where} on {action.target or 'an unknown element'}: the trace holds no locator "
                    "chain and no target to make one from; record the run with a version of "
                    "operator-agent that captures locators"
                )
            try:
                validate_chain(chain, where=where)
            except Exception as exc:
                raise CompileError(f"{where}: invalid locator chain in the trace: {exc}") from None
            flagged = bool(action.arguments.get("irreversible")) or any(
                (record.step, key) in approvals for key in (action.target or "", action.kind)
            )
            expect = postcondition(
                url_before=current, url_after=action.url_after, navigated=action.navigated,
                base=start.start_url,
            )  # fmt: skip
            if action.kind == "navigate":
                arguments["url"] = _relative(str(arguments.get("url", "")), start.start_url)
            steps.append(
                CompiledStep(
                    number=len(steps) + 1,
                    kind=action.kind,
                    intent=_intent(action),
                    locators=chain,
                    arguments=arguments,
                    expect=expect,
                    irreversible=flagged,
                    chain_recorded=recorded,
                )
            )
            if action.url_after:
                current = action.url_after
    return steps, skipped


_KINDS: Final[frozenset[str]] = frozenset(
    {
        "click",
        "fill",
        "select_option",
        "check",
        "uncheck",
        "press",
        "hover",
        "scroll",
        "navigate",
        "go_back",
        "switch_tab",
        "upload_file",
        "wait_for",
    }
)
assert set(ActionKind.__args__) == _KINDS | _NOT_COMPILED, "compiler and action kinds disagree"  # type: ignore[attr-defined]


def _widen(chain: Sequence[Mapping[str, str]], params: Sequence[Param]) -> list[dict[str, str]]:
    """Add, after each text strategy that holds a parameter's value among other words, the same
    strategy with the value alone: replayed with another value, the other words may differ (an
    option "Acme GmbH DE" for vendor "Acme GmbH"), and the value alone still matches as a substring.
    """
    widened: list[dict[str, str]] = []
    values = [
        p.value for p in params if p.annotation == "str" and isinstance(p.value, str) and len(p.value) >= 4
    ]
    for entry in chain:
        widened.append(dict(entry))
        for key in ("name", "label", "placeholder", "text"):
            text = entry.get(key)
            if text is None:
                continue
            for value in values:
                if value in text and value != text:
                    alone = {**entry, key: value}
                    if alone not in chain and alone not in widened:
                        widened.append(alone)
    return widened


def _upload_path(path: str) -> str:
    # A path of the recording machine would not exist where the skill replays: keep the file name,
    # which the skill context looks up in the run folder and its upload folders.
    return Path(path).name if os.path.isabs(path) else path


def _step_node(step: CompiledStep, sub: Substitution) -> Any:
    method = _METHOD.get(step.kind, step.kind)
    a = step.arguments
    items: list[Any] = [str(step.number)]
    if step.kind == "navigate":
        items.append(sub.source(str(a.get("url", ""))))
    elif step.kind == "go_back":
        pass
    elif step.kind == "switch_tab":
        items.append(str(int(a.get("index", 0))))
    else:
        items.append(sub.source(step.intent))
    if step.kind == "click":
        if a.get("button", "left") != "left":
            items.append(keyword_arg("button", quote(str(a["button"]))))
        if a.get("double"):
            items.append(keyword_arg("double", "True"))
    elif step.kind == "fill":
        if a.get("secret") is not None:
            items.append(keyword_arg("secret", quote(str(a["secret"]))))
        else:
            items.append(keyword_arg("text", sub.source(str(a.get("text", "")))))
        if a.get("submit"):
            items.append(keyword_arg("submit", "True"))
    elif step.kind == "select_option":
        values = [sub.source(str(v)) for v in a.get("values", [])]
        items.append(keyword_arg("values", seq("[", values, "]")))
    elif step.kind == "press":
        items.append(keyword_arg("keys", quote(str(a.get("keys", "")))))
    elif step.kind == "scroll":
        items.append(keyword_arg("direction", quote(str(a.get("direction", "down")))))
        items.append(keyword_arg("amount", repr(float(a.get("amount", 1.0)))))
    elif step.kind == "upload_file":
        paths = [sub.value_of(str(p)) or quote(_upload_path(str(p))) for p in a.get("paths", [])]
        items.append(keyword_arg("paths", seq("[", paths, "]")))
    elif step.kind == "wait_for":
        if a.get("text") is not None:
            items.append(keyword_arg("text", sub.source(str(a["text"]))))
        if a.get("state", "visible") != "visible":
            items.append(keyword_arg("state", quote(str(a["state"]))))
        items.append(keyword_arg("timeout_s", repr(float(a.get("timeout_s", 10.0)))))
    if step.locators:
        items.append(keyword_arg("locators", chain_source(step.locators, sub)))
    if step.expect:
        pairs = [f"{quote(k)}: {sub.source(v, partial=False)}" for k, v in step.expect.items()]
        items.append(keyword_arg("expect", seq("{", pairs, "}")))
    if step.irreversible:
        items.append(keyword_arg("irreversible", "True"))
    return call(f"await steps.{method}", items)


def _docstring(text: str, indent: int) -> list[str]:
    safe = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    pad = " " * indent
    return [f"{pad}{line}" if line else "" for line in safe.splitlines()]


def render_module(
    *, name: str, task: str, run_id: str, start_url: str, steps: Sequence[CompiledStep],
    params: Sequence[Param], line_length: int = 88,
) -> tuple[str, list[Param]]:  # fmt: skip
    """The skill's Python source, and the parameters it uses (in input order)."""
    layout = Layout(line_length=line_length)
    sub = Substitution(params)
    body: list[str] = []
    for step in steps:
        step.locators = _widen(step.locators, params)
        body += layout.render(_step_node(step, sub), indent=4)
    used = [p for p in params if p.name in sub.used]
    summary = " ".join(task.split())
    first = textwrap.shorten(summary, width=max(40, line_length - 8), placeholder="...")
    if not first.endswith((".", "!", "?")):
        first += "."
    doc = [f'    """{_docstring(first, 0)[0]}', ""]
    doc += _docstring(
        textwrap.fill(
            f"Compiled by operator-agent from run {run_id} ({len(steps)} steps). It replays without a "
            "model: each step finds its element through the locator chain recorded in that run and "
            "heals through the next strategies when the page changed.",
            width=line_length - 4,
        ),
        4,
    )
    if used:
        doc += ["", "    Args:"]
        for p in used:
            shown = json.dumps(p.value, ensure_ascii=False, default=str)
            line = f"{p.name}: Input {p.key!r} of the recorded run (it was {shown})."
            wrapped = textwrap.wrap(line, width=line_length - 8, subsequent_indent="    ")
            doc += [f"        {w}" for w in wrapped]
    doc.append('    """')
    signature = ["ctx: SkillContext"]
    if used:
        signature += ["*"] + [f"{p.name}: {p.annotation}" for p in used]
    head = layout.render(call(f"async def {name}", signature), indent=0, suffix=" -> None:")
    if len(head) > 1:
        # An exploded signature gets its trailing comma from the layout; keep the closing line.
        pass
    replayer_items: list[Any] = [
        "ctx",
        keyword_arg("skill", quote(name)),
        keyword_arg("source", "__file__"),
        keyword_arg("start_url", "START_URL"),
    ]
    if used:
        replayer_items.append(
            keyword_arg("params", seq("{", [f"{quote(p.name)}: {p.name}" for p in used], "}"))
        )
    replayer = layout.render(call("Replayer", replayer_items), indent=4, prefix="steps = ")
    imports = ["from __future__ import annotations", ""]
    typing_names = sorted({"Any"} & {t for p in used for t in re.findall(r"\w+", p.annotation)})
    std = []
    if any(p.annotation == "date" for p in used):
        std.append("from datetime import date")
    if typing_names:
        std.append(f"from typing import {', '.join(typing_names)}")
    if std:
        imports += [*std, ""]
    imports += [
        "from operator_agent.replay import Replayer",
        "from operator_agent.skills import SkillContext, skill",
    ]
    module_doc = textwrap.fill(
        f"{name}: compiled from run {run_id} of operator-agent. Review it like any code; when a replay "
        "heals a step, `operator-agent replay --write-heals` proposes the updated locators as a diff.",
        width=line_length,
        initial_indent="   ",
    )[3:]
    lines = [
        '"""' + _docstring(module_doc, 0)[0],
        *_docstring(module_doc, 0)[1:],
        '"""',
        "",
        *imports,
        "",
        "#: The page the recorded run started on; a replay opens it unless told otherwise.",
        *layout.render(quote(start_url), indent=0, prefix="START_URL = "),
        "",
        "",
        "@skill",
        *head,
        *doc,
        *replayer,
        *body,
        "",
    ]
    return "\n".join(lines), used


def _skill_md(
    *, name: str, task: str, run_id: str, start_url: str, steps: Sequence[CompiledStep],
    params: Sequence[Param], skipped: Sequence[str], source: str,
) -> str:  # fmt: skip
    lines = [
        f"# {name}",
        "",
        " ".join(task.split()),
        "",
        f"Compiled by operator-agent from run `{run_id}` (started at {start_url}). It replays without a "
        "model; every step finds its element through a locator chain recorded in that run.",
        "",
        "## Run it",
        "",
        "```",
        "operator-agent replay {this folder} " + " ".join(f"--param {p.name}=..." for p in params),
        "```",
        "",
        "or from Python, on a `SkillContext` (see `operator_agent.skills`):",
        "",
        "```python",
        "from operator_agent.skills import load_skills",
        "",
        f'{name} = load_skills("path/to/this/folder").get("{name}")',
        f"await {name}(ctx" + "".join(f", {p.name}=..." for p in params) + ")",
        "```",
        "",
        "## Parameters",
        "",
    ]
    if params:
        lines += ["| name | type | recorded value |", "|---|---|---|"]
        for p in params:
            shown = json.dumps(p.value, ensure_ascii=False, default=str).replace("|", "\\|")
            lines.append(f"| `{p.name}` | `{p.annotation}` | {shown} |")
    else:
        lines.append("None: the run declared no inputs, or none of them was typed into the page.")
    lines += ["", "## Steps", ""]
    for step in steps:
        notes = []
        if step.irreversible:
            notes.append("**irreversible: asks for approval**")
        if step.expect:
            notes.append(f"expects {', '.join(f'{k} {v}' for k, v in step.expect.items())}")
        if step.locators and not step.chain_recorded:
            notes.append("no locator chain was recorded: found by role and name only")
        suffix = f" ({'; '.join(notes)})" if notes else ""
        lines.append(f"{step.number}. {step.intent}{suffix}")
    if skipped:
        lines += ["", "## Not compiled", ""] + [f"- {line}" for line in skipped]
    lines += [
        "",
        "## When the site changes",
        "",
        "A step whose element cannot be found tries the next strategies of its chain, then (only if a",
        "model is configured) asks the model once to find the element from the step's intent. Every",
        "heal is recorded in the replay's trace; `--write-heals` writes the updated locators as a",
        "unified diff of this skill for review. The skill file is never rewritten by itself.",
        "",
    ]
    return "\n".join(lines)


def compile_trace(
    trace_dir: str | os.PathLike[str],
    *,
    name: str,
    out: str | os.PathLike[str],
    overwrite: bool = False,
    line_length: int = 88,
) -> CompiledSkill:
    """Compile a completed run's trace into a skill folder.

    Args:
        trace_dir: The run's trace folder (with ``trace.jsonl``).
        name: The skill's name (a Python identifier: ``enter_invoice``); also the file name.
        out: The skill folder to write (created; must be empty unless ``overwrite``).
        overwrite: Replace the files of an existing skill folder.
        line_length: The line length the generated code is laid out for.

    Returns:
        What was written.

    Raises:
        CompileError: If the name is invalid, the run did not complete, a step has no way to find
            its element, or the folder already holds files.
        TraceError: If the trace is missing or corrupt (the message names the file and line).
    """
    _check_name(name)
    folder = Path(trace_dir)
    try:
        records = read_trace(folder)
    except TraceError:
        raise
    start, step_records, end = _split(records, folder)
    trace_folder = folder if folder.is_dir() else folder.parent
    steps, skipped = _steps(start, step_records, _approved_targets(trace_folder))
    if len(steps) == 1:
        raise CompileError(f"{folder}: run {end.run_id} has no page action to compile")
    target = Path(out)
    module = target / f"{name}.py"
    doc = target / SKILL_DOC
    if target.exists() and not target.is_dir():
        raise CompileError(f"cannot write the skill to {target}: it is a file")
    existing = [p.name for p in target.iterdir()] if target.is_dir() else []
    if existing and not overwrite:
        raise CompileError(
            f"skill folder {target} is not empty ({', '.join(sorted(existing)[:5])}); choose another "
            "folder or overwrite it"
        )
    params = _params(start.inputs)
    source, used = render_module(
        name=name, task=start.task, run_id=end.run_id, start_url=start.start_url, steps=steps, params=params,
        line_length=line_length,
    )  # fmt: skip
    target.mkdir(parents=True, exist_ok=True)
    module.write_text(source, encoding="utf-8")
    doc.write_text(
        _skill_md(
            name=name, task=start.task, run_id=end.run_id, start_url=start.start_url, steps=steps,
            params=used, skipped=skipped, source=module.name,
        ),
        encoding="utf-8",
    )  # fmt: skip
    _log.info("skill compiled", skill=name, folder=str(target), steps=len(steps), params=len(used))
    return CompiledSkill(
        name=name, folder=target, module=module, doc=doc, params=used, steps=steps, skipped=skipped,
        run_id=end.run_id,
    )  # fmt: skip
