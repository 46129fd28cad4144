"""Replay a compiled skill in its own browser context, with a trace: what ``operator-agent replay`` runs.

:func:`replay_skill` loads a skill (a folder, or a :class:`~operator_agent.skills.Skill`), checks
the parameters, opens the recorded start page, replays the skill with no model unless one is given
for re-targeting, and writes a trace folder like an agent run's: ``trace.jsonl`` with one step per
replayed step (heals listed in its events), ``heals.json`` and, when steps healed, ``heals.diff``
with the proposed locators for review. Approvals go through an
:class:`~operator_agent.guardrails.approval.Approver`, which denies by default.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from playwright.async_api import Error as PlaywrightError
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from operator_agent.browser import BrowserSession
from operator_agent.errors import (
    ApprovalDeniedError,
    ConfigurationError,
    OperatorAgentError,
    SkillLoadError,
)
from operator_agent.guardrails.approval import Approver, PolicyApprover
from operator_agent.guardrails.policy import Policy
from operator_agent.logs import get_logger, register_secret_values
from operator_agent.models import Model, Usage
from operator_agent.replay.session import Heal, ReplayedStep, ReplaySession
from operator_agent.skills import Skill, SkillContext, approval_callback, load_skills
from operator_agent.trace import ActionRecord, RunEndRecord, RunStartRecord, StepRecord, TraceWriter

__all__ = ["ReplayResult", "find_skill", "replay_skill", "start_url_of"]

_log = get_logger("operator_agent.replay")

ReplayStatus = Literal["completed", "failed", "denied"]


class ReplayResult(BaseModel):
    """How a replay ended.

    Attributes:
        skill: The skill replayed.
        status: ``completed``, ``failed`` (a step could not be done or healed) or ``denied`` (an
            approval was refused).
        value: What the skill returned, as JSON data.
        reason: Why it failed or was denied; empty when it completed.
        steps: Every replayed step.
        heals: Every healed step.
        model_calls: How many model calls re-targeting made (0 for a clean replay).
        usage: What they cost.
        trace_dir: The replay's trace folder, if one was written.
        diff: The proposed locator updates as a unified diff (empty without heals).
        duration_s: Wall time of the replay, browser start excluded.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    skill: str
    status: ReplayStatus
    value: Any = None
    reason: str = ""
    steps: list[ReplayedStep] = Field(default_factory=list)
    heals: list[Heal] = Field(default_factory=list)
    model_calls: int = 0
    usage: Usage = Field(default_factory=Usage)
    trace_dir: Path | None = None
    diff: str = ""
    duration_s: float = 0.0

    @property
    def healed_by_fallback(self) -> int:
        """How many steps healed through a later strategy of their chain."""
        return sum(1 for heal in self.heals if heal.via == "fallback")

    @property
    def healed_by_model(self) -> int:
        """How many steps the model re-targeted."""
        return sum(1 for heal in self.heals if heal.via == "model")


def find_skill(source: str | os.PathLike[str] | Skill[Any], *, name: str | None = None) -> Skill[Any]:
    """The skill to replay: ``source`` itself, or the one (or the named one) in a skill folder.

    Raises:
        SkillLoadError: If the folder cannot be loaded, holds no skill, several without ``name``,
            or none called ``name``; the message lists the skills there are.
    """
    if isinstance(source, Skill):
        if name is not None and name != source.name:
            raise SkillLoadError(f"skill {source.name!r} was given, but {name!r} was asked for")
        return source
    folder = Path(source)
    if not folder.exists():
        raise SkillLoadError(f"skill folder {folder} does not exist")
    registry = load_skills(folder)
    names = registry.names
    if name is not None:
        if name not in names:
            raise SkillLoadError(
                f"unknown skill {name!r} in {folder}; it holds: {', '.join(names) or 'no skill'}"
            )
        return registry.get(name)
    if len(names) != 1:
        raise SkillLoadError(
            f"{folder} holds {len(names)} skills ({', '.join(names) or 'none'}); name the one to replay"
        )
    return registry.get(names[0])


def start_url_of(skill: Skill[Any]) -> str | None:
    """The ``START_URL`` of the module that defines a compiled skill, if it has one."""
    module = sys.modules.get(skill.function.__module__)
    value = getattr(module, "START_URL", None) if module is not None else None
    return value if isinstance(value, str) else None


class _TraceSink:
    """Writes one trace step per replayed step, with the heals found since the last one."""

    def __init__(self, *, writer: TraceWriter | None, run_id: str) -> None:
        self._writer = writer
        self._run_id = run_id
        self.session: ReplaySession | None = None
        self._reported = 0
        self.count = 0

    def __call__(self, step: ReplayedStep) -> None:
        self.count += 1
        known = self.session.heals if self.session is not None else []
        heals = known[self._reported :]
        self._reported = len(known)
        if self._writer is None:
            return
        action = ActionRecord(
            tool_call_id=f"replay-{step.step}",
            kind=step.kind,
            arguments={"intent": step.intent, "step": step.step},
            target=step.strategy,
            ok=step.ok,
            message=step.message,
            url_after=step.url or None,
            duration_ms=step.duration_ms,
            locators=step.locators,
        )
        self._writer.write(
            StepRecord(
                run_id=self._run_id,
                step=self.count,
                url=step.url,
                title=step.skill,
                observation_tokens=0,
                observation_digest="",
                actions=[action],
                events=[f"healed: {heal.describe()}" for heal in heals],
                act_ms=step.duration_ms,
            )
        )


async def replay_skill(
    source: str | os.PathLike[str] | Skill[Any],
    *,
    params: Mapping[str, Any] | None = None,
    skill: str | None = None,
    start_url: str | None = None,
    model: Model | None = None,
    approver: Approver | None = None,
    policy: Policy | Literal[False] | None = None,
    secrets: Mapping[str, str] | None = None,
    upload_dirs: Sequence[str | os.PathLike[str]] = (),
    trace_dir: str | os.PathLike[str] | None = "runs",
    browser: BrowserSession | None = None,
    headless: bool = True,
    storage_state: str | os.PathLike[str] | None = None,
    locate_timeout_s: float = 8.0,
    heal_grace_s: float = 0.5,
) -> ReplayResult:
    """Replay a compiled skill in a fresh browser context and report how it went.

    Args:
        source: A skill folder, or a skill.
        params: The skill's arguments; validated against its parameters first.
        skill: Which skill of the folder, when it holds several.
        start_url: The page to open first; the skill's recorded ``START_URL`` by default.
        model: A model for model-assisted re-targeting; ``None`` replays with zero model calls.
        approver: Decides on irreversible steps; denies them all by default.
        policy: The guardrail policy that judges every step on the page as it is (the default
            :class:`~operator_agent.guardrails.policy.Policy` when ``None``); ``False`` leaves only
            the steps recorded as irreversible asking for approval.
        secrets: Named secret values the skill fills by name.
        upload_dirs: Folders that files to upload are looked up in.
        trace_dir: Where the replay's trace folder goes (``<trace_dir>/<run_id>/``); ``None`` for none.
        browser: A started browser session to use; by default one is started and stopped.
        headless: For the browser started here.
        storage_state: A storage-state file to start logged in.
        locate_timeout_s: How long a step waits for its element.
        heal_grace_s: How long a step's first strategy may take before a fallback is used.

    Returns:
        The result; ``status`` says whether it completed.

    Raises:
        SkillLoadError: If the skill cannot be found or loaded.
        ConfigurationError: If the parameters do not fit the skill, or there is no start URL.
        BrowserError: If the browser cannot start.
    """
    chosen = find_skill(source, name=skill)
    arguments = chosen.validate_arguments(params or {})
    url = start_url or start_url_of(chosen)
    if url is None:
        raise ConfigurationError(
            f"skill {chosen.name} has no START_URL; give the page to start from (start_url= or --start-url)"
        )
    if not url.startswith(("http://", "https://")):
        raise ConfigurationError(f"start_url must be an http(s) URL, got {url!r}")
    run_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    run_dir = Path(trace_dir) / run_id if trace_dir is not None else None
    secret_values = dict(secrets or {})
    writer = TraceWriter(directory=run_dir, redact=secret_values.values) if run_dir is not None else None
    jsonable = TypeAdapter(dict[str, Any]).dump_python(arguments, mode="json")
    sink = _TraceSink(writer=writer, run_id=run_id)
    session = ReplaySession(
        model=model, locate_timeout_s=locate_timeout_s, heal_grace_s=heal_grace_s,
        screenshot_dir=run_dir, on_step=sink,
    )  # fmt: skip
    sink.session = session
    status: ReplayStatus = "completed"
    reason = ""
    value: Any = None
    started = time.monotonic()
    try:
        if writer is not None:
            writer.write(
                RunStartRecord(
                    run_id=run_id, task=f"replay skill {chosen.name}", start_url=url,
                    model_name=model.name if model is not None else "none (replay)", inputs=jsonable,
                )
            )  # fmt: skip
        async with AsyncExitStack() as stack:
            stack.enter_context(register_secret_values(secret_values.values()))
            active = browser
            if active is None:
                active = await stack.enter_async_context(BrowserSession(headless=headless))
            run = await stack.enter_async_context(
                await active.new_context(
                    downloads_dir=run_dir / "downloads" if run_dir is not None else None,
                    storage_state=storage_state,
                )
            )
            started = time.monotonic()
            await run.page.goto(url, wait_until="domcontentloaded")
            session.opened(url, landed=run.page.url)
            ctx = SkillContext(
                tabs=run,
                secrets=secret_values,
                run_id=run_id,
                run_dir=run_dir,
                upload_dirs=upload_dirs,
                approve=approval_callback(approver or PolicyApprover(mode="deny"), run_id=run_id, tabs=run),
                locate_timeout_s=locate_timeout_s,
                policy=None if policy is False else policy or Policy(),
            )
            with session:
                try:
                    value = await chosen(ctx, **arguments)
                except ApprovalDeniedError as exc:
                    status, reason = "denied", str(exc)
                except (OperatorAgentError, PlaywrightError) as exc:
                    status, reason = "failed", f"{type(exc).__name__}: {exc}"
    finally:
        duration = round(time.monotonic() - started, 3)
        diff = session.diff() if session.heals else ""
        if writer is not None and run_dir is not None:
            writer.write(
                RunEndRecord(
                    run_id=run_id, status=status, reason=reason, output=_dump(value), steps=sink.count,
                    usage=session.usage, duration_s=duration,
                )
            )  # fmt: skip
            writer.close()
            (run_dir / "heals.json").write_text(
                json.dumps([heal.model_dump(mode="json") for heal in session.heals], indent=2) + "\n",
                encoding="utf-8",
            )
            if diff:
                (run_dir / "heals.diff").write_text(diff, encoding="utf-8")
    _log.info(
        "replay finished", skill=chosen.name, status=status, heals=len(session.heals),
        model_calls=session.model_calls,
    )  # fmt: skip
    return ReplayResult(
        skill=chosen.name, status=status, value=_dump(value), reason=reason, steps=list(session.steps),
        heals=list(session.heals), model_calls=session.model_calls, usage=session.usage, trace_dir=run_dir,
        diff=diff, duration_s=duration,
    )  # fmt: skip


def _dump(value: Any) -> Any:
    try:
        return TypeAdapter(Any).dump_python(value, mode="json")
    except Exception:
        return repr(value)
